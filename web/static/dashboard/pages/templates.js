import { api, path } from "../api.js";
import { esc, onClick, onSubmit, parseJson, say, table, when } from "../ui.js";

async function render(view, params, ctx) {
  const list = await api("/v1/templates");
  const rows = list.items.map((t) => `<tr class="clickable" data-key="${esc(t.key)}" tabindex="0"><td><code>${esc(t.key)}</code></td>
    <td>${esc(t.name || "")}</td><td>v${t.active_version} of ${t.latest_version}</td><td>${esc(t.channels.join(", "))}</td>
    <td>${esc(t.variables.join(", "))}</td><td>${esc(when(t.updated_at))}</td></tr>`);
  view.innerHTML = `<h1>Templates</h1>${table("templates", "Templates",
    ["Key", "Name", "Active", "Channels", "Variables", "Updated"], rows,
    "No templates yet: POST /v1/templates creates one.")}<div id="template"></div>`;
  for (const row of view.querySelectorAll("tr[data-key]")) {
    row.addEventListener("click", () => ctx.go(`#/templates?key=${encodeURIComponent(row.dataset.key)}`));
  }
  if (params.key) await template(params.key, ctx);
}

async function template(key, ctx) {
  const [t, versions] = await Promise.all([api(path("/v1/templates/{}", key)),
    api(path("/v1/templates/{}/versions", key))]);
  const sample = Object.fromEntries(t.variables.map((v) => [v, ""]));
  document.getElementById("template").innerHTML = `<div class="detail"><h1>${esc(key)}</h1>
    <p>${versions.items.map((v) => `<button data-version="${v.version}" ${v.version === t.active_version
      ? "disabled" : ""}>${v.version === t.active_version ? "active: " : "activate "}v${v.version}</button>`).join(" ")}</p>
    <div class="grid2"><div><h2>Active version</h2><pre>${esc(JSON.stringify(
      { channels: t.active.channels, locales: t.active.locales }, null, 2))}</pre></div>
    <div><h2>Preview</h2><form id="preview"><textarea name="data" rows="6" class="wide"
      aria-label="data">${esc(JSON.stringify(sample, null, 2))}</textarea>
      <p><input name="locale" placeholder="locale (e.g. de-AT)" aria-label="locale"> <button class="primary">Render</button></p></form>
      <div id="rendered"></div></div></div></div>`;
  for (const button of document.querySelectorAll("button[data-version]")) {
    onClick(button, async () => {
      await api(path("/v1/templates/{}/activate", key), { method: "POST", body: { version: Number(button.dataset.version) } });
      say(`v${button.dataset.version} is active.`);
      ctx.go(`#/templates?key=${encodeURIComponent(key)}`);
    });
  }
  onSubmit(document.getElementById("preview"), async (values) => {
    const out = await api(path("/v1/templates/{}/preview", key), { method: "POST",
      body: { data: parseJson(values.data, "data"), locale: values.locale || null } });
    document.getElementById("rendered").innerHTML = `<pre>${esc(JSON.stringify(out.channels, null, 2))}</pre>`;
  });
}

export default { path: "templates", title: "Templates", role: "member", render };
