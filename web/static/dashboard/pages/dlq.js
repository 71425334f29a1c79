import { allowed, api, path } from "../api.js";
import { esc, onClick, say, table, when } from "../ui.js";

async function render(view, params, ctx) {
  const page = await api("/v1/dlq?limit=200");
  const rows = page.items.map((d) => `<tr data-delivery="${esc(d.delivery_id)}"><td>${esc(when(d.dead_at))}</td>
    <td><a href="#/notifications?id=${esc(encodeURIComponent(d.notification_id))}"><code>${esc(d.notification_id)}</code></a></td>
    <td>${esc(d.channel)}</td><td>${d.attempts}</td><td>${esc(d.last_error || "")}</td>
    <td>${allowed("admin") ? "<button data-replay>Replay</button> <button data-delete>Delete</button>" : ""}</td></tr>`);
  view.innerHTML = `<h1>Dead letters</h1>${rows.length && allowed("admin") ? `<p><button class="primary" id="replay-all">Replay all
    ${rows.length}</button></p>` : ""}${table("dead", "Dead letters",
    ["Dead at", "Notification", "Channel", "Attempts", "Last error", ""], rows,
    "Nothing in the dead-letter queue. Deliveries that run out of retries land here, to replay once the provider is back.")}`;
  onClick(document.getElementById("replay-all"), async () => {
    const out = await api("/v1/dlq/replay", { method: "POST", body: { all: true } });
    say(`Replaying ${out.replayed.length}.`);
    ctx.go("#/dlq");
  });
  for (const row of view.querySelectorAll("tr[data-delivery]")) {
    const id = row.dataset.delivery;
    onClick(row.querySelector("[data-replay]"), async () => {
      await api(path("/v1/dlq/{}/replay", id), { method: "POST" });
      say("Replaying.");
      ctx.go("#/dlq");
    });
    onClick(row.querySelector("[data-delete]"), async () => {
      if (!confirm("Delete this dead letter? It will not be sent, and cannot be replayed after.")) return;
      await api(path("/v1/dlq/{}", id), { method: "DELETE" });
      say("Deleted.");
      ctx.go("#/dlq");
    });
  }
}

export default { path: "dlq", title: "Dead letters", role: "member", render };
