// Templates: the list; for one template its versions, a diff between any two, and an editor
// whose every save is the next version (versions are immutable). The preview renders what is
// being typed (POST /v1/templates/preview), so a mistake shows, naming its field, before a save.
import { allowed, api, path } from "../api.js";
import { CHANNEL_FIELDS, channelFieldset, markFields, problemHtml, readContent, renderedHtml } from "../content.js";
import { jsonLines, lineDiff } from "../diff.js";
import { esc, onClick, onOpen, onSubmit, parseJson, say, table, when } from "../ui.js";

// Typing pauses this long before the preview renders: one request per pause, not per key.
const PREVIEW_DELAY_MS = 300;
// The server's rule for a language tag (LOCALE_TAG in alertflow/templates/content.py), so a
// locale is refused as it is added rather than at the save.
const LOCALE_TAG = /^[a-z]{2,8}(-[a-z0-9]{1,8})*$/i;
// Sample data typed for each template, kept while the dashboard is open: a save redraws the page.
const samples = new Map();

const here = (key, version) => `#/templates?${new URLSearchParams({ key, ...(version ? { version } : {}) })}`;

// How people write tags (de-AT, zh-Hant-TW); the server keeps them lower-case.
const displayTag = (tag) => tag.replace(/_/g, "-").split("-").map((part, i) => {
  if (i > 0 && part.length === 2) return part.toUpperCase();
  if (i > 0 && part.length === 4) return part[0].toUpperCase() + part.slice(1).toLowerCase();
  return part.toLowerCase();
}).join("-");

async function render(view, params, ctx) {
  const list = await api("/v1/templates");
  const admin = allowed("admin");
  const rows = list.items.map((t) => `<tr class="clickable" data-key="${esc(t.key)}" tabindex="0"
    ${t.key === params.key ? 'aria-current="true"' : ""}><td><code>${esc(t.key)}</code></td>
    <td>${esc(t.name || "")}</td><td>v${t.active_version} of ${t.latest_version}</td><td>${esc(t.channels.join(", "))}</td>
    <td>${esc(t.variables.join(", "))}</td><td>${esc(when(t.updated_at))}</td></tr>`);
  view.innerHTML = `<div class="toolbar"><h1 class="grow">Templates</h1>
    ${admin ? '<button class="primary" id="new-template">New template</button>' : ""}</div>
    ${table("templates", "Templates", ["Key", "Name", "Active", "Channels", "Variables", "Updated"], rows,
      admin ? "No templates yet: “New template” writes the first, per channel and language."
        : "No templates yet: an admin writes them here (or with POST /v1/templates).")}
    <div id="template"></div>`;
  onClick(document.getElementById("new-template"), () => ctx.go("#/templates?new=1"));
  for (const row of view.querySelectorAll("tr[data-key]")) {
    const open = () => ctx.go(here(row.dataset.key));
    onOpen(row, open);
  }
  const target = document.getElementById("template");
  if (params.key) await detail(target, params.key, Number(params.version) || null, ctx);
  else if (params.new && admin) {
    target.innerHTML = '<div class="detail"><h2>New template</h2><div id="version-body"></div></div>';
    editor(document.getElementById("version-body"), null, ctx);
    document.getElementById("t-key").focus();
  }
}

async function detail(target, key, opened, ctx) {
  const [t, versions] = await Promise.all([api(path("/v1/templates/{}", key)),
    api(path("/v1/templates/{}/versions", key))]);
  const admin = allowed("admin");
  const items = [...versions.items].sort((a, b) => a.version - b.version);
  const version = items.find((v) => v.version === opened) || items.find((v) => v.version === t.active_version);
  const rows = items.map((v) => `<tr data-version="${v.version}" ${v === version ? 'aria-current="true"' : ""}>
    <td>v${v.version} ${v.version === t.active_version ? '<span class="badge sent">active</span>' : ""}</td>
    <td><button data-open>${admin ? "Edit" : "View"}</button>
    ${admin && v.version !== t.active_version ? "<button data-activate>Activate</button>" : ""}</td>
    <td>${esc(when(v.created_at))}</td><td>${esc(Object.keys(v.channels).join(", "))}</td>
    <td>${esc(Object.keys(v.locales).map(displayTag).join(", ") || "—")}</td><td>${esc(v.variables.join(", "))}</td></tr>`);
  target.innerHTML = `<div class="detail"><div class="toolbar"><h2 class="grow">${t.name ? `${esc(t.name)} ` : ""}
    <code>${esc(key)}</code></h2><a href="#/send?template=${esc(encodeURIComponent(key))}">Send with it</a></div>
    <h2>Versions</h2>${table("versions", "Versions", ["Version", "", "Saved", "Channels", "Locales", "Variables"], rows, "")}
    ${compareHtml(items)}
    <h2>${admin ? `Editing from v${version.version}: saving makes v${t.latest_version + 1}, active at once`
      : `v${version.version}`}</h2><div id="version-body"></div></div>`;
  for (const row of target.querySelectorAll("tr[data-version]")) {
    const number = Number(row.dataset.version);
    onClick(row.querySelector("[data-open]"), () => ctx.go(here(key, number)));
    onClick(row.querySelector("[data-activate]"), async () => {
      await api(path("/v1/templates/{}/activate", key), { method: "POST", body: { version: number } });
      say(`v${number} is active: publishes of ${key} use it.`);
      ctx.go(here(key, opened));
    });
  }
  wireCompare(items);
  const body = document.getElementById("version-body");
  if (admin) editor(body, version, ctx);
  else readOnly(body, version, ctx);
}

