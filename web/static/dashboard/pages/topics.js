import { allowed, api, path } from "../api.js";
import { PRIORITIES, esc, onClick, onOpen, onSubmit, parseJson, say, table } from "../ui.js";

const PAGE_SIZE = 200;
// Subscribers a topic's detail lists; the count says how many there are in all.
const SHOWN_SUBSCRIBERS = 200;
// Publish options a category may give its notifications (intake/options.py SendOptions).
const OPTIONS_SAMPLE = '{"throttle": {"key": "alerts", "limit": 5, "window_seconds": 3600}}';

async function render(view, params, ctx) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (params.cursor) query.set("cursor", params.cursor);
  const [topics, categories] = await Promise.all([api(`/v1/topics?${query}`), api("/v1/categories")]);
  const admin = allowed("admin");
  const rows = topics.items.map((t) => `<tr class="clickable" tabindex="0" data-topic="${esc(t.topic)}">
    <td><code>${esc(t.topic)}</code></td><td class="count">${t.count}</td></tr>`);
  const next = topics.next_cursor && new URLSearchParams({ cursor: topics.next_cursor });
  view.innerHTML = `<h1>Topics</h1>
    ${table("topics", "Topics", ["Topic", "Subscribers"], rows, admin
      ? "No topics yet: subscribe users to one below, then publish to it with \"topic\"."
      : "No topics yet: an admin subscribes users to one here, or PUT /v1/topics/{key}/subscribers.")}
    ${next ? `<p><a id="more-topics" href="#/topics?${esc(next)}">More</a></p>` : ""}
    <div id="topic-slot"></div>
    ${admin ? subscribeForm(params.topic) : ""}
    <h1 class="section">Categories</h1>
    ${table("categories", "Categories", ["Key", "Name", "Priority", "Opt-out", "Defined", "Options", ""],
      categories.items.map((c) => categoryRow(c, admin)), "")}
    ${admin ? categoryForm() : ""}`;
  for (const row of view.querySelectorAll("tr[data-topic]")) {
    const open = () => ctx.go(`#/topics?${new URLSearchParams({ topic: row.dataset.topic })}`);
    onOpen(row, open);
  }
  if (admin) {
    wireSubscribe(view.querySelector("#subscribe-form"), ctx);
    wireCategories(view, categories.items, ctx);
  }
  if (params.topic) await topic(params.topic, admin, ctx);
}

// --- topics ---------------------------------------------------------------------------------------

function subscribeForm(topic) {
  return `<h2>Subscribe users</h2><form id="subscribe-form" class="stacked">
    <label for="subscribe-topic">Topic</label>
    <input id="subscribe-topic" name="topic" required value="${esc(topic || "")}" placeholder="e.g. release-notes">
    <label for="subscribe-users">User ids (one a line, or separated by commas)</label>
    <textarea id="subscribe-users" name="users" rows="4" required></textarea>
    <p><button class="primary">Subscribe</button></p></form>`;
}

const userIds = (text) => (text || "").split(/[\s,]+/).filter(Boolean);

function wireSubscribe(form, ctx) {
  onSubmit(form, async (values) => {
    const ids = userIds(values.users);
    const out = await api(path("/v1/topics/{}/subscribers", values.topic), { method: "PUT",
      body: { user_ids: ids, mode: "add" } }).catch((error) => { throw namedIds(error, ids); });
    say(`${out.topic}: ${out.count} subscriber${out.count === 1 ? "" : "s"}.`);
    ctx.go(`#/topics?${new URLSearchParams({ topic: out.topic })}`);
  });
}

// The API names a refused id by its place in user_ids; the form shows the id, on its users field.
function namedIds(error, ids) {
  const refused = (error.errors || []).filter((e) => /^user_ids\.\d+$/.test(e.field));
  if (!refused.length) return error;
  const detail = refused.map((e) => `“${ids[Number(e.field.split(".")[1])]}”: ${e.message}`).join("; ");
  return Object.assign(new Error(`Not a user id: ${detail}`), { errors: [{ field: "users" }] });
}

