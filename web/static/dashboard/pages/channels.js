// Channels and providers (owners): each channel's providers with their secrets masked as the
// API masks them, a form that sets the primary provider, and a test message through each one.
import { api, path } from "../api.js";
import { CHANNELS, esc, onClick, onSubmit, parseJson, say, table } from "../ui.js";

// What a test's `to` holds on each channel: the contact a test there needs (delivery/trial.py).
const TEST_TO = {
  email: ["email", "ann@example.com"],
  sms: ["phone", "+15550100"],
  push: ["push_token", "a device token"],
  inapp: ["user_id", "a user id"],
  webhook: ["user_id", "a user id"],
};
// Settings longer than this scroll inside their box rather than lengthen the page.
const MAX_ROWS = 14;
const SOURCES = {
  tenant: "set up by this tenant",
  config: "the server's default ([providers] in alertflow.toml)",
  builtin: "the built-in default",
};

async function render(view, params, ctx) {
  const { installed, channels } = await api("/v1/providers");
  view.innerHTML = `<h1>Channels</h1><p class="muted">A channel's first provider is its primary, the others its
    fail-over. Secrets are write-only: <code>********</code> stands for a stored one, and saving it unchanged keeps it.</p>
    ${CHANNELS.map((channel) => section(channel, channels[channel], installed)).join("")}`;
  for (const channel of CHANNELS) wire(channel, channels[channel], installed, ctx);
  if (params.channel) document.getElementById(`channel-${params.channel}`)?.scrollIntoView({ block: "start" });
}

const shown = (value) => (typeof value === "string" ? value : JSON.stringify(value));
const settings = (config) => Object.entries(config).map(([key, value]) =>
  `<span class="setting">${esc(key)}=<code>${esc(shown(value))}</code></span>`).join(" ");

function section(channel, setup, installed) {
  const types = installed.filter((t) => t.channels.includes(channel));
  const rows = setup.providers.map((p, i) => `<tr data-provider="${esc(p.type)}"><td>${i ? "fail-over" : "primary"}</td>
    <td><code>${esc(p.type)}</code></td><td>${settings(p.config)}</td><td>${esc(p.rate_per_second ?? "—")}</td></tr>`);
  return `<section id="channel-${channel}" class="channel" aria-labelledby="title-${channel}">
    <h2 id="title-${channel}">${esc(channel)} <span class="muted">· ${esc(SOURCES[setup.source])}</span></h2>
    ${setup.unreadable ? `<p class="form-error">The stored set-up cannot be used: ${esc(setup.unreadable)}</p>` : ""}
    ${table(`providers-${channel}`, `${channel} providers`, ["", "Provider", "Settings", "Per second"], rows,
      types.length ? `No provider sends ${esc(channel)} messages: choose one below.` : "Nothing to set up here.")}
    ${types.length ? setupForm(channel, setup, types) : `<p class="muted">No installed provider serves ${esc(channel)}.</p>`}
    ${setup.providers.length ? testForm(channel) : ""}</section>`;
}

function setupForm(channel, setup, types) {
  const chosen = setup.providers[0]?.type ?? types[0].type;
  return `<form class="setup stacked" aria-label="${esc(channel)} primary provider">
    <label for="type-${channel}">Primary provider</label>
    <select id="type-${channel}" name="type">${types.map((t) => `<option value="${esc(t.type)}"
      ${t.type === chosen ? "selected" : ""}>${esc(t.type)}: ${esc(t.description)}</option>`).join("")}</select>
    <label for="config-${channel}">Settings (JSON)</label>
    <textarea id="config-${channel}" name="config" class="wide" spellcheck="false"
      aria-describedby="hint-${channel}"></textarea>
    <p class="muted" id="hint-${channel}"></p>
    <div class="toolbar"><button type="submit" class="primary">Save</button>
      ${setup.source === "tenant" ? "<button type=\"button\" data-remove>Remove this set-up</button>" : ""}</div></form>`;
}

