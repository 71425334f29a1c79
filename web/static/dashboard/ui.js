// Small pieces every page builds with: escaping, badges, tables, forms and messages.
export const STATUSES = ["scheduled", "queued", "sending", "sent", "delivered", "failed", "suppressed", "dead",
  "cancelled", "digested"];
export const CHANNELS = ["email", "sms", "push", "inapp", "webhook"];
// The queue's priorities, most urgent first (delivery/queue.py PRIORITIES).
export const PRIORITIES = ["high", "medium", "low"];

export const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
export const badge = (status) => `<span class="badge ${esc(status)}">${esc(status)}</span>`;
export const json = (value) => esc(JSON.stringify(value, null, 2));

// Tables scroll sideways in a box of their own, so a narrow screen never scrolls the page.
export const scroller = (label, table) =>
  `<div class="scroll" tabindex="0" role="region" aria-label="${esc(label)}">${table}</div>`;

// A table from column headings and row cells (already escaped HTML), or an empty state that
// says what to do next.
export function table(id, label, headings, rows, empty) {
  if (!rows.length) return `<div class="empty" id="${esc(id)}-empty">${empty}</div>`;
  const head = `<tr>${headings.map((h) => `<th scope="col">${esc(h)}</th>`).join("")}</tr>`;
  return scroller(label, `<table id="${esc(id)}">${head}${rows.join("")}</table>`);
}

export function say(message, error = false) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.classList.toggle("error", error);
  status.classList.add("shown");
  clearTimeout(say.timer);
  say.timer = setTimeout(() => status.classList.remove("shown"), error ? 8000 : 3500);
}

// A form's fields as an object, leaving out the empty ones.
export function fields(form) {
  return Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== ""));
}

// Runs `action` when the form is submitted and shows what went wrong inside the form: the
// problem's message, and each field it names marked invalid.
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const marked of form.querySelectorAll("[aria-invalid]")) marked.removeAttribute("aria-invalid");
    let out = form.querySelector(".form-error");
    if (!out) {
      out = document.createElement("p");
      out.className = "form-error";
      out.setAttribute("role", "alert");
      form.append(out);
    }
    out.textContent = "";
    const button = form.querySelector("button[type=submit], button:not([type])");
    if (button) button.disabled = true;
    try {
      await action(fields(form), form);
    } catch (error) {
      out.textContent = error.message;
      for (const { field } of error.errors || []) {
        form.querySelector(`[name="${CSS.escape(field.split(".")[0])}"]`)?.setAttribute("aria-invalid", "true");
      }
    } finally {
      if (button) button.disabled = false;
    }
  });
}

// Parses a JSON text area, naming the field when it is not JSON.
export function parseJson(text, field) {
  try {
    return JSON.parse(text || "{}");
  } catch (error) {
    throw Object.assign(new Error(`${field}: not valid JSON (${error.message})`), { errors: [{ field }] });
  }
}

// Wires a button that does one thing, with its failure said instead of lost.
export function onClick(element, action) {
  element?.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      await action(event);
    } catch (error) {
      say(error.message, true);
    }
  });
}

// Wires a control whose change does one thing (a select that sets a role), its failure said.
export function onChange(element, action) {
  element?.addEventListener("change", async (event) => {
    try {
      await action(event);
    } catch (error) {
      say(error.message, true);
    }
  });
}

// Shows in `box` what the server gives out only once (a new key, a one-time link): the value
// as text, a button that copies it, and a warning that it will not be shown again.
export function showOnce(box, label, value, warning) {
  box.innerHTML = `<p>${esc(label)}</p><p class="once"><code>${esc(value)}</code>
    <button type="button" data-copy>Copy</button></p><p class="warning">${esc(warning)}</p>`;
  box.hidden = false;
  onClick(box.querySelector("[data-copy]"), async () => {
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(value);
    } else {
      // Plain http to a host other than localhost has no clipboard API: copy the selection.
      getSelection().selectAllChildren(box.querySelector("code"));
      document.execCommand("copy");
    }
    say("Copied.");
  });
}

// A table row that opens something: on a click or Enter (rows are focusable), but not when the
// click or key was meant for a link or control inside the row.
export function onOpen(row, open) {
  const own = (event) => !event.target.closest("a, button, input, select, textarea");
  row.addEventListener("click", (event) => { if (own(event)) open(); });
  row.addEventListener("keydown", (event) => { if (event.key === "Enter" && own(event)) open(); });
}
