import { api, path } from "../api.js";
import { message } from "../preview.js";
import { CHANNELS, STATUSES, badge, esc, onClick, onOpen, onSubmit, say, scroller, when } from "../ui.js";

const who = (r) => r.user_id || r.email || r.phone || (r.erased ? "(erased)" : "—");
// The list's filters as GET /v1/notifications names them; `id` opens a detail instead.
const FILTERS = ["status", "channel", "category", "user_id", "q", "since", "until", "cursor"];
const TIMES = ["since", "until"];

// An RFC 3339 time as a datetime-local input shows it: the visitor's wall clock, to the minute.
function local(iso) {
  const at = new Date(iso);
  if (!iso || Number.isNaN(at.getTime())) return "";
  return new Date(at - at.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

// A submitted form as the API's filters: wall-clock times become UTC instants.
function filtersOf(values) {
  const out = {};
  for (const [k, v] of Object.entries(values)) out[k] = TIMES.includes(k) ? new Date(v).toISOString() : v;
  return out;
}

function form(params) {
  const select = (name, values) => `<select name="${name}" aria-label="${name}"><option value="">any ${name}</option>
    ${values.map((v) => `<option ${params[name] === v ? "selected" : ""}>${v}</option>`).join("")}</select>`;
  const text = (name, label) => `<input name="${name}" placeholder="${label}" aria-label="${label}"
    value="${esc(params[name] || "")}">`;
  const time = (name, label) => `<label>${label}<input type="datetime-local" name="${name}"
    value="${esc(local(params[name]))}"></label>`;
  return `<form class="filters" id="filters" role="search">${text("q", "recipient: user id, email or phone")}
    ${select("status", STATUSES)}${select("channel", CHANNELS)}${text("category", "category")}
    ${text("user_id", "user id")}${time("since", "from")}${time("until", "until")}
    <button class="primary">Filter</button></form>`;
}

async function list(filters) {
  const query = new URLSearchParams({ limit: "50", ...filters });
  const page = await api(`/v1/notifications?${query}`);
  const rows = page.items.map((n) => `<tr class="clickable" data-id="${esc(n.id)}" tabindex="0">
    <td>${esc(when(n.created_at))}</td><td><code>${esc(n.id)}</code></td><td>${esc(who(n.recipient))}</td>
    <td>${esc(n.category)}</td><td>${esc(n.priority)}</td>
    <td>${n.deliveries.map((d) => `${esc(d.channel)} ${badge(d.status)}`).join(" ")}</td></tr>`);
  const box = document.getElementById("list");
  box.innerHTML = `${rows.length ? scroller("Notifications", `<table id="notifications"><tr><th>Created</th><th>Id</th>
      <th>Recipient</th><th>Category</th><th>Priority</th><th>Deliveries</th></tr>${rows.join("")}</table>`)
    : '<div class="empty">No notifications match. Widen the dates or clear the search, or send one from the Send page'
      + " (POST /v1/notifications/publish).</div>"}
    ${page.next_cursor ? `<p><a href="#/notifications?${new URLSearchParams({ ...filters,
      cursor: page.next_cursor })}">Older →</a></p>` : ""}`;
  for (const row of box.querySelectorAll("tr[data-id]")) {
    const open = () => detail(row.dataset.id);
    onOpen(row, open);
  }
}

async function render(view, params) {
  const filters = Object.fromEntries(Object.entries(params).filter(([k, v]) => v && FILTERS.includes(k)));
  view.innerHTML = `<h1>History</h1>${form(params)}<div id="list"></div><div id="detail"></div>`;
  const filtersForm = document.getElementById("filters");
  // A new search is drawn in place and kept in the address (Back returns to the last one).
  onSubmit(filtersForm, async (values) => {
    const chosen = filtersOf(values);
    await list(chosen);
    history.pushState(null, "", `#/notifications?${new URLSearchParams(chosen)}`);
  });
  try {
    await list(filters);
  } catch (error) {
    // A link with a bad filter: say so where the filters can be mended.
    if (!error.errors) throw error;
    filtersForm.insertAdjacentHTML("beforeend", `<p class="form-error" role="alert">${esc(error.message)}</p>`);
    for (const { field } of error.errors) filtersForm.querySelector(`[name="${CSS.escape(field)}"]`)
      ?.setAttribute("aria-invalid", "true");
  }
  if (params.id) await detail(params.id);
}

// Every event of a delivery in order: tries, the dead letter, replays and receipts.
const timeline = (d) => scroller(`${d.channel} timeline`, `<table class="attempts"><caption>Timeline</caption>
  <tr><th>At</th><th>Outcome</th><th>Provider</th><th>Error</th></tr>
  ${d.attempts.map((a) => `<tr class="o-${esc(a.outcome.split(":")[0])}"><td>${esc(when(a.at))}</td>
    <td>${esc(a.outcome)}</td><td>${esc(a.provider || "")}</td><td>${esc(a.error || "")}</td></tr>`).join("")
    || '<tr><td colspan="4" class="muted">No attempts yet.</td></tr>'}</table>`);

function sent(d, recipient) {
  if (d.rendered) {
    return `<details class="rendered" open><summary>What was sent</summary>
      ${message(d.channel, d.rendered, recipient, d.rendered.info)}</details>`;
  }
  if (!d.provider) return "";
  return `<p class="muted">AlertFlow keeps a copy of what the built-in outbox captures and of in-app items only: what
    ${esc(d.provider)} was handed is not stored.</p>`;
}

async function detail(id) {
  const n = await api(path("/v1/notifications/{}", id));
  const pending = n.deliveries.some((d) => d.status === "queued" || d.status === "scheduled");
  const deliveries = n.deliveries.map((d) => `<section class="delivery" data-delivery="${esc(d.id)}">
    <h2>${esc(d.channel)} ${badge(d.status)} <span class="muted">${esc(d.provider || "")} ${esc(d.reason || "")}</span></h2>
    ${timeline(d)}${sent(d, n.recipient)}</section>`);
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
