import { allowed, api, path } from "../api.js";
import { document as preferences, editor, marking } from "../preferences.js";
import { badge, esc, onClick, onOpen, onSubmit, parseJson, say, table, when } from "../ui.js";

const PAGE_SIZE = 50;
const INBOX_SIZE = 50;
// The media types POST /v1/users/import reads each format as (recipients/importing.py).
const IMPORT_TYPES = { csv: "text/csv", ndjson: "application/x-ndjson" };
// The most row errors an import's refusal lists (api/users.py MAX_REPORTED_ERRORS).
const REPORTED_ERRORS = 100;
const CSV_SAMPLE = "user_id,email,name,timezone\nu1,ann@example.com,Ann,Europe/Berlin";

async function render(view, params, ctx) {
  if (params.id) await detail(view, params.id, ctx);
  else await list(view, params, ctx);
}

// --- the list, search and import ---------------------------------------------------------------

async function list(view, params, ctx) {
  const admin = allowed("admin");
  view.innerHTML = `<h1>Users</h1>
    <form id="user-search" class="toolbar" role="search">
      <input name="q" type="search" class="grow" aria-label="Search users" placeholder="part of an id, email, phone or name"
        value="${esc(params.q || "")}">
      <button class="primary">Search</button></form>
    <div id="users-list"></div>
    ${admin ? `<div class="grid2"><section><h2>Add a user</h2>${userForm(null)}</section>
      <section><h2>Import users</h2>${importForm()}<div id="import-report" aria-live="polite"></div></section></div>` : ""}`;
  view.querySelector("#user-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = event.target.elements.q.value.trim();
    ctx.go(q ? `#/users?${new URLSearchParams({ q })}` : "#/users");
  });
  if (admin) {
    wireUserForm(view.querySelector("#user-form"), null, ctx);
    wireImport(view.querySelector("#import-form"), () => drawList(params, ctx));
  }
  await drawList(params, ctx);
}

async function drawList(params, ctx) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (params.q) query.set("q", params.q);
  if (params.cursor) query.set("cursor", params.cursor);
  const page = await api(`/v1/users?${query}`);
  const rows = page.items.map((u) => `<tr class="clickable" tabindex="0" data-user="${esc(u.user_id)}">
    <td><code>${esc(u.user_id)}</code></td><td>${esc(u.name || "")}</td><td>${esc(u.email || "")}</td>
    <td>${esc(u.phone || "")}</td><td>${esc([u.locale, u.timezone].filter(Boolean).join(" · "))}</td>
    <td>${u.push_tokens.length + u.webpush.length}</td></tr>`);
  const empty = params.q ? `No user’s id, email, phone or name holds “${esc(params.q)}”. <a href="#/users">Show all</a>.`
    : allowed("admin") ? "No users yet: add one or import a CSV or NDJSON file below."
      : "No users yet: an admin adds them here, or an application with PUT /v1/users/{user_id}.";
  const next = page.next_cursor && new URLSearchParams({ ...(params.q ? { q: params.q } : {}), cursor: page.next_cursor });
  const target = document.getElementById("users-list");
  target.innerHTML = `${table("users", "Users", ["User id", "Name", "Email", "Phone", "Locale · timezone", "Devices"],
    rows, empty)}${next ? `<p><a id="more-users" href="#/users?${esc(next)}">More</a></p>` : ""}`;
  for (const row of target.querySelectorAll("tr[data-user]")) {
    const open = () => ctx.go(`#/users?${new URLSearchParams({ id: row.dataset.user })}`);
    onOpen(row, open);
  }
}

function importForm() {
  return `<form id="import-form" class="stacked">
    <label for="import-format">Format</label>
    <select id="import-format" name="format"><option value="csv">CSV: a header row, then one user a row</option>
      <option value="ndjson">NDJSON: one user (as PUT /v1/users takes it) a line</option></select>
    <label for="import-rows">Paste rows</label>
    <textarea id="import-rows" name="rows" rows="6" placeholder="${esc(CSV_SAMPLE)}"></textarea>
    <label for="import-file">or choose a file</label>
    <input id="import-file" type="file" name="file" accept=".csv,.ndjson,.jsonl,text/csv,application/x-ndjson">
    <p class="muted">All or nothing: one bad row and no user is stored. Columns: user_id (required), email, phone,
      name, locale, timezone; push_tokens and data as JSON.</p>
    <p><button class="primary">Import</button></p></form>`;
}

