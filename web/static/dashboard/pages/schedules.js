import { allowed, api, path } from "../api.js";
import { badge, esc, onClick, say, table, when } from "../ui.js";

async function render(view, params, ctx) {
  const list = await api("/v1/schedules");
  const admin = allowed("admin");
  const rows = list.items.map((x) => `<tr data-schedule="${esc(x.id)}"><td>${esc(x.name || x.id)}</td>
    <td><code>${esc(x.cron)}</code> ${esc(x.timezone)}</td><td>${esc(x.template || "content")}
    → ${esc(x.topic ? `topic ${x.topic}` : `${x.recipients} recipients`)}</td>
    <td>${x.paused ? '<span class="badge cancelled">paused</span>' : esc(when(x.next_fire_at))}</td>
    <td>${x.last_batch_id ? `<a href="#/schedules" data-batch="${esc(x.last_batch_id)}">${esc(when(x.last_fire_at))}</a>`
      : "—"}${x.last_error ? ` <span class="badge failed">${esc(x.last_error)}</span>` : ""}</td>
    <td>${admin ? `<button data-toggle>${x.paused ? "Resume" : "Pause"}</button> <button data-delete>Delete</button>` : ""}</td></tr>`);
  view.innerHTML = `<h1>Schedules</h1>${table("schedules", "Schedules", ["Name", "When", "What", "Next", "Last batch", ""],
    rows, "No schedules: POST /v1/schedules creates one.")}<div id="batch"></div>`;
  for (const row of view.querySelectorAll("tr[data-schedule]")) {
    const id = row.dataset.schedule;
    const toggle = row.querySelector("[data-toggle]");
    const paused = toggle?.textContent === "Resume";
    onClick(toggle, async () => {
      await api(path(`/v1/schedules/{}/${paused ? "resume" : "pause"}`, id), { method: "POST" });
      say(paused ? "Resumed." : "Paused.");
      ctx.go("#/schedules");
    });
    onClick(row.querySelector("[data-delete]"), async () => {
      await api(path("/v1/schedules/{}", id), { method: "DELETE" });
      say("Deleted.");
      ctx.go("#/schedules");
    });
  }
  for (const link of view.querySelectorAll("a[data-batch]")) {
    onClick(link, async () => {
      const b = await api(path("/v1/batches/{}", link.dataset.batch));
      document.getElementById("batch").innerHTML = `<div class="detail"><h1>${esc(b.batch_id)} ${badge(b.status)}</h1>
        <p>${b.recipients} recipients: ${Object.entries(b.counts).map(([s, n]) => `${badge(s)} ${n}`).join(" ")}</p></div>`;
    });
  }
}

export default { path: "schedules", title: "Schedules", role: "member", render };
