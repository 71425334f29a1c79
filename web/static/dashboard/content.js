// Message content as the template engine models it (alertflow/templates/content.py), for the
// pages that write it (the template editor, the Send page's own content) and show it rendered.
import { esc, parseJson } from "./ui.js";

// The fields of each channel: "line" and "text" hold template source, "json" holds JSON
// (push and in-app `data` reach the app, a webhook's body is any JSON whose strings are templates).
export const CHANNEL_FIELDS = {
  email: { subject: "line", text: "text", html: "text" },
  sms: { body: "text" },
  push: { title: "line", body: "text", data: "json" },
  inapp: { title: "line", body: "text", action_url: "line", data: "json" },
  webhook: { body: "json" },
};

// One channel's inputs, named <channel>.<field>, or <locale>.<channel>.<field> in a locale.
export function channelFieldset(channel, values = {}, locale = "") {
  const prefix = locale ? `${locale}.${channel}` : channel;
  const inputs = Object.entries(CHANNEL_FIELDS[channel]).map(([field, kind]) => {
    const name = `${prefix}.${field}`;
    const id = `c-${name}`;
    const data = `data-locale="${esc(locale)}" data-channel="${channel}" data-field="${field}" data-kind="${kind}"`;
    const value = values[field] === undefined ? ""
      : kind === "json" ? JSON.stringify(values[field], null, 2) : values[field];
    const control = kind === "line"
      ? `<input id="${esc(id)}" name="${esc(name)}" value="${esc(value)}" ${data} spellcheck="false">`
      : `<textarea id="${esc(id)}" name="${esc(name)}" rows="${kind === "json" ? 2 : 3}" ${data}
          spellcheck="false">${esc(value)}</textarea>`;
    return `<label for="${esc(id)}">${field}${kind === "json" ? " (JSON)" : ""}</label>${control}`;
  });
  return `<fieldset class="channel" data-channel-set="${esc(prefix)}"><legend>${channel}</legend>${inputs.join("")}</fieldset>`;
}

// What the inputs under `root` hold, by locale ("" for the default), each {channel: {field:
// value}} with only the fields that have something in them, so an empty channel is left out.
// A JSON field that does not parse is an error naming it.
export function readContent(root) {
  const byLocale = {};
  for (const input of root.querySelectorAll("[data-field]")) {
    if (!input.value.trim()) continue;
    const { locale, channel, field, kind } = input.dataset;
    const channels = byLocale[locale] ??= {};
    (channels[channel] ??= {})[field] = kind === "json" ? parseJson(input.value, input.name) : input.value;
  }
  return byLocale;
}

// Marks invalid the controls under `root` that the given names point to: the control of that
// name, else every control under it (a whole channel), else the nearest named one above it
// (a problem at `email.subject.x` marks `email.subject`). Earlier marks are cleared.
export function markFields(root, names) {
  for (const marked of root.querySelectorAll("[aria-invalid]")) marked.removeAttribute("aria-invalid");
  const controls = [...root.querySelectorAll("[name]")];
  for (const name of names) {
    for (const parts = name.split("."); parts.length; parts.pop()) {
      const prefix = parts.join(".");
      const found = controls.filter((c) => c.name === prefix || c.name.startsWith(`${prefix}.`));
      found.forEach((c) => c.setAttribute("aria-invalid", "true"));
      if (found.length) break;
    }
  }
}

// A problem as a preview shows it in place of the rendering: each field it names, by the
// API's path to it (channels.email.subject, data.name), with what is wrong there.
export function problemHtml(error) {
  const listed = (error.errors || []).filter((e) => e.message);
  if (!listed.length) return `<p class="preview-error">${esc(error.message)}</p>`;
  return `<ul class="preview-error">${listed.map((e) => `<li><strong>${esc(e.field)}</strong>:
    ${esc(e.message)}</li>`).join("")}</ul>`;
}

const smsInfo = (info) => `${info.encoding} · ${info.segments} segment${info.segments === 1 ? "" : "s"} · `
  + `${info.characters} characters`;

function shown(name, value) {
  if (name === "info") return esc(smsInfo(value));
  return typeof value === "string" ? esc(value) : `<code>${esc(JSON.stringify(value, null, 2))}</code>`;
}

const isBlank = (value) => value === null || value === ""
  || (typeof value === "object" && !Array.isArray(value) && !Object.keys(value).length);

// A preview's answer ({locale, channels: {channel: fields}}) as each channel would arrive;
// an email's html is shown as source: it is the provider's to render, not the dashboard's.
export function renderedHtml(answer) {
  const channels = Object.entries(answer.channels).map(([channel, fields]) => {
    const rows = Object.entries(fields).filter(([, value]) => !isBlank(value))
      .map(([name, value]) => `<dt>${esc(name)}</dt><dd>${shown(name, value)}</dd>`);
    return `<section class="rendered" data-rendered="${esc(channel)}"><h3>${esc(channel)}</h3>
      <dl>${rows.join("")}</dl></section>`;
  });
  const locale = answer.locale ? `<p class="muted">Locale variant ${esc(answer.locale)}.</p>` : "";
  return locale + channels.join("");
}