function wireImport(form, refresh) {
  onSubmit(form, async (values) => {
    const file = values.file && values.file.size ? values.file : null;
    if (!file && !values.rows) {
      throw Object.assign(new Error("Paste rows or choose a file."), { errors: [{ field: "rows" }] });
    }
    const report = document.getElementById("import-report");
    report.innerHTML = "";
    try {
      const out = await api("/v1/users/import", { method: "POST", body: file || values.rows,
        type: IMPORT_TYPES[values.format] });
      report.innerHTML = `<p class="ok">Imported ${out.imported} user${out.imported === 1 ? "" : "s"}.</p>`;
      form.reset();
      await refresh();
    } catch (error) {
      const rows = (error.errors || []).filter((e) => e.row !== undefined);
      if (!rows.length) throw error;
      report.innerHTML = importRefusal(rows);
    }
  });
}

function importRefusal(errors) {
  const count = errors.length >= REPORTED_ERRORS ? `the first ${errors.length} row errors`
    : `${errors.length} row error${errors.length === 1 ? "" : "s"}`;
  const rows = errors.map((e) => `<tr data-row="${esc(e.row)}"><td>${esc(e.row)}</td><td><code>${esc(e.field)}</code></td>
    <td>${esc(e.detail || e.message)}</td></tr>`);
  return `<p class="form-error" role="alert">Nothing was imported: ${count}. Correct them and import again.</p>
    ${table("import-errors", "Import errors", ["Row", "Field", "Problem"], rows, "")}`;
}

// --- adding and editing a user ------------------------------------------------------------------

function userForm(user) {
  const u = user || {};
  const input = (name, label, type = "text", extra = "") => `<label for="user-${name}">${label}</label>
    <input id="user-${name}" name="${name}" type="${type}" value="${esc(u[name] || "")}" ${extra}>`;
  return `<form id="user-form" class="stacked">
    ${input("user_id", "User id", "text", user ? "readonly" : "required")}
    ${input("name", "Name")}${input("email", "Email", "email")}${input("phone", "Phone (E.164, e.g. +15551234567)", "tel")}
    ${input("locale", "Locale (e.g. de-AT)")}${input("timezone", "Timezone (e.g. Europe/Berlin)")}
    <label for="user-push_tokens">Push tokens (one a line)</label>
    <textarea id="user-push_tokens" name="push_tokens" rows="2">${esc((u.push_tokens || []).join("\n"))}</textarea>
    <label for="user-data">Data (JSON)</label>
    <textarea id="user-data" name="data" rows="3">${esc(JSON.stringify(u.data || {}, null, 2))}</textarea>
    <p><button class="primary">${user ? "Save" : "Add user"}</button></p></form>`;
}

// PUT replaces the whole user: what this form does not show (browser subscriptions) is sent back as it was.
function wireUserForm(form, user, ctx) {
  onSubmit(form, async (values) => {
    const body = {
      email: values.email ?? null, phone: values.phone ?? null, name: values.name ?? null,
      locale: values.locale ?? null, timezone: values.timezone ?? null,
      push_tokens: (values.push_tokens || "").split("\n").map((t) => t.trim()).filter(Boolean),
      webpush: user ? user.webpush : [], data: parseJson(values.data, "data"),
    };
    await api(path("/v1/users/{}", values.user_id), { method: "PUT", body });
    say(user ? "Saved." : `Added ${values.user_id}.`);
    ctx.go(`#/users?${new URLSearchParams({ id: values.user_id })}`);
  });
}

// --- one user: contact, devices, preferences and inbox ------------------------------------------

