// Every dashboard page, in the order the navigation lists them. A page is a module whose
// default export is {path, title, role, render(view, params, ctx)}: `role` is the lowest role
// that sees it ("operator" for operators only), and the API refuses the same callers anyway.
import overview from "./overview.js";
import history from "./history.js";
import send from "./send.js";
import templates from "./templates.js";
import schedules from "./schedules.js";
import dlq from "./dlq.js";

export default [
  overview,
  history,
  send,
  templates,
  schedules,
  dlq,
];
