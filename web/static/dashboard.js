// AlertFlow dashboard: plain JS over the REST API, with the API key kept in this browser or
// the session of a member signed in at /login.
"use strict";

const KEY = "alertflow.apiKey";
// A pasted key is tried on this (any role may read it) before it is kept.
const KEY_CHECK = "/v1/notifications?limit=1";
const STATUSES = ["scheduled", "queued", "sending", "sent", "delivered", "failed", "suppressed", "dead", "cancelled", "digested"];
const CHANNELS = ["email", "sms", "push", "inapp", "webhook"];
const view = document.getElementById("view");

const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const badge = (status) => `<span class="badge ${esc(status)}">${esc(status)}</span>`;
// Tables scroll sideways in a box of their own, so a narrow screen never scrolls the page.
const scroller = (label, table) => `<div class="scroll" tabindex="0" role="region" aria-label="${esc(label)}">${table}</div>`;

function say(message, error = false) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.classList.toggle("error", error);
  status.classList.add("shown");
  clearTimeout(say.timer);
  say.timer = setTimeout(() => status.classList.remove("shown"), error ? 8000 : 3500);
}

// GET /v1/session's answer while signed in: the cookie authenticates, and every request that
// changes something repeats the session's CSRF token.
let session = null;

async function api(path, options = {}, key = localStorage.getItem(KEY)) {
  if (!key && !session) throw new Error("Enter an API key first.");
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  if (!key && (options.method || "GET") !== "GET") headers["X-CSRF-Token"] = session.csrf_token;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { ...options, headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (resp.status === 204) return null;
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.detail || body.title || `HTTP ${resp.status}`);
  return body;
}

// --- overview -------------------------------------------------------------------------------

async function overview() {
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
  drawChart(hourly.buckets);
}

const USAGE_COLUMNS = ["sent", "delivered", "failed", "dead", "suppressed"];

// The chart is drawn at the width it is shown, so its labels keep their size on any screen.
function drawChart(buckets) {
  const box = document.getElementById("chart");
  if (!box) return;
  drawChart.buckets = buckets;
  box.innerHTML = chart(buckets, Math.max(260, box.clientWidth));
}
window.addEventListener("resize", () => {
  clearTimeout(drawChart.timer);
  drawChart.timer = setTimeout(() => drawChart.buckets && drawChart(drawChart.buckets), 150);
});

// A round step (1, 2 or 5 times a power of ten) that cuts 0..peak into about four parts.
function niceStep(peak) {
  const rough = Math.max(1, peak / 4), power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough);
}

