// Tenants (operators): every tenant, a new one with its first owner key shown once, and the
// tenant this operator's session acts in.
import { api, caller } from "../api.js";
import { esc, onClick, onSubmit, say, showOnce, table, when } from "../ui.js";

async function render(view, params, ctx) {
  const { items } = await api("/v1/tenants");
  const here = caller.current.tenant_id;
  const rows = items.map((t) => `<tr data-tenant="${esc(t.tenant_id)}"><td>${esc(t.name)}</td>
    <td><code>${esc(t.tenant_id)}</code></td><td>${esc(when(t.created_at))}</td>
    <td>${t.tenant_id === here ? '<span class="badge sent">acting here</span>'
      : "<button type=\"button\" data-switch>Act in this tenant</button>"}</td></tr>`);
  view.innerHTML = `<h1>Tenants</h1>
    <form id="tenant-form" class="toolbar" aria-label="Create a tenant">
      <input name="name" required placeholder="name, e.g. acme" aria-label="name" autocomplete="off">
      <button type="submit" class="primary">Create tenant</button></form>
    <div id="new-tenant-key" class="detail" role="status" hidden></div>
    ${table("tenants", "Tenants", ["Name", "Id", "Created", ""], rows,
      "No tenants: create one above (alertflow init makes “default”).")}`;
  onSubmit(document.getElementById("tenant-form"), async (values) => {
    const made = await api("/v1/tenants", { method: "POST", body: values });
    await render(view, params, ctx);
    showOnce(document.getElementById("new-tenant-key"), `Owner key of ${made.name} (${made.tenant_id}):`, made.api_key,
      "Copy it now: it is not shown again. Or act in the tenant and invite its owner from Members.");
  });
  for (const row of view.querySelectorAll("tr[data-tenant]")) {
    onClick(row.querySelector("[data-switch]"), async () => {
      await api("/v1/session/tenant", { method: "POST", body: { tenant_id: row.dataset.tenant } });
      say(`Acting in ${row.cells[0].textContent}.`);
      // The shell asks who is calling again and redraws the header, the navigation and this page.
      window.dispatchEvent(new Event("alertflow:caller"));
    });
  }
}

export default { path: "tenants", title: "Tenants", role: "operator", render };
