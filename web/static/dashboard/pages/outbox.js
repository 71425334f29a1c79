import { api } from "../api.js";
import { message } from "../preview.js";
import { esc, fields, onOpen, table, when } from "../ui.js";

// The channels the built-in outbox provider serves (providers/builtin_outbox.py).
const OUTBOX_CHANNELS = ["email", "sms", "push"];
const PAGE_SIZE = "50";

const to = (m) => m.recipient.email || m.recipient.phone || m.recipient.user_id || "—";
const summary = (m) => m.content.subject || m.content.title || m.content.body || "";

async function render(view, params, ctx) {
  const query = new URLSearchParams({ limit: PAGE_SIZE });
  if (params.channel) query.set("channel", params.channel);
  if (params.cursor) query.set("cursor", params.cursor);
  const page = await api(`/v1/outbox?${query}`);
  const byId = new Map(page.items.map((m) => [String(m.id), m]));
  const rows = page.items.map((m) => `<tr class="clickable" data-message="${esc(m.id)}" tabindex="0">
    <td>${esc(when(m.created_at))}</td><td>${esc(m.channel)}</td><td>${esc(to(m))}</td>
    <td>${esc(summary(m))}</td><td><a href="#/notifications?id=${esc(encodeURIComponent(m.notification_id))}">
    <code>${esc(m.notification_id)}</code></a></td></tr>`);
  view.innerHTML = `<h1>Outbox</h1>
    <p class="muted">What the built-in outbox provider captured instead of sending: the default for email, SMS and
      push until a channel has a real provider.</p>
    <form class="filters" id="outbox-filters"><select name="channel" aria-label="channel">
      <option value="">any channel</option>${OUTBOX_CHANNELS.map((c) => `<option ${params.channel === c
        ? "selected" : ""}>${c}</option>`).join("")}</select><button class="primary">Filter</button></form>
    ${table("outbox", "Captured messages", ["Captured", "Channel", "To", "Subject or text", "Notification"], rows,
      "Nothing captured. Publish to an email, phone or device (the Send page or POST /v1/notifications/publish)"
      + " while a channel uses the outbox, and it shows here.")}
    ${page.next_cursor ? `<p><a href="#/outbox?${new URLSearchParams({ ...params, cursor: page.next_cursor })}">Older
      →</a></p>` : ""}<div id="outbox-detail"></div>`;
  document.getElementById("outbox-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.go(`#/outbox?${new URLSearchParams(fields(event.target))}`);
  });
  for (const row of view.querySelectorAll("tr[data-message]")) {
    const open = () => detail(byId.get(row.dataset.message));
    onOpen(row, open);
  }
  if (params.id) detail(byId.get(params.id) || await one(params.id));
}

// A deep link's message when it is not on this page: ids grow, so the page below id + 1
// starts with it.
async function one(id) {
  if (!/^[0-9]{1,15}$/.test(id)) return null;
  const [found] = (await api(`/v1/outbox?${new URLSearchParams({ limit: "1", cursor: String(Number(id) + 1) })}`)).items;
  return found && String(found.id) === id ? found : null;
}

function detail(m) {
  const target = document.getElementById("outbox-detail");
  if (!m) {
    target.innerHTML = '<div class="detail empty">No such captured message: it may have been purged.</div>';
    return;
  }
  target.innerHTML = `<div class="detail"><h1>${esc(m.channel)} captured ${esc(when(m.created_at))}</h1>
    <p class="muted">Notification <a href="#/notifications?id=${esc(encodeURIComponent(m.notification_id))}">
      <code>${esc(m.notification_id)}</code></a> · delivery <code>${esc(m.delivery_id)}</code></p>
    ${message(m.channel, m.content, m.recipient, m.info, m.preview_url)}</div>`;
  target.scrollIntoView({ block: "start" });
}

export default { path: "outbox", title: "Outbox", role: "member", render };