function chart(buckets, width) {
  const height = 220, left = 44, right = 8, top = 10, bottom = 28;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  const step = niceStep(Math.max(1, ...buckets.map((b) => b.total)));
  const scaleTop = step * Math.max(1, Math.ceil(Math.max(...buckets.map((b) => b.total)) / step));
  const y = (n) => top + plotHeight - (n / scaleTop) * plotHeight;
  const slot = plotWidth / buckets.length, gap = slot > 6 ? 2 : 0;
  const yTicks = [];
  for (let n = 0; n <= scaleTop; n += step) {
    yTicks.push(`<line class="grid" x1="${left}" x2="${width - right}" y1="${y(n)}" y2="${y(n)}"></line>
      <text class="tick y" x="${left - 6}" y="${y(n) + 4}">${n}</text>`);
  }
  const every = Math.ceil(56 / slot);  // a time label needs about 56 px
  const xTicks = buckets.map((b, i) => i % every ? "" : `<text class="tick x" x="${left + i * slot}" y="${height - 8}">
      ${esc(new Date(b.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }))}</text>
      <line class="axis" x1="${left + i * slot}" x2="${left + i * slot}" y1="${top + plotHeight}"
        y2="${top + plotHeight + 4}"></line>`).join("");
  const bars = buckets.map((b, i) => {
    let base = 0;
    return STATUSES.filter((s) => b.counts[s]).map((s) => {
      const from = y(base), to = y(base += b.counts[s]);
      return `<rect class="s-${s}" x="${left + i * slot + gap / 2}" y="${to}" width="${Math.max(1, slot - gap)}"
        height="${from - to}"><title>${esc(when(b.start))}: ${b.counts[s]} ${s}</title></rect>`;
    }).join("");
  }).join("");
  const legend = STATUSES.map((s) => `<span><i class="swatch s-${s}"></i>${s}</span>`).join("");
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img"
      aria-label="Deliveries per hour, from 0 to ${scaleTop}">${yTicks.join("")}${xTicks}${bars}
      <line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${top + plotHeight}"></line>
      <line class="axis" x1="${left}" x2="${width - right}" y1="${top + plotHeight}" y2="${top + plotHeight}"></line>
    </svg><div class="legend">${legend}</div>`;
}

// --- history --------------------------------------------------------------------------------

async function history(params) {
  const query = new URLSearchParams({ limit: "50", ...Object.fromEntries(
    Object.entries(params).filter(([, v]) => v)) });
  const page = await api(`/v1/notifications?${query}`);
  const select = (name, values) => `<select name="${name}" aria-label="${name}"><option value="">any ${name}</option>
    ${values.map((v) => `<option ${params[name] === v ? "selected" : ""}>${v}</option>`).join("")}</select>`;
  const rows = page.items.map((n) => `<tr class="clickable" data-id="${esc(n.id)}">
    <td>${esc(when(n.created_at))}</td><td><code>${esc(n.id)}</code></td><td>${esc(who(n.recipient))}</td>
    <td>${esc(n.category)}</td><td>${esc(n.priority)}</td>
    <td>${n.deliveries.map((d) => `${esc(d.channel)} ${badge(d.status)}`).join(" ")}</td></tr>`);
  view.innerHTML = `<h1>History</h1>
    <form class="filters" id="filters">${select("status", STATUSES)}${select("channel", CHANNELS)}
      <input name="category" placeholder="category" value="${esc(params.category || "")}">
      <input name="user_id" placeholder="user id" value="${esc(params.user_id || "")}">
      <button class="primary">Filter</button></form>
    ${rows.length ? scroller("Notifications", `<table id="notifications"><tr><th>Created</th><th>Id</th><th>Recipient</th>
      <th>Category</th><th>Priority</th><th>Deliveries</th></tr>${rows.join("")}</table>`)
      : '<div class="empty">No notifications.</div>'}
    ${page.next_cursor ? `<p><a href="#/notifications?${new URLSearchParams({ ...params,
      cursor: page.next_cursor })}">Older →</a></p>` : ""}<div id="detail"></div>`;
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries([...new FormData(event.target)].filter(([, v]) => v));
    location.hash = `#/notifications?${new URLSearchParams(values)}`;
  });
  for (const row of view.querySelectorAll("tr[data-id]")) row.addEventListener("click", () => detail(row.dataset.id));
}

const who = (r) => r.user_id || r.email || r.phone || (r.erased ? "(erased)" : "—");