function compareHtml(items) {
  if (items.length < 2) return '<p class="muted" id="diff-empty">Save another version to compare two.</p>';
  const options = (chosen) => items.map((v) => `<option value="${v.version}" ${v.version === chosen ? "selected" : ""}>
    v${v.version}</option>`).join("");
  const last = items[items.length - 1].version;
  return `<h2>Compare</h2><form id="compare" class="toolbar">
    <label for="diff-from">From</label><select id="diff-from" name="from">${options(items[items.length - 2].version)}</select>
    <label for="diff-to">to</label><select id="diff-to" name="to">${options(last)}</select></form>
    <pre id="diff" class="diff" tabindex="0" aria-label="Changes between the two versions"></pre>`;
}

// What a comparison shows of a version: what it sends, not when it was saved.
const comparable = (v) => jsonLines({ name: v.name, channels: v.channels, locales: v.locales, options: v.options ?? null });

function wireCompare(items) {
  const form = document.getElementById("compare");
  if (!form) return;
  const draw = () => {
    const pick = (n) => items.find((v) => v.version === Number(n));
    const lines = lineDiff(comparable(pick(form.elements.from.value)), comparable(pick(form.elements.to.value)));
    const out = document.getElementById("diff");
    if (!lines) {
      out.textContent = "These versions are too far apart to compare line by line.";
      return;
    }
    const mark = { same: "  ", del: "- ", add: "+ " };
    const changed = lines.filter((l) => l.op !== "same").length;
    out.innerHTML = (changed ? "" : '<span class="muted">No differences.</span>')
      + lines.map((l) => `<span class="${l.op}">${mark[l.op]}${esc(l.line)}</span>`).join("");
  };
  form.addEventListener("change", draw);
  draw();
}

function sampleFor(key, version) {
  return samples.get(key) ?? JSON.stringify(Object.fromEntries((version?.variables || []).map((v) => [v, ""])), null, 2);
}

function previewPane(sample, tags) {
  return `<div class="preview-pane"><label for="t-sample">Sample data (JSON)</label>
    <textarea id="t-sample" name="sample" rows="5" spellcheck="false">${esc(sample)}</textarea>
    <label for="t-preview-locale">Preview in</label>
    <select id="t-preview-locale" name="preview_locale">${localeOptions(tags)}</select>
    <h3>Preview</h3><div id="live-preview" aria-live="polite"></div></div>`;
}

const localeOptions = (tags, chosen = "") => `<option value="">the default content</option>${tags.map((tag) =>
  `<option ${tag === chosen ? "selected" : ""}>${esc(tag)}</option>`).join("")}`;

// Renders `form`'s preview whenever it is typed in (after a pause), and now. A slow answer never
// replaces a later one. `nameOf` turns a problem's field into the name of the control to mark.
function livePreview(form, produce, nameOf, ctx) {
  const out = form.querySelector("#live-preview");
  let timer;
  let latest = 0;
  async function update() {
    const asked = ++latest;
    let html;
    let names = [];
    try {
      const answer = await produce();
      html = answer ? renderedHtml(answer) : '<p class="muted">Write in a channel to see it rendered here.</p>';
    } catch (error) {
      html = problemHtml(error);
      names = (error.errors || []).map((e) => nameOf(e.field));
    }
    if (asked !== latest) return;
    out.innerHTML = html;
    markFields(form, names);
  }
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(update, PREVIEW_DELAY_MS);
  };
  form.addEventListener("input", soon);
  ctx.onLeave(() => clearTimeout(timer));
  update();
  return soon;
}

// A member reads a version and previews it with data; only admins write templates.
function readOnly(target, version, ctx) {
  const tags = Object.keys(version.locales).map(displayTag);
  target.innerHTML = `<div class="split"><pre class="version">${esc(JSON.stringify(
    { channels: version.channels, locales: version.locales }, null, 2))}</pre>
    <form id="version-preview">${previewPane(sampleFor(version.key, version), tags)}</form></div>`;
  const form = document.getElementById("version-preview");
  form.addEventListener("submit", (event) => event.preventDefault());
  livePreview(form, () => api(path("/v1/templates/{}/preview", version.key), { method: "POST", body: {
    data: parseJson(form.elements.sample.value, "sample"), locale: form.elements.preview_locale.value || null,
    version: version.version } }), (field) => (field.startsWith("data") ? "sample" : field), ctx);
}

function localeFieldset(tag, channels = {}) {
  return `<fieldset class="variant" data-variant="${esc(tag)}"><legend>Locale ${esc(tag)}</legend>
    <p class="muted">Fill only what reads differently in ${esc(tag)}; the rest comes from the default content.</p>
    <div class="channels">${Object.keys(CHANNEL_FIELDS).map((c) => channelFieldset(c, channels[c], tag)).join("")}</div>
    <button type="button" data-remove-locale>Remove ${esc(tag)}</button></fieldset>`;
}

