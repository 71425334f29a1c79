import { api, path } from "../api.js";
import { CHANNELS, STATUSES, badge, esc, fields, onClick, say, scroller, when } from "../ui.js";

const who = (r) => r.user_id || r.email || r.phone || (r.erased ? "(erased)" : "—");

async function render(view, params, ctx) {
  const query = new URLSearchParams({ limit: "50", ...Object.fromEntries(
    Object.entries(params).filter(([k, v]) => v && k !== "id")) });
  const page = await api(`/v1/notifications?${query}`);
  const select = (name, values) => `<select name="${name}" aria-label="${name}"><option value="">any ${name}</option>
    ${values.map((v) => `<option ${params[name] === v ? "selected" : ""}>${v}</option>`).join("")}</select>`;
  const rows = page.items.map((n) => `<tr class="clickable" data-id="${esc(n.id)}" tabindex="0">
    <td>${esc(when(n.created_at))}</td><td><code>${esc(n.id)}</code></td><td>${esc(who(n.recipient))}</td>
    <td>${esc(n.category)}</td><td>${esc(n.priority)}</td>
    <td>${n.deliveries.map((d) => `${esc(d.channel)} ${badge(d.status)}`).join(" ")}</td></tr>`);
  view.innerHTML = `<h1>History</h1>
    <form class="filters" id="filters">${select("status", STATUSES)}${select("channel", CHANNELS)}
      <input name="category" placeholder="category" aria-label="category" value="${esc(params.category || "")}">
      <input name="user_id" placeholder="user id" aria-label="user id" value="${esc(params.user_id || "")}">
      <button class="primary">Filter</button></form>
    ${rows.length ? scroller("Notifications", `<table id="notifications"><tr><th>Created</th><th>Id</th><th>Recipient</th>
      <th>Category</th><th>Priority</th><th>Deliveries</th></tr>${rows.join("")}</table>`)
      : '<div class="empty">No notifications match. Send one from the Send page or POST /v1/notifications/publish.</div>'}
    ${page.next_cursor ? `<p><a href="#/notifications?${new URLSearchParams({ ...params,
      cursor: page.next_cursor })}">Older →</a></p>` : ""}<div id="detail"></div>`;
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.go(`#/notifications?${new URLSearchParams(fields(event.target))}`);
  });
  for (const row of view.querySelectorAll("tr[data-id]")) {
    const open = () => detail(row.dataset.id);
    row.addEventListener("click", open);
    row.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  }
  if (params.id) await detail(params.id);
}

async function detail(id) {
  const n = await api(path("/v1/notifications/{}", id));
  const pending = n.deliveries.some((d) => d.status === "queued" || d.status === "scheduled");
  const deliveries = n.deliveries.map((d) => `<h2>${esc(d.channel)} ${badge(d.status)}
      <span class="muted">${esc(d.provider || "")} ${esc(d.reason || "")}</span></h2>
    ${scroller(`${d.channel} attempts`, `<table class="attempts"><tr><th>At</th><th>Outcome</th><th>Provider</th>
      <th>Error</th></tr>
    ${d.attempts.map((a) => `<tr><td>${esc(when(a.at))}</td><td>${esc(a.outcome)}</td><td>${esc(a.provider || "")}</td>
      <td>${esc(a.error || "")}</td></tr>`).join("") || '<tr><td colspan="4" class="muted">No attempts yet.</td></tr>'}
    </table>`)}`);
  const target = document.getElementById("detail");
  target.innerHTML = `<div class="detail"><h1>${esc(n.id)} ${badge(n.status)}</h1>
    <p class="muted">to ${esc(JSON.stringify(n.recipient))} · ${esc(n.category)} · ${esc(n.priority)}
      ${n.template ? `· template ${esc(n.template)} v${n.template_version}` : ""} · send at ${esc(when(n.send_at))}</p>
    ${pending ? '<button id="cancel">Cancel what has not been sent</button>' : ""}${deliveries.join("")}</div>`;
  target.scrollIntoView({ block: "start" });
  onClick(document.getElementById("cancel"), async () => {
    await api(path("/v1/notifications/{}/cancel", id), { method: "POST" });
    say("Cancelled.");
    await detail(id);
  });
}

export default { path: "notifications", title: "History", role: "member", render };
