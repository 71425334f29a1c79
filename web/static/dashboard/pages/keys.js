// API keys (admins and up): the tenant's keys with their last use, a new key shown once, and
// revoking, which the server applies at once.
import { ROLES, allowed, api, path, storedKey } from "../api.js";
import { esc, onClick, onSubmit, say, showOnce, table, when } from "../ui.js";

// A key is its prefix, an underscore and its secret (tenants.issue_key).
const inUse = (prefix) => Boolean(storedKey()?.startsWith(`${prefix}_`));

async function render(view, params, ctx) {
  const { items } = await api("/v1/keys");
  // The contract's rules: a caller gives and revokes keys of its own role and below.
  const roles = ROLES.filter((role) => allowed(role));
  const rows = items.map((k) => `<tr data-prefix="${esc(k.prefix)}"><td><code>${esc(k.prefix)}</code>
    ${inUse(k.prefix) ? '<span class="badge queued">this browser</span>' : ""}</td><td>${esc(k.name || "")}</td>
    <td>${esc(k.role)}</td><td>${esc(when(k.created_at))}</td><td>${esc(when(k.last_used_at))}</td>
    <td>${roles.includes(k.role) ? "<button type=\"button\" data-revoke>Revoke</button>" : ""}</td></tr>`);
  view.innerHTML = `<h1>API keys</h1>
    <form id="key-create" class="toolbar" aria-label="Create a key">
      <input name="name" placeholder="name: what will use it" aria-label="name" maxlength="100">
      <select name="role" aria-label="role">${roles.map((r) => `<option ${r === "member" ? "selected" : ""}>${r}</option>`)
        .join("")}</select>
      <button type="submit" class="primary">Create key</button></form>
    <div id="new-key" class="detail" role="status" hidden></div>
    ${table("keys", "API keys", ["Prefix", "Name", "Role", "Created", "Last used", ""], rows,
      "No keys: create one above for each application that calls the API.")}`;
  onSubmit(document.getElementById("key-create"), async (values) => {
    const made = await api("/v1/keys", { method: "POST", body: values });
    await render(view, params, ctx);
    showOnce(document.getElementById("new-key"), `New ${made.role} key ${made.name ? `“${made.name}”` : made.prefix}:`,
      made.api_key, "Copy it now: it is not shown again. Only its prefix is kept in the list.");
  });
  for (const row of view.querySelectorAll("tr[data-prefix]")) {
    onClick(row.querySelector("[data-revoke]"), () => revoke(row.dataset.prefix, ctx));
  }
}

async function revoke(prefix, ctx) {
  const own = inUse(prefix);
  const warning = own ? " This browser uses it: you will be signed out of it." : " Whatever uses it is refused from now on.";
  if (!confirm(`Revoke ${prefix}?${warning}`)) return;
  await api(path("/v1/keys/{}", prefix), { method: "DELETE" });
  say(`${prefix} is revoked.`);
  // The shell finds the key refused, forgets it and asks who is calling now.
  if (own) window.dispatchEvent(new Event("alertflow:caller"));
  else ctx.go("#/keys");
}

export default { path: "keys", title: "API keys", role: "admin", render };
