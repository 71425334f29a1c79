import { allowed, api, path } from "../api.js";
import { CHANNELS, badge, esc, onClick, onSubmit, parseJson, say, table, when } from "../ui.js";

// The fields the editor owns; the rest of a schedule as GET shows it (priority, a template
// version...) goes back unchanged on a save, as PUT /v1/schedules/{id} takes it.
const OWNED = ["name", "cron", "timezone", "topic", "to", "template", "content", "data", "channels", "category"];
// A new schedule starts as a weekly Monday-morning send in the visitor's own zone.
const NEW_CRON = "0 9 * * 1";
// Waits this long after the last keystroke before asking for a preview of the firings.
const PREVIEW_DELAY_MS = 300;

// IANA zones the browser knows, plus UTC (not listed by every browser) and the schedule's own
// (it may be an alias such as Asia/Calcutta that the canonical list leaves out).
function zones(current) {
  return [...new Set([...Intl.supportedValuesOf("timeZone"), "UTC", current])].sort();
}

// A firing as the wall-clock time in the schedule's zone, with the zone's abbreviation.
const inZone = (iso, timeZone) => new Intl.DateTimeFormat(undefined, { timeZone, weekday: "short",
  day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" })
  .format(new Date(iso));

function firesHtml(fires, timeZone, paused) {
  if (paused) return '<p class="muted" id="next-fires-paused">Paused: it fires again after Resume.</p>';
  return `<h2>Next five firings <span class="muted">in ${esc(timeZone)}</span></h2><ol id="next-fires">
    ${fires.map((f) => `<li><time datetime="${esc(f)}">${esc(inZone(f, timeZone))}</time></li>`).join("")}</ol>`;
}

const jsonText = (value) => (value === undefined ? "" : esc(JSON.stringify(value, null, 2)));

function editorHtml(s, templates, admin) {
  const field = (name, label, input) => `<label for="schedule-${name}">${label}</label>${input}`;
  const text = (name, placeholder, attributes = "") => `<input id="schedule-${name}" name="${name}"
    value="${esc(s[name] ?? "")}" placeholder="${esc(placeholder)}" ${attributes}>`;
  const area = (name, placeholder) => `<textarea id="schedule-${name}" name="${name}" rows="4" class="wide"
    placeholder="${esc(placeholder)}">${jsonText(s[name])}</textarea>`;
  const channels = CHANNELS.map((c) => `<label class="check"><input type="checkbox" name="channels" value="${c}"
    ${(s.channels || []).includes(c) ? "checked" : ""}> ${c}</label>`).join("");
  return `<form id="schedule-editor" class="stacked" data-id="${esc(s.id || "")}">
    <h2>${s.id ? `Schedule ${esc(s.name)}` : "New schedule"}</h2><fieldset ${admin ? "" : "disabled"}>
    ${field("name", "Name", text("name", "weekly digest"))}
    ${field("cron", "Cron (minute hour day month weekday; weekdays from Sunday = 0)", text("cron", NEW_CRON))}
    ${field("timezone", "Timezone", `<select id="schedule-timezone" name="timezone">${zones(s.timezone)
      .map((z) => `<option ${z === s.timezone ? "selected" : ""}>${esc(z)}</option>`).join("")}</select>`)}
    ${field("topic", "Topic (its subscribers), or…", text("topic", "news"))}
    ${field("to", "…recipients (JSON list)", area("to", '[{"user_id": "ann"}, {"email": "bob@example.com"}]'))}
    ${field("template", "Template, or…", `${text("template", "weekly-digest", 'list="schedule-templates"')}
      <datalist id="schedule-templates">${templates.map((t) => `<option value="${esc(t.key)}">`).join("")}</datalist>`)}
    ${field("content", "…content (JSON, per channel)", area("content", '{"email": {"subject": "…", "text": "…"}}'))}
    ${field("data", "Data (JSON)", area("data", '{"week": 12}'))}
    <fieldset class="channels"><legend>Channels (none: the template's)</legend>${channels}</fieldset>
    ${field("category", "Category", text("category", "default"))}
    </fieldset>${admin ? `<p class="toolbar"><button class="primary" type="submit">${s.id ? "Save" : "Create"}</button>
    <a href="#/schedules">Close</a></p>` : ""}</form>`;
}

// The body to send: the schedule as it was, with what the form says in place of its fields.
function bodyOf(form, schedule) {
  const kept = Object.fromEntries(Object.entries(schedule).filter(([k]) => !OWNED.includes(k)));
  const value = (name) => form.elements[name].value.trim();
  const body = { ...kept, name: value("name"), cron: value("cron"), timezone: value("timezone") };
  for (const name of ["topic", "template", "category"]) if (value(name)) body[name] = value(name);
  for (const name of ["to", "content", "data"]) if (value(name)) body[name] = parseJson(value(name), name);
  const channels = [...form.querySelectorAll("[name=channels]:checked")].map((c) => c.value);
  if (channels.length) body.channels = channels;
  return body;
}

// Shows the next firings of the cron and zone being typed, or the problem the API names.
function previewing(form, fires) {
  let timer = 0;
  let asked = 0;
  const preview = async () => {
    const mine = ++asked;
    const cron = form.elements.cron.value.trim();
    const timezone = form.elements.timezone.value;
    for (const name of ["cron", "timezone"]) form.elements[name].removeAttribute("aria-invalid");
    try {
      const out = await api(`/v1/schedules/preview?${new URLSearchParams({ cron, timezone })}`);
      if (mine === asked) fires.innerHTML = firesHtml(out.next_fires, out.timezone, false);
    } catch (error) {
      if (mine !== asked) return;
      fires.innerHTML = `<p class="form-error" id="next-fires-problem" role="alert">${esc(error.message)}</p>`;
      for (const { field } of error.errors || []) form.elements[field]?.setAttribute("aria-invalid", "true");
    }
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(preview, PREVIEW_DELAY_MS);
  };
  form.elements.cron.addEventListener("input", soon);
  form.elements.timezone.addEventListener("change", preview);
  return preview;
}

async function openEditor(schedule, ctx) {
  const admin = allowed("admin");
  const templates = admin ? (await api("/v1/templates")).items : [];
  const target = document.getElementById("schedule");
  target.innerHTML = `<div class="detail grid2">${editorHtml(schedule, templates, admin)}<div id="fires"></div></div>`;
  const form = document.getElementById("schedule-editor");
  const fires = document.getElementById("fires");
  target.scrollIntoView({ block: "start" });
  if (!admin) {
    fires.innerHTML = firesHtml(schedule.next_fires, schedule.timezone, schedule.paused);
    return;
  }
  const preview = previewing(form, fires);
  if (schedule.id) fires.innerHTML = firesHtml(schedule.next_fires, schedule.timezone, schedule.paused);
  else await preview();
  onSubmit(form, async () => {
    const body = bodyOf(form, schedule);
    const saved = schedule.id
      ? await api(path("/v1/schedules/{}", schedule.id), { method: "PUT", body })
      : await api("/v1/schedules", { method: "POST", body });
    say(schedule.id ? "Saved." : "Created.");
    ctx.go(`#/schedules?id=${encodeURIComponent(saved.id)}`);
  });
}

function rowHtml(x, admin) {
  return `<tr data-schedule="${esc(x.id)}"><td><a href="#/schedules?id=${encodeURIComponent(x.id)}">${esc(x.name || x.id)}</a></td>
    <td><code>${esc(x.cron)}</code> ${esc(x.timezone)}</td><td>${esc(x.template || "content")}
    → ${esc(x.topic ? `topic ${x.topic}` : `${x.recipients} recipients`)}</td>
    <td>${x.paused ? badge("paused") : esc(when(x.next_fire_at))}</td>
    <td>${x.last_batch_id ? `<a href="#/batches?id=${encodeURIComponent(x.last_batch_id)}">${esc(when(x.last_fire_at))}</a>`
      : "—"}${x.last_error ? ` <span class="badge failed">${esc(x.last_error)}</span>` : ""}</td>
    <td>${admin ? `<button data-toggle>${x.paused ? "Resume" : "Pause"}</button> <button data-delete>Delete</button>` : ""}</td></tr>`;
}

async function render(view, params, ctx) {
  const list = await api("/v1/schedules");
  const admin = allowed("admin");
  view.innerHTML = `<h1>Schedules</h1>${admin ? '<p class="toolbar"><button id="new-schedule" class="primary">New schedule</button></p>' : ""}
    ${table("schedules", "Schedules", ["Name", "When", "What", "Next", "Last batch", ""], list.items.map((x) => rowHtml(x, admin)),
      admin ? "No schedules yet: New schedule sends a message at the times a cron names."
        : "No schedules yet: an admin creates them.")}<div id="schedule"></div>`;
  onClick(document.getElementById("new-schedule"), () => openEditor({ cron: NEW_CRON,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone }, ctx));
  for (const row of view.querySelectorAll("tr[data-schedule]")) {
    const id = row.dataset.schedule;
    const toggle = row.querySelector("[data-toggle]");
    const paused = toggle?.textContent === "Resume";
    onClick(toggle, async () => {
      await api(path(`/v1/schedules/{}/${paused ? "resume" : "pause"}`, id), { method: "POST" });
      say(paused ? "Resumed." : "Paused.");
      ctx.go(location.hash);
    });
    onClick(row.querySelector("[data-delete]"), async () => {
      if (!confirm(`Delete schedule “${row.querySelector("a").textContent}”? Batches it already sent stay.`)) return;
      await api(path("/v1/schedules/{}", id), { method: "DELETE" });
      say("Deleted.");
      ctx.go("#/schedules");
    });
  }
  if (params.id) await openEditor(await api(path("/v1/schedules/{}", params.id)), ctx);
}

export default { path: "schedules", title: "Schedules", role: "member", render };
