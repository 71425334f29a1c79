// Members (admins and up): the people who sign in to this tenant, invited with a one-time link,
// given a role, sent a new link, removed.
import { ROLES, allowed, api, caller, path } from "../api.js";
import { esc, onChange, onClick, onSubmit, say, showOnce, table, when } from "../ui.js";

const LINK_WARNING = "Send it to them now: it works once, expires, and is not shown again.";

async function render(view, params, ctx) {
  const { items } = await api("/v1/members");
  // As with keys: an admin manages admins and members, an owner everyone.
  const roles = ROLES.filter((role) => allowed(role));
  const rows = items.map((m) => {
    const managed = roles.includes(m.role);
    const role = managed ? `<select data-role aria-label="role of ${esc(m.email)}">${roles.map((r) =>
      `<option ${r === m.role ? "selected" : ""}>${r}</option>`).join("")}</select>` : esc(m.role);
    return `<tr data-member="${esc(m.member_id)}"><td>${esc(m.email)}</td><td>${role}</td>
      <td>${m.password_set ? "yes" : '<span class="muted">not yet: invited</span>'}</td><td>${esc(when(m.created_at))}</td>
      <td>${managed ? "<button type=\"button\" data-reset>New link</button> <button type=\"button\" data-remove>Remove</button>"
        : ""}</td></tr>`;
  });
  view.innerHTML = `<h1>Members</h1>
    <form id="member-form" class="toolbar" aria-label="Invite a member">
      <input name="email" type="email" required placeholder="email" aria-label="email" autocomplete="off">
      <select name="role" aria-label="role">${roles.map((r) => `<option ${r === "member" ? "selected" : ""}>${r}</option>`)
        .join("")}</select>
      <button type="submit" class="primary">Invite</button></form>
    <div id="invite-url" class="detail" role="status" hidden></div>
    ${table("members", "Members", ["Email", "Role", "Password set", "Created", ""], rows,
      "Nobody signs in to this tenant yet: invite someone above and send them the link.")}`;
  onSubmit(document.getElementById("member-form"), async (values) => {
    const made = await api("/v1/members", { method: "POST", body: values });
    await render(view, params, ctx);
    showOnce(document.getElementById("invite-url"), `Invite link for ${values.email}:`, made.invite_url, LINK_WARNING);
  });
  for (const row of view.querySelectorAll("tr[data-member]")) wire(row, items, ctx);
}

function wire(row, items, ctx) {
  const id = row.dataset.member;
  const { email, role } = items.find((m) => m.member_id === id);
  // A change to the caller's own membership changes what they may see.
  const settled = () => (id === caller.current.member_id ? window.dispatchEvent(new Event("alertflow:caller"))
    : ctx.go("#/members"));
  const select = row.querySelector("[data-role]");
  onChange(select, async () => {
    try {
      await api(path("/v1/members/{}", id), { method: "PATCH", body: { role: select.value } });
    } catch (error) {
      select.value = role;
      throw error;
    }
    say(`${email} is now ${select.value}.`);
    settled();
  });
  onClick(row.querySelector("[data-reset]"), async () => {
    const { invite_url: url } = await api(path("/v1/members/{}/reset", id), { method: "POST" });
    const box = document.getElementById("invite-url");
    showOnce(box, `New link for ${email} (earlier links stop working):`, url, LINK_WARNING);
    box.scrollIntoView({ block: "nearest" });
  });
  onClick(row.querySelector("[data-remove]"), async () => {
    if (!confirm(`Remove ${email}? Their sessions end at once.`)) return;
    await api(path("/v1/members/{}", id), { method: "DELETE" });
    say(`${email} is removed.`);
    settled();
  });
}

export default { path: "members", title: "Members", role: "admin", render };
