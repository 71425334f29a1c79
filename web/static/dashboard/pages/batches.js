import { api, path } from "../api.js";
import { badge, esc, onClick, say, table, when } from "../ui.js";

// A batch's statuses as GET /v1/batches shows them (alertflow/api/batches.py SHOWN_STATUSES).
const BATCH_STATUSES = ["fanning_out", "sending", "completed", "cancelling", "cancelled", "failed"];
// Batches that still move: while one is shown the page refreshes itself.
const RUNNING = ["fanning_out", "sending", "cancelling"];
// Batches a cancel still stops (a cancelling one is already stopping).
const CANCELLABLE = ["fanning_out", "sending"];
// Delivery statuses not yet settled (alertflow/delivery/tracking.py UNSENT).
const UNSENT = ["scheduled", "queued", "sending"];
// Often enough to watch a batch finish, rarely enough to cost the server nothing (counts of
// big batches are cached for a second anyway).
const REFRESH_MS = 2000;

const sum = (numbers) => numbers.reduce((a, n) => a + n, 0);

// Progress as settled deliveries out of the recipients, or out of the deliveries once there
// are more of them (a recipient gets one per channel).
function progress(b) {
  const total = sum(Object.values(b.counts));
  const done = total - sum(UNSENT.map((s) => b.counts[s] || 0));
  const max = Math.max(b.recipients, total, 1);
  return `<progress max="${max}" value="${done}" aria-label="${esc(`${b.batch_id}: ${done} of ${max} done`)}"></progress>
    <span class="muted">${done} / ${max}</span>`;
}

const cancelButton = (b) => (CANCELLABLE.includes(b.status)
  ? `<button data-cancel="${esc(b.batch_id)}">Cancel</button>` : "");

function listHtml(page, params, query) {
  const rows = page.items.map((b) => `<tr data-batch="${esc(b.batch_id)}">
    <td><a href="#/batches?id=${encodeURIComponent(b.batch_id)}"><code>${esc(b.batch_id)}</code></a></td>
    <td>${badge(b.status)}</td><td class="progress">${progress(b)}</td><td>${b.recipients}</td>
    <td>${esc(b.topic ? `topic ${b.topic}` : "list")}</td><td>${esc(when(b.created_at))}</td>
    <td>${cancelButton(b)}</td></tr>`);
  const empty = params.status ? `No ${esc(params.status)} batches. <a href="#/batches">Show all</a>.`
    : "No batches yet: a bulk send (POST /v1/notifications/bulk) or a schedule's firing makes one.";
  const next = new URLSearchParams(query);
  next.set("cursor", page.next_cursor);
  const older = page.next_cursor ? `<p><a href="#/batches?${next}">Older →</a></p>` : "";
  return table("batches", "Batches", ["Batch", "Status", "Progress", "Recipients", "To", "Created", ""], rows, empty)
    + older;
}

function detailHtml(b) {
  const counts = Object.entries(b.counts).map(([status, n]) => `<tr><td>${badge(status)}</td><td>${n}</td></tr>`);
  return `<div class="detail"><h2><code>${esc(b.batch_id)}</code> ${badge(b.status)}</h2>
    <p>${progress(b)}</p>
    <p class="muted">${b.recipients} recipients${b.topic ? ` of topic ${esc(b.topic)}` : ""} · created
      ${esc(when(b.created_at))}${b.error ? ` · <span class="badge failed">${esc(b.error)}</span>` : ""}</p>
    ${table("batch-counts", "Deliveries by status", ["Delivery status", "Deliveries"], counts,
      "No deliveries yet: the fan-out makes them.")}
    <p>${cancelButton(b)}</p></div>`;
}

async function render(view, params, ctx) {
  const query = new URLSearchParams(Object.entries(params).filter(([k, v]) => v && k !== "id"));
  view.innerHTML = `<h1>Batches</h1>
    <form class="filters" id="batch-filter"><select name="status" aria-label="status">
      <option value="">any status</option>${BATCH_STATUSES.map((s) => `<option ${params.status === s
        ? "selected" : ""}>${s}</option>`).join("")}</select><button class="primary">Filter</button></form>
    <div id="batch-list"></div><div id="batch-detail"></div>`;
  document.getElementById("batch-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const status = event.target.elements.status.value;
    ctx.go(status ? `#/batches?status=${encodeURIComponent(status)}` : "#/batches");
  });
  let moving = true;
  const draw = async () => {
    const [page, one] = await Promise.all([api(`/v1/batches?${query}`),
      params.id ? api(path("/v1/batches/{}", params.id)) : null]);
    document.getElementById("batch-list").innerHTML = listHtml(page, params, query);
    if (one) document.getElementById("batch-detail").innerHTML = detailHtml(one);
    moving = [...page.items, ...(one ? [one] : [])].some((b) => RUNNING.includes(b.status));
    for (const button of view.querySelectorAll("[data-cancel]")) {
      onClick(button, async () => {
        if (!confirm(`Cancel batch ${button.dataset.cancel}? Deliveries not yet being sent are cancelled.`)) return;
        await api(path("/v1/batches/{}/cancel", button.dataset.cancel), { method: "POST" });
        say("Cancelled.");
        await draw();
      });
    }
  };
  await draw();
  ctx.every(REFRESH_MS, async () => {
    if (moving) await draw();
  });
}

export default { path: "batches", title: "Batches", role: "member", render };
