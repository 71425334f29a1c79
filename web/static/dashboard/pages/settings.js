import { allowed, api } from "../api.js";
import { document as preferences, editor, marking } from "../preferences.js";
import { esc, onSubmit, say } from "../ui.js";

// What GET /v1/retention lists, with what each kind keeps (api/retention.py).
const RETENTION = [
  ["notifications", "Notifications and their deliveries"],
  ["inbox", "In-app inbox items"],
  ["outbox", "Messages the outbox provider captured"],
  ["webhook_attempts", "Status webhook attempts"],
  ["audit", "Audit log entries"],
];

async function render(view, params, ctx) {
  const owner = allowed("owner");
  const [defaults, categories, retention] = await Promise.all([api("/v1/preferences/defaults"), api("/v1/categories"),
    owner ? api("/v1/retention") : null]);
  view.innerHTML = `<h1>Settings</h1>
    <h2>Preference defaults</h2>
    <p class="muted">What applies to every user until they choose otherwise (a user's own choice wins).</p>
    <form id="defaults-form">${editor(defaults, categories.items, { unset: "on (unset)", editable: true })}
      <p><button class="primary">Save defaults</button></p></form>
    ${retention ? retentionForm(retention) : ""}`;
  const form = view.querySelector("#defaults-form");
  onSubmit(form, (values) => marking(form, async () => {
    await api("/v1/preferences/defaults", { method: "PUT", body: preferences(values) });
    say("Defaults saved.");
  }));
  if (retention) {
    onSubmit(view.querySelector("#retention-form"), async (values) => {
      // An empty field is null: the server's configured default applies again.
      const body = Object.fromEntries(RETENTION.map(([kind]) => [kind, values[kind] === undefined ? null
        : Number(values[kind])]));
      await api("/v1/retention", { method: "PUT", body });
      say("Retention saved: the next purge applies it.");
      ctx.go("#/settings");
    });
  }
}

function retentionForm(r) {
  const days = (n) => (n === 0 ? "kept for ever" : `${n} days`);
  const fields = RETENTION.map(([kind, label]) => `<label for="keep-${kind}">${esc(label)}
      <span class="muted">(now ${esc(days(r.effective[kind]))})</span></label>
    <input id="keep-${kind}" name="${kind}" type="number" min="0" step="1" inputmode="numeric"
      value="${r[kind] ?? ""}" placeholder="server default: ${esc(days(r.defaults[kind]))}">`).join("");
  return `<h2>Retention</h2><p class="muted">Days each kind of record is kept; 0 keeps it for ever, empty uses the server's
    default.</p><form id="retention-form" class="stacked">${fields}<p><button class="primary">Save retention</button></p></form>`;
}

export default { path: "settings", title: "Settings", role: "admin", render };
