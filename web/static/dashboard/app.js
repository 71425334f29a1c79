// The dashboard: a shell that signs the visitor in, lists the pages their role may use and
// shows one at a time. Every page is a module in pages/ (listed in pages/index.js) and talks
// to the public REST API like any other client.
import { allowed, api, caller, forgetKey, keepKey, storedKey } from "./api.js";
import { esc, say } from "./ui.js";
import PAGES from "./pages/index.js";

const view = document.getElementById("view");
// A pasted key is tried on this (any key may read it) before it is kept.
const KEY_CHECK = "/v1/session";
// Sign-in sets a cookie this script may read beside the session's (which it may not): only
// then is there a session to ask about.
const SIGNED_IN = "alertflow_csrf=";

const visible = () => PAGES.filter((page) => allowed(page.role));

function drawNav() {
  const nav = document.getElementById("pages");
  nav.innerHTML = visible().map((page) => `<a href="#/${page.path}">${esc(page.title)}</a>`).join("");
  nav.hidden = !caller.current;
}

// What a page started that outlives its first drawing (a timer, a socket) ends when the
// visitor leaves the page.
let leaving = [];
// Each visit to a page draws into a box of its own: a page still loading when the visitor
// has moved on draws into its detached box, never over the page that followed it.
let visits = 0;

function context(params, visit) {
  const current = () => visit === visits;
  return {
    params,
    current,
    every(ms, action) {
      if (!current()) return;
      const timer = setInterval(() => action().catch(() => {}), ms);
      leaving.push(() => clearInterval(timer));
    },
    onLeave(action) {
      if (current()) leaving.push(action);
      else action();
    },
    go(hash) {
      if (!current()) return;
      if (location.hash === hash) route();
      else location.hash = hash;
    },
  };
}

async function route() {
  for (const stop of leaving) stop();
  leaving = [];
  const visit = ++visits;
  const box = document.createElement("div");
  view.replaceChildren(box);
  const [name, query] = (location.hash.replace(/^#\//, "") || "overview").split("?");
  if (!caller.current) {
    box.innerHTML = '<div class="empty">Enter an API key above (<code>alertflow init</code> prints one),'
      + ' or <a href="/login">sign in</a>.</div>';
    return;
  }
  const page = visible().find((p) => p.path === name);
  for (const link of document.querySelectorAll("#pages a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#/${name}`);
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!page) {
    box.innerHTML = `<div class="empty" id="no-page">There is no page “${esc(name)}” for your role.
      <a href="#/overview">Go to the overview</a>.</div>`;
    return;
  }
  document.title = `${page.title} · AlertFlow`;
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  try {
    await page.render(box, params, context(params, visit));
  } catch (error) {
    if (visit === visits) box.innerHTML = `<div class="empty" role="alert">${esc(error.message)}</div>`;
  }
}

function showCaller() {
  const who = caller.current;
  document.getElementById("key-form").hidden = Boolean(who && who.csrf_token);
  document.getElementById("forget-key").hidden = !storedKey();
  const signout = document.getElementById("signout");
  signout.hidden = !(who && who.csrf_token);
  if (who && who.csrf_token) {
    document.getElementById("who").textContent = `${who.email} · ${who.operator ? "operator" : who.role}`;
    signout.querySelector("[name=csrf_token]").value = who.csrf_token;
  }
  const tenant = document.getElementById("tenant");
  tenant.hidden = !who;
  if (who) tenant.textContent = `tenant ${who.tenant_name || who.tenant_id}`;
  drawNav();
}

document.getElementById("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("api-key");
  const key = input.value.trim();
  if (!key) {
    say("Paste an API key first.", true);
    return;
  }
  // A key is kept only once the server has taken it: a refused one is neither stored nor announced as saved.
  try {
    caller.current = await api(KEY_CHECK, {}, key);
  } catch (error) {
    say(`Key not saved: ${error.message}`, true);
    input.select();
    return;
  }
  keepKey(key);
  input.value = "";
  say("Key saved in this browser.");
  showCaller();
  route();
});

document.getElementById("forget-key").addEventListener("click", () => {
  forgetKey();
  caller.current = null;
  showCaller();
  route();
});

// Pages call this after switching tenant or revoking the key in use.
window.addEventListener("alertflow:caller", async () => {
  await whoIsCalling();
  showCaller();
  route();
});
window.addEventListener("hashchange", route);

async function whoIsCalling() {
  caller.current = null;
  if (storedKey()) {
    try {
      caller.current = await api(KEY_CHECK);
      return;
    } catch {
      forgetKey();  // revoked or from another server
    }
  }
  if (!document.cookie.split("; ").some((c) => c.startsWith(SIGNED_IN))) return;
  const resp = await fetch("/v1/session");
  if (resp.ok) caller.current = await resp.json();
  else document.cookie = `${SIGNED_IN}; Max-Age=0; Path=/`;  // the session has ended
}

whoIsCalling().then(() => {
  showCaller();
  route();
});
