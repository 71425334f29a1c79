// The preferences editor the Users page (a user's own) and the Settings page (the tenant's
// defaults) share: a switch per channel, per category and per category × channel, and quiet
// hours. Each switch has three states, because an unset one inherits (a user's from the
// tenant's defaults, a default from "on"), and the API keeps that difference.
import { CHANNELS, esc, scroller } from "./ui.js";

const CATEGORY_SWITCH = /^categories\.(.+)\.enabled$/;
const CATEGORY_CHANNEL = /^categories\.(.+)\.channels\.([a-z]+)$/;

const state = (value) => (value === true ? "on" : value === false ? "off" : "");

function toggle(name, label, value, disabled, unset) {
  const options = [["", unset], ["on", "on"], ["off", "off"]].map(([v, text]) =>
    `<option value="${v}" ${state(value) === v ? "selected" : ""}>${esc(text)}</option>`).join("");
  return `<select name="${esc(name)}" aria-label="${esc(label)}" ${disabled ? "disabled" : ""}>${options}</select>`;
}

// The editor's fields for `doc` (GET .../preferences), one row per category of `categories`
// (GET /v1/categories items). `unset` names what an unset switch means; `editable` false shows them only.
export function editor(doc, categories, { unset, editable }) {
  const own = doc.categories || {};
  const heads = ["Category", "Delivered", ...CHANNELS].map((h) => `<th scope="col">${esc(h)}</th>`).join("");
  const rows = categories.map((c) => {
    const choice = own[c.key] || {};
    // A category recipients may not opt out of is always delivered: nothing to switch.
    const fixed = !editable || !c.opt_out_allowed;
    const cells = CHANNELS.map((ch) => `<td>${toggle(`categories.${c.key}.channels.${ch}`, `${c.key} ${ch}`,
      (choice.channels || {})[ch], fixed, unset)}</td>`).join("");
    return `<tr data-category="${esc(c.key)}"><th scope="row"><code>${esc(c.key)}</code>${c.opt_out_allowed ? ""
      : ' <span class="muted">always delivered</span>'}</th>
      <td>${toggle(`categories.${c.key}.enabled`, `${c.key} delivered`, choice.enabled, fixed, unset)}</td>${cells}</tr>`;
  });
  const quiet = doc.quiet_hours || {};
  const time = (part, label, hint) => `<label for="quiet-${part}">${label}</label>
    <input id="quiet-${part}" name="quiet_hours.${part}" value="${esc(quiet[part] || "")}" placeholder="${hint}"
      autocomplete="off" ${editable ? "" : "disabled"}>`;
  return `<fieldset name="channels" class="plain"><legend>Every category, per channel</legend><div class="toolbar">
      ${CHANNELS.map((ch) => `<label>${esc(ch)} ${toggle(`channels.${ch}`, `every category ${ch}`,
        (doc.channels || {})[ch], !editable, unset)}</label>`).join("")}</div></fieldset>
    <fieldset name="categories" class="plain"><legend>Per category</legend>
      ${scroller("Preferences per category", `<table class="switches"><tr>${heads}</tr>${rows.join("")}</table>`)}
    </fieldset>
    <fieldset name="quiet_hours" class="plain stacked"><legend>Quiet hours</legend>
      <p class="muted">Held back until the end: HH:MM on a 24-hour clock, a start after the end spans midnight;
        high priority is never held.</p>
      ${time("start", "Start", "22:00")}${time("end", "End", "07:00")}${time("timezone", "Timezone", "the user's, else UTC")}
    </fieldset>`;
}

// The document PUT takes, from the editor's fields (ui.js `fields`: unset switches are left out).
export function document(values) {
  const doc = { channels: {}, categories: {} };
  for (const [name, value] of Object.entries(values)) {
    const [, key] = name.match(CATEGORY_SWITCH) || [];
    const [, owner, channel] = name.match(CATEGORY_CHANNEL) || [];
    if (name.startsWith("channels.")) doc.channels[name.slice("channels.".length)] = value === "on";
    else if (key) (doc.categories[key] ??= {}).enabled = value === "on";
    else if (owner) ((doc.categories[owner] ??= {}).channels ??= {})[channel] = value === "on";
    else if (name.startsWith("quiet_hours.")) (doc.quiet_hours ??= {})[name.slice("quiet_hours.".length)] = value;
  }
  return doc;
}

// Marks the very control a problem names (ui.js `onSubmit` marks the field's first part, here
// the fieldset) and passes the problem on for onSubmit to show.
export async function marking(form, action) {
  try {
    return await action();
  } catch (error) {
    for (const { field } of error.errors || []) {
      form.querySelector(`[name="${CSS.escape(field)}"]`)?.setAttribute("aria-invalid", "true");
    }
    throw error;
  }
}
