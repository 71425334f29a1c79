// A rendered message shown as its recipient would get it: an email's HTML in a sandboxed frame
// beside its text part, an SMS with how it travels, a push notification as a phone shows it.
// Used by the Outbox and by History's detail.
import { esc } from "./ui.js";

// The email's HTML is the tenant's (and its data's): sandbox="" gives the frame no scripts, no
// forms and an opaque origin. Given its signed preview URL (the Outbox's items carry one), the
// server sends it under a policy of its own that lets its inline styles apply; without one,
// srcdoc keeps the page's own policy on it (its structure and text, unstyled). Either way no
// remote image loads that would tell a tracker the message was opened.
const emailFrame = (html, url) => url
  ? `<iframe sandbox="" class="preview" src="${esc(url)}" title="The email's HTML part"></iframe>`
  : `<iframe sandbox="" class="preview" title="The email's HTML part" srcdoc="${esc(html)}"></iframe>`;

// Whether the email asks for anything from elsewhere (an image, a background): a source that is
// not inline (data:) nor a part of the message (cid:). Read as text: a DOMParser here would
// hold the email's style attributes to the dashboard's own policy, a console error for each.
const REMOTE = /(?:\b(?:src|srcset|background)\s*=\s*["']?|url\(\s*["']?)\s*(?!data:|cid:)[^\s"'>)]/i;
const remoteImages = (html) => REMOTE.test(html);

const remoteNote = '<p class="muted remote-images">Remote images are not loaded: opening this preview tells no'
  + " tracker that the email was read.</p>";

function email(content, recipient, previewUrl) {
  const head = [
    ["From", content.from || "the sending provider's address"],
    ["To", recipient?.email || "—"],
    ["Subject", content.subject || "—"],
  ];
  return `<dl class="message-head">${head.map(([k, v]) => `<dt>${k}</dt><dd>${esc(v)}</dd>`).join("")}</dl>
    ${content.html ? emailFrame(content.html, previewUrl) : '<p class="muted">No HTML part.</p>'}
    ${content.html && remoteImages(content.html) ? remoteNote : ""}
    <h3>Text part</h3><pre class="text-part">${esc(content.text || "")}</pre>`;
}

function sms(content, recipient, info) {
  const travels = info ? `<p class="sms-info"><span class="encoding">${esc(info.encoding)}</span> ·
    <span class="segments">${info.segments} segment${info.segments === 1 ? "" : "s"}</span> ·
    ${info.characters} characters</p>` : "";
  return `<p class="muted">To ${esc(recipient?.phone || "—")}</p><div class="sms-bubble">${esc(content.body || "")}</div>${travels}`;
}

// A push notification on a phone's screen; an in-app item is drawn the same, with its link as
// text (the tenant's URL is shown, not followed).
function card(content, label) {
  const data = Object.entries(content.data || {});
  return `<div class="phone" role="group" aria-label="${label}"><div class="push-card">
    <strong class="push-title">${esc(content.title || "")}</strong><p class="push-body">${esc(content.body || "")}</p>
    ${content.action_url ? `<p class="push-action muted">→ ${esc(content.action_url)}</p>` : ""}
    ${data.length ? `<dl class="push-data">${data.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(typeof v === "string" ? v
      : JSON.stringify(v))}</dd>`).join("")}</dl>` : ""}</div></div>`;
}

// `info` is the server's word on how an SMS travels (GET /v1/outbox and a notification's
// rendered SMS carry it), when there is one; `previewUrl` an email's signed preview
// (GET /v1/outbox's preview_url).
export function message(channel, content, recipient, info, previewUrl) {
  if (channel === "email") return email(content, recipient, previewUrl);
  if (channel === "sms") return sms(content, recipient, info);
  if (channel === "push") return card(content, "Push notification preview");
  if (channel === "inapp") return card(content, "In-app item preview");
  return `<pre>${esc(JSON.stringify(content, null, 2))}</pre>`;
}