async function topic(key, admin, ctx) {
  const slot = document.getElementById("topic-slot");
  const found = await api(path("/v1/topics/{}/subscribers", key)).catch((error) => {
    if (error.status === 404) return { topic: key, user_ids: [], count: 0 };
    throw error;
  });
  const items = found.user_ids.slice(0, SHOWN_SUBSCRIBERS).map((id) => `<li data-subscriber="${esc(id)}">
    <a href="#/users?${esc(new URLSearchParams({ id }))}"><code>${esc(id)}</code></a>
    ${admin ? "<button data-remove>Remove</button>" : ""}</li>`);
  const rest = found.count - items.length;
  slot.innerHTML = `<div class="detail" id="topic-detail"><h2><code>${esc(key)}</code>: ${found.count}
    subscriber${found.count === 1 ? "" : "s"}</h2>
    ${items.length ? `<ul class="plain">${items.join("")}</ul>${rest > 0 ? `<p class="muted">and ${rest} more</p>` : ""}`
      : '<p class="muted">No subscribers: subscribe users below.</p>'}
    ${admin && items.length ? '<p><button id="remove-all" class="danger">Remove every subscriber</button></p>' : ""}</div>`;
  for (const item of slot.querySelectorAll("li[data-subscriber]")) {
    onClick(item.querySelector("[data-remove]"), async () => {
      const out = await api(path("/v1/topics/{}/subscribers", key), { method: "PUT",
        body: { user_ids: [item.dataset.subscriber], mode: "remove" } });
      say(`Removed ${item.dataset.subscriber}: ${out.count} left.`);
      ctx.go(`#/topics?${new URLSearchParams({ topic: key })}`);
    });
  }
  onClick(document.getElementById("remove-all"), async () => {
    if (!confirm(`Remove all ${found.count} subscribers of ${key}?`)) return;
    await api(path("/v1/topics/{}/subscribers", key), { method: "DELETE" });
    say(`${key} has no subscribers now.`);
    ctx.go("#/topics");
  });
}

// --- categories ------------------------------------------------------------------------------------

function categoryRow(c, admin) {
  const defined = c.builtin ? (c.customised ? "built-in, changed" : "built-in") : "this tenant";
  const action = !admin || !c.customised ? "" : `<button data-delete>${c.builtin ? "Restore built-in" : "Delete"}</button>`;
  return `<tr data-category="${esc(c.key)}" ${admin ? 'class="clickable" tabindex="0"' : ""}><td><code>${esc(c.key)}</code></td>
    <td>${esc(c.name || "")}</td><td>${esc(c.priority)}</td><td>${c.opt_out_allowed ? "allowed" : "not allowed"}</td>
    <td>${defined}</td><td>${c.options ? `<code>${esc(JSON.stringify(c.options))}</code>` : ""}</td><td>${action}</td></tr>`;
}

function categoryForm() {
  return `<h2>Add or change a category</h2><p class="muted">Choose a row above to change it.</p>
    <form id="category-form" class="stacked">
    <label for="category-key">Key</label><input id="category-key" name="key" required placeholder="e.g. billing">
    <label for="category-name">Name</label><input id="category-name" name="name" placeholder="e.g. Billing">
    <label for="category-priority">Default priority</label><select id="category-priority" name="priority">
      ${PRIORITIES.map((p) => `<option ${p === "medium" ? "selected" : ""}>${p}</option>`).join("")}</select>
    <label><input type="checkbox" name="opt_out_allowed" checked> Recipients may opt out</label>
    <label for="category-options">Publish options (JSON: digest, throttle, dedupe, replace_key, fallback)</label>
    <textarea id="category-options" name="options" rows="3" placeholder="${esc(OPTIONS_SAMPLE)}"></textarea>
    <p><button class="primary">Save category</button></p></form>`;
}

function wireCategories(view, categories, ctx) {
  const form = view.querySelector("#category-form");
  onSubmit(form, async (values) => {
    const body = { priority: values.priority, opt_out_allowed: values.opt_out_allowed === "on", name: values.name ?? null,
      options: values.options ? parseJson(values.options, "options") : null };
    await api(path("/v1/categories/{}", values.key), { method: "PUT", body });
    say(`Category ${values.key} saved.`);
    ctx.go("#/topics");
  });
  for (const row of view.querySelectorAll("tr[data-category]")) {
    const category = categories.find((c) => c.key === row.dataset.category);
    const edit = () => {
      form.elements.key.value = category.key;
      form.elements.name.value = category.name || "";
      form.elements.priority.value = category.priority;
      form.elements.opt_out_allowed.checked = category.opt_out_allowed;
      form.elements.options.value = category.options ? JSON.stringify(category.options, null, 2) : "";
      form.elements.name.focus();
    };
    onOpen(row, edit);
    onClick(row.querySelector("[data-delete]"), async () => {
      const what = category.builtin ? `Restore ${category.key} to its built-in definition?` : `Delete ${category.key}?`;
      if (!confirm(what)) return;
      await api(path("/v1/categories/{}", category.key), { method: "DELETE" });
      say(category.builtin ? `${category.key} is built-in again.` : `Deleted ${category.key}.`);
      ctx.go("#/topics");
    });
  }
}

export default { path: "topics", title: "Topics", role: "member", render };
