import { api } from "../api.js";
import { drawChart } from "../chart.js";
import { CHANNELS, PRIORITIES, badge, esc, scroller } from "../ui.js";

const USAGE_COLUMNS = ["sent", "delivered", "failed", "dead", "suppressed"];
// How often the queue panel asks again: a backlog or an opening circuit shows within seconds.
const QUEUE_REFRESH_MS = 5000;

function queuePanel(queue) {
  const rows = CHANNELS.map((c) => `<tr data-channel="${c}"><th scope="row">${c}</th>
    ${PRIORITIES.map((p) => `<td>${queue.depth[c]?.[p] || 0}</td>`).join("")}</tr>`);
  const circuits = queue.circuits.map((c) => `<tr data-circuit="${esc(c.channel)}/${esc(c.provider)}">
    <td>${esc(c.channel)}</td><td>${esc(c.provider)}</td><td><span class="badge circuit-${esc(c.state)}">${esc(c.state)}</span>
    </td></tr>`);
  return `<div class="queue-cards"><a class="card" id="dlq-count" href="#/dlq"><div class="n">${queue.dead}</div>
      <div class="label">in the dead-letter queue</div></a></div>
    ${scroller("Queue depth", `<table id="queue-depth"><caption>Waiting to be sent (scheduled, queued or sending), by
      priority</caption><tr><th scope="col">Channel</th>${PRIORITIES.map((p) => `<th scope="col">${p}</th>`).join("")}</tr>
      ${rows.join("")}</table>`)}
    <h2>Provider circuits <span class="muted">as this server sees them</span></h2>
    ${scroller("Provider circuits", `<table id="circuits"><tr><th scope="col">Channel</th><th scope="col">Provider</th>
      <th scope="col">Circuit</th></tr>${circuits.join("") || '<tr><td colspan="3" class="muted">No provider is set up:'
      + " the Channels page sets them.</td></tr>"}</table>`)}`;
}

async function render(view, params, ctx) {
  // 24 whole hours up to the next full one, so each bar is an hour of the clock and labelled so.
  const until = new Date();
  until.setMinutes(60, 0, 0);
  const since = new Date(until - 24 * 3600 * 1000);
  const range = new URLSearchParams({ interval: "hour", since: since.toISOString(), until: until.toISOString() });
  const [hourly, usage, queue] = await Promise.all([api(`/v1/analytics/deliveries?${range}`), api("/v1/usage"),
    api("/v1/queue")]);
  const totals = {};
  for (const b of hourly.buckets) for (const [s, n] of Object.entries(b.counts)) totals[s] = (totals[s] || 0) + n;
  const cards = ["sent", "delivered", "queued", "failed", "dead", "suppressed"].map((s) =>
    `<div class="card"><div class="n">${totals[s] || 0}</div><div class="label">${badge(s)} last 24 h</div></div>`);
  const monthly = Object.entries(usage.deliveries).map(([c, counts]) => `<tr><td>${esc(c)}</td><td>${counts.total}</td>
    ${USAGE_COLUMNS.map((s) => `<td>${counts[s] || 0}</td>`).join("")}</tr>`);
  view.innerHTML = `<h1>Overview</h1><div class="cards">${cards.join("")}</div>
    <figure class="chart"><figcaption>Deliveries per hour, last 24 hours, by status</figcaption>
      <div id="chart"></div></figure>
    <h2>Queue now</h2><div id="queue">${queuePanel(queue)}</div>
    <h2>Usage in ${esc(usage.month)}: ${usage.notifications} notifications</h2>
    ${scroller("Usage by channel", `<table id="usage"><tr><th>Channel</th><th>Deliveries</th>
      ${USAGE_COLUMNS.map((s) => `<th>${s[0].toUpperCase()}${s.slice(1)}</th>`).join("")}</tr>
    ${monthly.join("") || `<tr><td colspan="${USAGE_COLUMNS.length + 2}" class="muted">Nothing yet this month.</td></tr>`}
    </table>`)}`;
  drawChart(document.getElementById("chart"), hourly.buckets, ctx);
  ctx.every(QUEUE_REFRESH_MS, async () => {
    const now = await api("/v1/queue");
    document.getElementById("queue").innerHTML = queuePanel(now);
  });
}

export default { path: "overview", title: "Overview", role: "member", render };
