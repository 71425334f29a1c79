// Every dashboard page, in the order the navigation lists them. A page is a module whose
// default export is {path, title, role, render(view, params, ctx)}: `role` is the lowest role
// that sees it ("operator" for operators only), and the API refuses the same callers anyway.
import overview from "./overview.js";
import history from "./history.js";
import send from "./send.js";
import templates from "./templates.js";
import users from "./users.js";
import topics from "./topics.js";
import schedules from "./schedules.js";
import batches from "./batches.js";
import dlq from "./dlq.js";
import outbox from "./outbox.js";
import channels from "./channels.js";
import keys from "./keys.js";
import members from "./members.js";
import tenants from "./tenants.js";
import settings from "./settings.js";

export default [
  overview,
  history,
  send,
  templates,
  users,
  topics,
  schedules,
  batches,
  dlq,
  outbox,
  channels,
  keys,
  members,
  tenants,
  settings,
];
