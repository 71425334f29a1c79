import { api } from "../api.js";
import { drawChart } from "../chart.js";
import { badge, esc, scroller } from "../ui.js";

const USAGE_COLUMNS = ["sent", "delivered", "failed", "dead", "suppressed"];

async function render(view, params, ctx) {
  // 24 whole hours up to the next full one, so each bar is an hour of the clock and labelled so.
  const until = new Date();
  until.setMinutes(60, 0, 0);
  const since = new Date(until - 24 * 3600 * 1000);
  const range = new URLSearchParams({ interval: "hour", since: since.toISOString(), until: until.toISOString() });
  const [hourly, usage] = await Promise.all([api(`/v1/analytics/deliveries?${range}`), api("/v1/usage")]);
  const totals = {};
  for (const b of hourly.buckets) for (const [s, n] of Object.entries(b.counts)) totals[s] = (totals[s] || 0) + n;
  const cards = ["sent", "delivered", "queued", "failed", "dead", "suppressed"].map((s) =>
    `<div class="card"><div class="n">${totals[s] || 0}</div><div class="label">${badge(s)} last 24 h</div></div>`);
  const monthly = Object.entries(usage.deliveries).map(([c, counts]) => `<tr><td>${esc(c)}</td><td>${counts.total}</td>
    ${USAGE_COLUMNS.map((s) => `<td>${counts[s] || 0}</td>`).join("")}</tr>`);
  view.innerHTML = `<h1>Overview</h1><div class="cards">${cards.join("")}</div>
    <figure class="chart"><figcaption>Deliveries per hour, last 24 hours, by status</figcaption>
      <div id="chart"></div></figure>
    <h2>Usage in ${esc(usage.month)}: ${usage.notifications} notifications</h2>
    ${scroller("Usage by channel", `<table id="usage"><tr><th>Channel</th><th>Deliveries</th>
      ${USAGE_COLUMNS.map((s) => `<th>${s[0].toUpperCase()}${s.slice(1)}</th>`).join("")}</tr>
    ${monthly.join("") || `<tr><td colspan="${USAGE_COLUMNS.length + 2}" class="muted">Nothing yet this month.</td></tr>`}
    </table>`)}`;
  drawChart(document.getElementById("chart"), hourly.buckets, ctx);
}

export default { path: "overview", title: "Overview", role: "member", render };