const tagsOf = (form) => [...form.querySelectorAll("fieldset[data-variant]")].map((f) => f.dataset.variant)
  .filter(Boolean);

// A problem's field (channels.email.subject, locales.de-at.sms.body, data.name) as the editor's
// control names it (email.subject, de-AT.sms.body, sample).
function editorName(field, tags) {
  const [head, ...rest] = field.split(".");
  if (head === "channels") return rest.join(".");
  if (head === "locales" && rest.length) {
    const tag = tags.find((t) => t.toLowerCase() === rest[0].toLowerCase()) ?? rest[0];
    return [tag, ...rest.slice(1)].join(".");
  }
  if (head === "data") return "sample";
  return field;
}

function draftOf(form) {
  const { "": channels = {}, ...locales } = readContent(form);
  return { channels, locales };
}

// The editor: a new template (`version` null), or the next version of one, starting from `version`.
function editor(target, version, ctx) {
  const key = version?.key;
  const stored = Object.entries(version?.locales || {});
  target.innerHTML = `<form id="template-editor" class="split" novalidate><div class="editor-fields">
    <label for="t-key">Key</label><input id="t-key" name="key" value="${esc(key || "")}" autocomplete="off"
      spellcheck="false" ${key ? "readonly" : 'required placeholder="welcome"'}>
    <label for="t-name">Name</label><input id="t-name" name="name" value="${esc(version?.name || "")}">
    <fieldset class="variant" data-variant=""><legend>Default content</legend>
      <p class="muted">Fill the channels the template sends on; a channel left empty is not part of it.</p>
      <div class="channels">${Object.keys(CHANNEL_FIELDS).map((c) => channelFieldset(c, version?.channels[c])).join("")}
      </div></fieldset>
    <div id="locales">${stored.map(([tag, channels]) => localeFieldset(displayTag(tag), channels)).join("")}</div>
    <div class="toolbar"><label for="t-new-locale">Add a locale</label>
      <input id="t-new-locale" placeholder="de-AT" size="8" autocomplete="off" spellcheck="false">
      <button type="button" id="add-locale">Add locale</button></div>
    <p class="form-error" role="alert"></p>
    <button class="primary" id="save-template" type="submit">${key ? "Save as a new version" : "Create template"}</button>
    </div>${previewPane(sampleFor(key, version), stored.map(([tag]) => displayTag(tag)))}</form>`;
  const form = document.getElementById("template-editor");
  const nameOf = (field) => editorName(field, tagsOf(form));
  const refresh = livePreview(form, async () => {
    const { channels, locales } = draftOf(form);
    const data = parseJson(form.elements.sample.value, "sample");
    if (!Object.keys(channels).length) return null;
    return api("/v1/templates/preview", { method: "POST",
      body: { channels, locales, data, locale: form.elements.preview_locale.value || null } });
  }, nameOf, ctx);
  const redrawLocales = () => {
    const select = form.elements.preview_locale;
    select.innerHTML = localeOptions(tagsOf(form), select.value);
    refresh();
  };
  onClick(document.getElementById("add-locale"), () => addLocale(form, redrawLocales));
  document.getElementById("locales").addEventListener("click", (event) => {
    const remove = event.target.closest("[data-remove-locale]");
    if (!remove) return;
    const fieldset = remove.closest("fieldset");
    if (!confirm(`Remove the ${fieldset.dataset.variant} locale from this draft?`)) return;
    fieldset.remove();
    redrawLocales();
  });
  onSubmit(form, async (values) => {
    let saved;
    try {
      const body = { ...draftOf(form), name: values.name || null };
      saved = key
        ? await api(path("/v1/templates/{}", key), { method: "PUT",
          body: { ...body, ...(version.options ? { options: version.options } : {}) } })
        : await api("/v1/templates", { method: "POST", body: { ...body, key: values.key } });
    } catch (error) {
      markFields(form, (error.errors || []).map((e) => nameOf(e.field)));
      throw error;
    }
    samples.set(saved.key, form.elements.sample.value);
    say(`Saved ${saved.key} v${saved.latest_version}.`);
    ctx.go(here(saved.key));
  });
}

function addLocale(form, changed) {
  const input = document.getElementById("t-new-locale");
  const tag = displayTag(input.value.trim());
  input.removeAttribute("aria-invalid");
  let problem = null;
  if (!LOCALE_TAG.test(tag)) problem = "Give a language tag such as de or de-AT.";
  else if (tagsOf(form).some((t) => t.toLowerCase() === tag.toLowerCase())) problem = `${tag} is already here.`;
  if (problem) {
    input.setAttribute("aria-invalid", "true");
    throw new Error(problem);
  }
  document.getElementById("locales").insertAdjacentHTML("beforeend", localeFieldset(tag));
  input.value = "";
  changed();
  form.querySelector(`fieldset[data-variant="${CSS.escape(tag)}"] [data-field]`).focus();
}

export default { path: "templates", title: "Templates", role: "member", render };