function testForm(channel) {
  const [field, example] = TEST_TO[channel];
  return `<form class="test toolbar" aria-label="Send a ${esc(channel)} test">
    <label for="to-${channel}">Send a test to</label>
    <input id="to-${channel}" name="to" required placeholder="${esc(example)}" aria-describedby="to-${channel}-is">
    <span class="muted" id="to-${channel}-is">(${esc(field.replace("_", " "))})</span>
    <button type="submit">Send test</button></form><div class="test-result" aria-live="polite"></div>`;
}

function wire(channel, setup, installed, ctx) {
  const part = document.getElementById(`channel-${channel}`);
  const form = part.querySelector("form.setup");
  if (form) wireSetup(channel, setup, installed, form, ctx);
  const test = part.querySelector("form.test");
  if (test) {
    onSubmit(test, async (values) => {
      const body = { to: { [TEST_TO[channel][0]]: values.to } };
      const out = await api(path("/v1/channels/{}/test", channel), { method: "POST", body });
      part.querySelector(".test-result").innerHTML = `<ul>${out.results.map(outcome).join("")}</ul>`;
    });
  }
}

function outcome(r) {
  const verdict = r.ok ? '<span class="badge sent">ok</span>' : `<span class="badge failed">${esc(r.outcome)}</span>`;
  return `<li data-provider="${esc(r.provider)}"><code>${esc(r.provider)}</code> ${verdict} ${esc(r.error || "")}
    <span class="muted">circuit ${esc(r.circuit)}${r.latency_ms === undefined ? "" : ` · ${r.latency_ms} ms`}</span></li>`;
}

function wireSetup(channel, setup, installed, form, ctx) {
  const primary = setup.providers[0];
  const type = form.elements.type;
  // The primary's settings when its type is chosen, else the chosen type's required ones to fill in.
  const fill = () => {
    const chosen = installed.find((t) => t.type === type.value);
    const config = primary?.type === chosen.type ? primary.config
      : Object.fromEntries(chosen.required.map((key) => [key, ""]));
    const text = JSON.stringify(config, null, 2);
    form.elements.config.value = text;
    form.elements.config.rows = Math.min(MAX_ROWS, text.split("\n").length + 2);
    const secrets = chosen.secrets.length ? ` Secret: ${chosen.secrets.join(", ")}.` : "";
    document.getElementById(`hint-${channel}`).textContent =
      `Settings: ${chosen.settings.join(", ") || "none"}. Required: ${chosen.required.join(", ") || "none"}.${secrets}`;
  };
  fill();
  type.addEventListener("change", fill);
  onSubmit(form, async (values) => {
    const config = parseJson(values.config, "config");
    const rate = primary?.type === values.type ? primary.rate_per_second : null;
    // The fail-overs stay as they are, sent back as read: their masks stand for their secrets.
    const others = setup.source === "tenant" ? setup.providers.slice(1) : [];
    const providers = [{ type: values.type, config, rate_per_second: rate }, ...others];
    try {
      await api(path("/v1/channels/{}", channel), { method: "PUT", body: { providers } });
    } catch (error) {
      throw onThisForm(error);
    }
    say(`The ${channel} providers are saved.`);
    ctx.go(`#/channels?channel=${channel}`);
  });
  onClick(form.querySelector("[data-remove]"), async () => {
    if (!confirm(`Remove this tenant's ${channel} set-up? The channel goes back to the server's default.`)) return;
    await api(path("/v1/channels/{}", channel), { method: "DELETE" });
    say(`The ${channel} set-up is removed.`);
    ctx.go(`#/channels?channel=${channel}`);
  });
}

// The API names the primary's fields as the request nests them (providers.0.config.port); on
// this form they are its type and config. The message keeps the full name.
function onThisForm(error) {
  error.errors = (error.errors || []).map((e) => ({ ...e, field: e.field.replace(/^providers\.0\.(type|config)\b.*/, "$1") }));
  return error;
}

export default { path: "channels", title: "Channels", role: "owner", render };
