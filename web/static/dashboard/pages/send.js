// Send: one message, from a template or written here, with JSON data, to a user, an address, a
// phone or a topic. A preview renders it first; the answer links what the send created.
import { api, path } from "../api.js";
import { CHANNEL_FIELDS, channelFieldset, markFields, problemHtml, readContent, renderedHtml } from "../content.js";
import { PRIORITIES, badge, esc, onClick, onSubmit, parseJson, say } from "../ui.js";

// Whom a send addresses: what the target field holds, and where it goes in the request. A
// topic goes to POST /v1/notifications/bulk, which takes topics of any size and answers a batch.
const AUDIENCES = {
  user: { label: "User id", placeholder: "u1", to: (target) => ({ to: { user_id: target } }) },
  email: { label: "Email address", placeholder: "ann@example.com", to: (target) => ({ to: { email: target } }) },
  phone: { label: "Phone number", placeholder: "+14155550100", to: (target) => ({ to: { phone: target } }) },
  topic: { label: "Topic key", placeholder: "ops", to: (target) => ({ topic: target }) },
};

// A problem's field (to.0.email, topic, content.sms.body, data.name) as this form names it.
function sendName(field) {
  const [head, ...rest] = field.split(".");
  if (head === "to" || head === "topic") return "target";
  if (head === "content" || head === "channels") return rest.join(".");
  return head in CHANNEL_FIELDS ? field : head;
}

const who = (recipient) => recipient.user_id || recipient.email || recipient.phone || recipient.push_token || "";

async function render(view, params, ctx) {
  const templates = (await api("/v1/templates")).items;
  const chosen = templates.some((t) => t.key === params.template) ? params.template : templates[0]?.key || "";
  view.innerHTML = `<h1>Send</h1><div class="split"><form id="send-form" class="stacked" novalidate>
    <label for="s-audience">To</label><select id="s-audience" name="audience">${Object.entries(AUDIENCES).map(([value, a]) =>
      `<option value="${value}">${esc(a.label)}</option>`).join("")}</select>
    <label for="s-target" id="s-target-label"></label><input id="s-target" name="target" autocomplete="off" spellcheck="false">
    <label for="s-template">Message</label><select id="s-template" name="template">${templates.map((t) =>
      `<option value="${esc(t.key)}" ${t.key === chosen ? "selected" : ""}>${esc(t.name || t.key)} (${esc(t.key)})</option>`)
      .join("")}<option value="" ${chosen ? "" : "selected"}>Write content</option></select>
    <div id="s-content" class="channels">${Object.keys(CHANNEL_FIELDS).map((c) => channelFieldset(c)).join("")}</div>
    <label for="s-data">Data (JSON)</label>
    <textarea id="s-data" name="data" rows="5" spellcheck="false">${esc(dataFor(templates, chosen))}</textarea>
    <label for="s-priority">Priority</label><select id="s-priority" name="priority">
      <option value="">the category's</option>${PRIORITIES.map((p) => `<option>${p}</option>`).join("")}</select>
    <label for="s-category">Category</label><input id="s-category" name="category" placeholder="default" spellcheck="false">
    <p class="form-error" role="alert"></p>
    <div class="toolbar"><button type="button" id="preview-send">Preview</button>
      <button class="primary" type="submit" id="send">Send</button></div></form>
    <div><h2>Preview</h2><div id="send-preview" aria-live="polite"><p class="muted">“Preview” renders the message
      with the data, as it would be sent.</p></div><div id="send-result" aria-live="polite"></div></div></div>`;
  const form = document.getElementById("send-form");
  const audience = form.elements.audience;
  const showAudience = () => {
    const a = AUDIENCES[audience.value];
    document.getElementById("s-target-label").textContent = a.label;
    form.elements.target.placeholder = a.placeholder;
  };
  let prefilled = form.elements.data.value;
  const showContent = () => {
    const key = form.elements.template.value;
    document.getElementById("s-content").hidden = Boolean(key);
    // The data follows the template chosen until the sender has written some of their own.
    if (form.elements.data.value === prefilled) form.elements.data.value = prefilled = dataFor(templates, key);
  };
  audience.addEventListener("change", showAudience);
  form.elements.template.addEventListener("change", showContent);
  showAudience();
  showContent();
  onClick(document.getElementById("preview-send"), () => preview(form));
  onSubmit(form, (values) => send(form, values));
}

// A template's variables as the data to start from, for the sender to fill in.
function dataFor(templates, key) {
  const variables = templates.find((t) => t.key === key)?.variables || [];
  return JSON.stringify(Object.fromEntries(variables.map((v) => [v, ""])), null, 2);
}

// What to send: the template, or the content written here, with the data.
function message(form) {
  const data = parseJson(form.elements.data.value, "data");
  const key = form.elements.template.value;
  return key ? { template: key, data } : { content: readContent(document.getElementById("s-content"))[""] || {}, data };
}

async function preview(form) {
  const out = document.getElementById("send-preview");
  try {
    const { template, content, data } = message(form);
    out.innerHTML = renderedHtml(template
      ? await api(path("/v1/templates/{}/preview", template), { method: "POST", body: { data } })
      : await api("/v1/templates/preview", { method: "POST", body: { channels: content, data } }));
    markFields(form, []);
  } catch (error) {
    out.innerHTML = problemHtml(error);
    markFields(form, (error.errors || []).map((e) => sendName(e.field)));
  }
}

async function send(form, values) {
  const result = document.getElementById("send-result");
  result.innerHTML = "";
  const topic = values.audience === "topic";
  let answer;
  try {
    const body = { ...AUDIENCES[values.audience].to(values.target || ""), ...message(form),
      ...(values.priority ? { priority: values.priority } : {}), ...(values.category ? { category: values.category } : {}) };
    answer = await api(topic ? "/v1/notifications/bulk" : "/v1/notifications/publish", { method: "POST", body });
  } catch (error) {
    markFields(form, (error.errors || []).map((e) => sendName(e.field)));
    throw error;
  }
  result.innerHTML = `<div class="detail"><h2>Sent</h2>${topic ? `<p>Batch
    <a href="#/batches?id=${esc(encodeURIComponent(answer.batch_id))}"><code>${esc(answer.batch_id)}</code></a>
    to ${answer.recipients} subscribers: it fans out now, and its page follows the deliveries.</p>`
    : `<ul>${answer.notifications.map((n) => `<li><a href="#/notifications?id=${esc(encodeURIComponent(n.id))}">
    <code>${esc(n.id)}</code></a> ${badge(n.status)} to ${esc(who(n.recipient))}</li>`).join("")}</ul>`}</div>`;
  say(topic ? "Batch accepted." : "Sent.");
}

export default { path: "send", title: "Send", role: "member", render };
