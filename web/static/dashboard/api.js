// The dashboard's one way to the REST API: as a member signed in at /login (cookie plus the
// session's CSRF token on every change) or with an API key kept in this browser.
const KEY = "alertflow.apiKey";

export const ROLES = ["member", "admin", "owner"];

// Who is calling, from GET /v1/session: {tenant_id, role, operator, member_id, email, csrf_token}.
export const caller = { current: null };

export class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.errors = body.errors || [];
  }
}

export const storedKey = () => localStorage.getItem(KEY);
export const keepKey = (key) => localStorage.setItem(KEY, key);
export const forgetKey = () => localStorage.removeItem(KEY);

// body: an object (sent as JSON), a string with options.type (sent as is), or undefined.
export async function api(path, options = {}, key = storedKey()) {
  const signedIn = caller.current && caller.current.csrf_token;
  if (!key && !signedIn) throw new Error("Sign in or enter an API key first.");
  const method = options.method || "GET";
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  if (!key && method !== "GET") headers["X-CSRF-Token"] = caller.current.csrf_token;
  let body = options.body;
  if (body !== undefined) {
    headers["Content-Type"] = options.type || "application/json";
    if (!options.type) body = JSON.stringify(body);
  }
  const resp = await fetch(path, { method, headers, body });
  if (resp.status === 204) return null;
  const answer = await resp.json().catch(() => ({ title: `HTTP ${resp.status}` }));
  if (!resp.ok) throw new Problem(resp.status, answer);
  return answer;
}

// Whether the caller's role is at least `role` ("operator" asks for an operator's session).
export function allowed(role) {
  const who = caller.current;
  if (!who) return false;
  if (role === "operator") return who.operator;
  return ROLES.indexOf(who.role) >= ROLES.indexOf(role);
}

export const path = (template, ...parts) =>
  template.replace(/\{\}/g, () => encodeURIComponent(parts.shift()));