async function detail(id) {
  const n = await api(`/v1/notifications/${encodeURIComponent(id)}`);
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
  target.scrollIntoView({ behavior: "smooth", block: "start" });
  document.getElementById("cancel")?.addEventListener("click", async () => {
    await api(`/v1/notifications/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    say("Cancelled.");
    detail(id);
  });
}

// --- templates ------------------------------------------------------------------------------

async function templates(params) {
  const list = await api("/v1/templates");
  const rows = list.items.map((t) => `<tr class="clickable" data-key="${esc(t.key)}"><td><code>${esc(t.key)}</code></td>
    <td>${esc(t.name || "")}</td><td>v${t.active_version} of ${t.latest_version}</td><td>${esc(t.channels.join(", "))}</td>
    <td>${esc(t.variables.join(", "))}</td><td>${esc(when(t.updated_at))}</td></tr>`);
  view.innerHTML = `<h1>Templates</h1>${rows.length ? scroller("Templates", `<table><tr><th>Key</th><th>Name</th>
    <th>Active</th><th>Channels</th><th>Variables</th><th>Updated</th></tr>${rows.join("")}</table>`)
    : '<div class="empty">No templates yet: POST /v1/templates creates one.</div>'}<div id="template"></div>`;
  for (const row of view.querySelectorAll("tr[data-key]")) row.addEventListener("click", () => template(row.dataset.key));
  if (params.key) template(params.key);
}

async function template(key) {
  const [t, versions] = await Promise.all([api(`/v1/templates/${encodeURIComponent(key)}`),
    api(`/v1/templates/${encodeURIComponent(key)}/versions`)]);
  const sample = Object.fromEntries(t.variables.map((v) => [v, ""]));
  document.getElementById("template").innerHTML = `<div class="detail"><h1>${esc(key)}</h1>
    <p>${versions.items.map((v) => `<button data-version="${v.version}" ${v.version === t.active_version
      ? "disabled" : ""}>${v.version === t.active_version ? "active: " : "activate "}v${v.version}</button>`).join(" ")}</p>
    <div class="grid2"><div><h2>Active version</h2><pre>${esc(JSON.stringify(
      { channels: t.active.channels, locales: t.active.locales }, null, 2))}</pre></div>
    <div><h2>Preview</h2><form id="preview"><textarea name="data" rows="6" class="wide"
      aria-label="data">${esc(JSON.stringify(sample, null, 2))}</textarea>
      <p><input name="locale" placeholder="locale (e.g. de-AT)"> <button class="primary">Render</button></p></form>
      <div id="rendered"></div></div></div></div>`;
  for (const button of document.querySelectorAll("button[data-version]")) {
    button.addEventListener("click", async () => {
      await api(`/v1/templates/${encodeURIComponent(key)}/activate`,
        { method: "POST", body: { version: Number(button.dataset.version) } });
      say(`v${button.dataset.version} is active.`);
      templates({ key });
    });
  }
  document.getElementById("preview").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const out = await api(`/v1/templates/${encodeURIComponent(key)}/preview`, { method: "POST",
        body: { data: JSON.parse(form.get("data") || "{}"), locale: form.get("locale") || null } });
      document.getElementById("rendered").innerHTML = `<pre>${esc(JSON.stringify(out.channels, null, 2))}</pre>`;
    } catch (error) {
      document.getElementById("rendered").innerHTML = `<p class="badge failed">${esc(error.message)}</p>`;
    }
  });
}

// --- dead letters ---------------------------------------------------------------------------

async function dlq() {
  const page = await api("/v1/dlq?limit=200");
  const rows = page.items.map((d) => `<tr data-delivery="${esc(d.delivery_id)}"><td>${esc(when(d.dead_at))}</td>
    <td><code>${esc(d.notification_id)}</code></td>
    <td>${esc(d.channel)}</td><td>${d.attempts}</td><td>${esc(d.last_error || "")}</td>
    <td><button data-replay>Replay</button> <button data-delete>Delete</button></td></tr>`);
  view.innerHTML = `<h1>Dead letters</h1>${rows.length ? `<p><button class="primary" id="replay-all">Replay all
    ${rows.length}</button></p>${scroller("Dead letters", `<table id="dead"><tr><th>Dead at</th><th>Notification</th>
    <th>Channel</th><th>Attempts</th><th>Last error</th><th></th></tr>${rows.join("")}</table>`)}`
    : '<div class="empty">Nothing in the dead-letter queue.</div>'}`;
  document.getElementById("replay-all")?.addEventListener("click", async () => {
    const out = await api("/v1/dlq/replay", { method: "POST", body: { all: true } });
    say(`Replaying ${out.replayed.length}.`);
    dlq();
  });
  for (const row of view.querySelectorAll("tr[data-delivery]")) {
    const id = encodeURIComponent(row.dataset.delivery);
    row.querySelector("[data-replay]").addEventListener("click", async () => {
      await api(`/v1/dlq/${id}/replay`, { method: "POST" });
      say("Replaying.");
      dlq();
    });
    row.querySelector("[data-delete]").addEventListener("click", async () => {
      await api(`/v1/dlq/${id}`, { method: "DELETE" });
      say("Deleted.");
      dlq();
    });
  }
}

// --- schedules and their batches -------------------------------------------------------------

async function schedules() {
  const list = await api("/v1/schedules");
  const rows = list.items.map((x) => `<tr data-schedule="${esc(x.id)}"><td>${esc(x.name || x.id)}</td>
    <td><code>${esc(x.cron)}</code> ${esc(x.timezone)}</td><td>${esc(x.template || "content")}
    → ${esc(x.topic ? `topic ${x.topic}` : `${x.recipients} recipients`)}</td>
    <td>${x.paused ? '<span class="badge cancelled">paused</span>' : esc(when(x.next_fire_at))}</td>
    <td>${x.last_batch_id ? `<a href="#/schedules" data-batch="${esc(x.last_batch_id)}">${esc(when(x.last_fire_at))}</a>`
      : "—"}${x.last_error ? ` <span class="badge failed">${esc(x.last_error)}</span>` : ""}</td>
    <td><button data-toggle>${x.paused ? "Resume" : "Pause"}</button> <button data-delete>Delete</button></td></tr>`);
  view.innerHTML = `<h1>Schedules</h1>${rows.length ? scroller("Schedules", `<table id="schedules"><tr><th>Name</th>
    <th>When</th><th>What</th><th>Next</th><th>Last batch</th><th></th></tr>${rows.join("")}</table>`)
    : '<div class="empty">No schedules: POST /v1/schedules creates one.</div>'}<div id="batch"></div>`;
  for (const row of view.querySelectorAll("tr[data-schedule]")) {
    const id = encodeURIComponent(row.dataset.schedule);
    const paused = row.querySelector("[data-toggle]").textContent === "Resume";
    row.querySelector("[data-toggle]").addEventListener("click", async () => {
      await api(`/v1/schedules/${id}/${paused ? "resume" : "pause"}`, { method: "POST" });
      say(paused ? "Resumed." : "Paused.");
      schedules();
    });
    row.querySelector("[data-delete]").addEventListener("click", async () => {
      await api(`/v1/schedules/${id}`, { method: "DELETE" });
      say("Deleted.");
      schedules();
    });
  }
  for (const link of view.querySelectorAll("a[data-batch]")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const b = await api(`/v1/batches/${encodeURIComponent(link.dataset.batch)}`);
      document.getElementById("batch").innerHTML = `<div class="detail"><h1>${esc(b.batch_id)} ${badge(b.status)}</h1>
        <p>${b.recipients} recipients: ${Object.entries(b.counts).map(([s, n]) => `${badge(s)} ${n}`).join(" ")}</p></div>`;
    });
  }
}

// --- routing --------------------------------------------------------------------------------

const VIEWS = { overview, notifications: history, templates, schedules, dlq };

async function route() {
  const [name, query] = (location.hash.replace(/^#\//, "") || "overview").split("?");
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#/${name}`);
  }
  if (!localStorage.getItem(KEY) && !session) {
    view.innerHTML = '<div class="empty">Enter an API key above (alertflow init prints one) to see your tenant,'
      + ' or <a href="/login">sign in</a>.</div>';
    return;
  }
  try {
    await (VIEWS[name] || overview)(Object.fromEntries(new URLSearchParams(query || "")));
  } catch (error) {
    view.innerHTML = `<div class="empty">${esc(error.message)}</div>`;
  }
}

// A key is kept only once the server has taken it: a refused one is neither stored nor announced as saved.
document.getElementById("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("api-key");
  const key = input.value.trim();
  if (!key) {
    say("Paste an API key first.", true);
    return;
  }
  try {
    await api(KEY_CHECK, {}, key);
  } catch (error) {
    say(`Key not saved: ${error.message}`, true);
    input.select();
    return;
  }
  localStorage.setItem(KEY, key);
  input.value = "";
  say("Key saved in this browser.");
  route();
});
document.getElementById("forget-key").addEventListener("click", () => {
  localStorage.removeItem(KEY);
  route();
});
window.addEventListener("hashchange", route);

// Sign-in sets a cookie this script may read beside the session's (which it may not): only
// then is there a session to ask about.
const SIGNED_IN = "alertflow_csrf=";

async function start() {
  const resp = document.cookie.split("; ").some((c) => c.startsWith(SIGNED_IN)) ? await fetch("/v1/session") : null;
  if (resp && !resp.ok) document.cookie = `${SIGNED_IN}; Max-Age=0; Path=/`;  // the session has ended
  if (resp && resp.ok) {
    session = await resp.json();
    document.getElementById("who").textContent = session.email;
    document.querySelector("#signout [name=csrf_token]").value = session.csrf_token;
    document.getElementById("signout").hidden = false;
  }
  route();
}
start();