async function detail(view, id, ctx) {
  const [user, prefs, categories] = await Promise.all([api(path("/v1/users/{}", id)),
    api(path("/v1/users/{}/preferences", id)), api("/v1/categories")]);
  const admin = allowed("admin");
  const fact = (label, value) => `<dt>${label}</dt><dd>${value ? esc(value) : '<span class="muted">—</span>'}</dd>`;
  view.innerHTML = `<p><a href="#/users">← All users</a></p><div class="detail" id="user-detail">
    <h1><code>${esc(user.user_id)}</code> ${esc(user.name || "")}</h1>
    <dl class="facts" id="user-contact">${fact("Email", user.email)}${fact("Phone", user.phone)}${fact("Name", user.name)}
      ${fact("Locale", user.locale)}${fact("Timezone", user.timezone)}${fact("Added", when(user.created_at))}
      ${fact("Changed", when(user.updated_at))}</dl>
    ${Object.keys(user.data).length ? `<pre>${esc(JSON.stringify(user.data, null, 2))}</pre>` : ""}
    <h2>Devices</h2>${devices(user)}
    ${admin ? `<h2>Edit</h2>${userForm(user)}` : ""}
    <h2>Preferences</h2><form id="preferences-form">${editor(prefs, categories.items,
      { unset: "tenant default", editable: admin })}${admin ? '<p><button class="primary">Save preferences</button></p>' : ""}</form>
    <h2>Inbox</h2><div id="user-inbox"></div>
    ${admin ? `<h2>Erase</h2><p class="muted">Erasing removes the contact data, devices, preferences and inbox;
      delivery counts stay, anonymised.</p><p><button id="erase-user" class="danger">Erase ${esc(user.user_id)}</button></p>` : ""}
    </div>`;
  if (admin) {
    wireUserForm(view.querySelector("#user-form"), user, ctx);
    const form = view.querySelector("#preferences-form");
    onSubmit(form, (values) => marking(form, async () => {
      await api(path("/v1/users/{}/preferences", id), { method: "PUT", body: preferences(values) });
      say("Preferences saved.");
    }));
    onClick(view.querySelector("#erase-user"), async () => {
      if (!confirm(`Erase ${id}? Their contact data, devices, preferences and inbox are deleted for good.`)) return;
      await api(path("/v1/users/{}", id), { method: "DELETE" });
      say(`Erased ${id}.`);
      ctx.go("#/users");
    });
  }
  await inbox(id);
}

function devices(user) {
  const tokens = user.push_tokens.map((t) => `<li><span class="badge">push token</span> <code>${esc(t)}</code></li>`);
  const browsers = user.webpush.map((s) => `<li><span class="badge">browser</span> <code>${esc(s.endpoint)}</code></li>`);
  const all = [...tokens, ...browsers];
  return all.length ? `<ul id="user-devices" class="plain">${all.join("")}</ul>`
    : '<div class="empty" id="user-devices-empty">No devices: an app registers its push token or browser subscription with PUT /v1/users/{user_id}.</div>';
}

async function inbox(id) {
  const page = await api(`${path("/v1/users/{}/inbox", id)}?limit=${INBOX_SIZE}`);
  const unread = page.items.filter((i) => !i.read_at).length;
  const rows = page.items.map((i) => `<tr data-item="${esc(i.id)}"><td>${esc(when(i.created_at))}</td>
    <td><strong>${esc(i.title || "")}</strong> ${esc(i.body || "")}</td><td>${esc(i.category || "")}</td>
    <td class="state">${i.read_at ? `read ${esc(when(i.read_at))}` : badge("unread")}</td>
    <td>${i.read_at ? "" : "<button data-read>Mark read</button>"}</td></tr>`);
  const target = document.getElementById("user-inbox");
  target.innerHTML = `${unread ? `<p>${unread} unread <button id="read-all">Mark all read</button></p>` : ""}
    ${table("inbox", "Inbox", ["Received", "Message", "Category", "State", ""], rows,
      "The inbox is empty: notifications sent on the inapp channel land here.")}`;
  onClick(document.getElementById("read-all"), async () => {
    await api(path("/v1/users/{}/inbox/read-all", id), { method: "POST" });
    say("All read.");
    await inbox(id);
  });
  for (const row of target.querySelectorAll("tr[data-item]")) {
    onClick(row.querySelector("[data-read]"), async () => {
      await api(path("/v1/users/{}/inbox/{}/read", id, row.dataset.item), { method: "POST" });
      await inbox(id);
    });
  }
}

export default { path: "users", title: "Users", role: "member", render };
