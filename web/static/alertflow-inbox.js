/*
 * AlertFlow inbox widget: a bell with an unread badge and a list of in-app notifications,
 * kept live over AlertFlow's WebSocket. Plain JavaScript, no dependencies, no build step.
 *
 *   <span id="bell"></span>
 *   <script src="https://alerts.example.com/static/alertflow-inbox.js"
 *           data-token="TOKEN" data-target="#bell"></script>   (optional: data-url="https://...")
 *
 * or, from your own code:  AlertFlowInbox.mount(element, {token, url, getToken})
 *
 * TOKEN comes from POST /v1/users/{user_id}/inbox-token, made by your backend per page view.
 * `url` defaults to the origin this script was loaded from; `getToken` (an async function
 * returning a fresh token) is called before each reconnect, for pages open longer than a
 * token lives. The mounted element's `data-state` is "connecting", "connected" or
 * "disconnected", for styling and tests.
 */
(function () {
  "use strict";

  // Loaded as a classic script, this is the <script> element itself (null later on).
  const script = document.currentScript;
  // Reconnect delays double from the first to the last, each with jitter, so the tabs of
  // every user do not come back in one wave after a server restart.
  const RETRY_FIRST_MS = 1000;
  const RETRY_MAX_MS = 30000;
  // The list shows this many of the newest items.
  const MAX_ITEMS = 50;
  const PANEL_WIDTH_PX = 340;

  const STYLE = `
    :host { position: relative; display: inline-block; font: 14px/1.4 system-ui, sans-serif;
            --af-accent: #d93025; --af-bg: #fff; --af-fg: #202124; --af-muted: #5f6368; }
    button { font: inherit; cursor: pointer; }
    .bell { position: relative; background: none; border: 0; padding: 6px; color: var(--af-fg); }
    .bell svg { width: 24px; height: 24px; display: block; }
    .badge { position: absolute; top: 0; right: 0; min-width: 18px; height: 18px; padding: 0 4px;
             box-sizing: border-box; border-radius: 9px; background: var(--af-accent); color: #fff;
             font-size: 11px; font-weight: 600; line-height: 18px; text-align: center; }
    .panel { position: absolute; right: 0; z-index: 1000; width: min(${PANEL_WIDTH_PX}px, calc(100vw - 16px));
             max-height: 420px; overflow: auto;
             background: var(--af-bg); color: var(--af-fg); border: 1px solid #dadce0; border-radius: 8px;
             box-shadow: 0 4px 16px rgba(0, 0, 0, .15); }
    .head { display: flex; justify-content: space-between; align-items: center; padding: 10px 12px;
            border-bottom: 1px solid #eee; }
    .head button, .item button { background: none; border: 0; color: #1a73e8; padding: 2px 4px; }
    .head button:disabled { color: var(--af-muted); cursor: default; }
    ul { list-style: none; margin: 0; padding: 0; }
    .item { padding: 10px 12px; border-bottom: 1px solid #f1f3f4; }
    .item.unread { background: #f1f6fe; }
    .item.unread .title { font-weight: 600; }
    .title { color: inherit; text-decoration: none; }
    a.title:hover { text-decoration: underline; }
    .body { margin: 2px 0; color: var(--af-muted); }
    .meta { display: flex; justify-content: space-between; align-items: center; font-size: 12px;
            color: var(--af-muted); }
    .empty { padding: 16px 12px; margin: 0; color: var(--af-muted); text-align: center; }
    .panel.from-left { left: 0; right: auto; }
    .settings { padding: 8px 12px; }
    .settings table { border-collapse: collapse; width: 100%; font-size: 12px; }
    .settings th, .settings td { padding: 4px 2px; text-align: center; }
    .settings th[scope="row"] { text-align: left; font-weight: 400; }
    [hidden] { display: none !important; }`;

  const BELL_SVG =
    '<svg viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="M12 22a2.5 2.5 0 0 0 ' +
    '2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 ' +
    '5 11v5l-2 2v1h18v-1l-2-2z"/></svg>';

  function socketUrl(base, token, since) {
    const url = new URL("/v1/inbox/ws", base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", token);
    if (since) url.searchParams.set("since", since);
    return url.href;
  }

  // Only web links become clickable: an action_url of "javascript:..." must not run.
  function webLink(href) {
    try {
      const url = new URL(href, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function mount(host, options) {
    const base = options.url || (script && script.src ? new URL(script.src).origin : location.origin);
    const items = new Map(); // id -> item; ids sort by creation time
    let token = options.token;
    let unread = 0;
    let socket = null;
    let retryMs = RETRY_FIRST_MS;
    let retryTimer = null;
    let stopped = false;

    const root = host.attachShadow({ mode: "open" });
    root.innerHTML =
      `<style>${STYLE}</style>` +
      `<button class="bell" type="button" aria-haspopup="true" aria-expanded="false">${BELL_SVG}` +
      '<span class="badge" hidden></span></button>' +
      '<div class="panel" role="region" aria-label="Notifications" hidden>' +
      '<div class="head"><strong>Notifications</strong>' +
      '<span><button class="all" type="button">Mark all read</button>' +
      '<button class="gear" type="button" aria-pressed="false">Settings</button></span></div>' +
      '<div class="settings" hidden><p>Loading…</p></div>' +
      '<ul class="list"></ul><p class="empty">You are all caught up.</p></div>';
    const bell = root.querySelector(".bell");
    const badge = root.querySelector(".badge");
    const panel = root.querySelector(".panel");
    const list = root.querySelector(".list");
    const empty = root.querySelector(".empty");
    const markAll = root.querySelector(".all");
    const gear = root.querySelector(".gear");
    const settings = root.querySelector(".settings");

    function send(message) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    }

    function renderItem(item) {
      const li = element("li", item.read_at ? "item" : "item unread");
      const href = item.action_url && webLink(item.action_url);
      const title = element(href ? "a" : "div", "title", item.title || "Notification");
      if (href) {
        title.href = href;
        title.addEventListener("click", () => send({ type: "read", id: item.id }));
      }
      li.append(title);
      if (item.body) li.append(element("p", "body", item.body));
      const meta = element("div", "meta");
      meta.append(element("time", "", new Date(item.created_at).toLocaleString()));
      const actions = element("span");
      if (!item.read_at) {
        const read = element("button", "read", "Mark read");
        read.type = "button";
        read.setAttribute("aria-label", `Mark read: ${item.title || "notification"}`);
        read.addEventListener("click", () => send({ type: "read", id: item.id }));
        actions.append(read);
      }
      const dismiss = element("button", "archive", "Dismiss");
      dismiss.type = "button";
      dismiss.setAttribute("aria-label", `Dismiss: ${item.title || "notification"}`);
      dismiss.addEventListener("click", () => send({ type: "archive", id: item.id }));
      actions.append(dismiss);
      meta.append(actions);
      li.append(meta);
      return li;
    }

    function render() {
      badge.textContent = unread > 99 ? "99+" : String(unread);
      badge.hidden = unread === 0;
      bell.setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
      markAll.disabled = unread === 0;
      const newestFirst = [...items.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
      list.replaceChildren(...newestFirst.map(renderItem));
      empty.hidden = items.size > 0 || !settings.hidden;
    }

    // The settings view: a category per row, a channel per column; categories the tenant does
    // not let people turn off (otp) show as always on.
    function renderChoices(message) {
      const table = element("table");
      const head = element("tr");
      head.append(element("th", "", "Category"), ...message.channels.map((ch) => element("th", "", ch)));
      table.append(head);
      for (const category of message.categories) {
        const row = element("tr");
        const name = element("th", "", category.key);
        name.scope = "row";
        row.append(name);
        for (const channel of message.channels) {
          const box = element("input");
          box.type = "checkbox";
          box.checked = category.channels[channel];
          box.disabled = !category.opt_out_allowed;
          box.setAttribute("aria-label", `${category.key} by ${channel}`);
          box.addEventListener("change", () =>
            send({ type: "choose", category: category.key, channel, on: box.checked }),
          );
          const cell = element("td");
          cell.append(box);
          row.append(cell);
        }
        table.append(row);
      }
      settings.replaceChildren(table);
    }

    function showSettings(open) {
      settings.hidden = !open;
      list.hidden = open;
      empty.hidden = open || items.size > 0;
      gear.setAttribute("aria-pressed", String(open));
      if (open) send({ type: "choices" });
    }

    function newest() {
      let max = null;
      for (const id of items.keys()) if (max === null || id > max) max = id;
      return max;
    }

    function remember(item) {
      const isNew = !items.has(item.id);
      // An item sent with a replace_key stands for every earlier one of that key, also when
      // it arrives in a reconnect's backlog rather than as a "replace".
      if (item.replace_key)
        for (const [id, other] of items) if (other.replace_key === item.replace_key && id < item.id) items.delete(id);
      items.set(item.id, item);
      // Telling the server the item arrived is what makes its delivery "delivered".
      if (isNew && !item.read_at) send({ type: "ack", id: item.id });
      if (items.size > MAX_ITEMS) items.delete([...items.keys()].sort()[0]);
    }

    function receive(event) {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      switch (message.type) {
        case "notification":
          remember(message.data);
          break;
        case "replace":
          // A later notification with the same replace_key: it takes the earlier one's place.
          items.delete(message.replaces);
          remember(message.data);
          break;
        case "unread_count":
          unread = message.count;
          // Reads made elsewhere while this page was offline are not replayed; none unread settles it.
          if (unread === 0) for (const item of items.values()) item.read_at = item.read_at || new Date().toISOString();
          break;
        case "read":
          if (items.has(message.id)) items.get(message.id).read_at = message.read_at;
          break;
        case "read_all":
          for (const item of items.values()) item.read_at = item.read_at || message.read_at;
          break;
        case "archive":
          items.delete(message.id);
          break;
        case "choices":
          renderChoices(message);
          return;
        case "error":
          console.warn("AlertFlow inbox:", message.problem && message.problem.detail);
          // A refused toggle is put back as the server has it.
          if (!settings.hidden) send({ type: "choices" });
          return;
        default:
          return;
      }
      render();
    }

    async function connect() {
      retryTimer = null;
      host.dataset.state = "connecting";
      // Every reconnect (and a first connect without a token) asks for a fresh token.
      if (options.getToken && (socket !== null || !token)) {
        try {
          token = await options.getToken();
        } catch (error) {
          console.warn("AlertFlow inbox: getToken failed", error);
          reconnectLater();
          return;
        }
      }
      if (stopped) return;
      // Reconnecting with the newest id seen: the server sends only what was missed.
      socket = new WebSocket(socketUrl(base, token, newest()));
      socket.addEventListener("open", () => {
        retryMs = RETRY_FIRST_MS;
        host.dataset.state = "connected";
      });
      socket.addEventListener("message", receive);
      socket.addEventListener("close", () => {
        host.dataset.state = "disconnected";
        if (!stopped) reconnectLater();
      });
    }

    function reconnectLater() {
      const delay = retryMs * (0.5 + Math.random() / 2);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      retryTimer = setTimeout(connect, delay);
    }

    function reconnectNow() {
      if (retryTimer === null) return;
      clearTimeout(retryTimer);
      connect();
    }

    function toggle(open) {
      // Open towards the side with room: a bell near the left edge drops its list rightwards.
      if (open) panel.classList.toggle("from-left", host.getBoundingClientRect().right < PANEL_WIDTH_PX);
      panel.hidden = !open;
      bell.setAttribute("aria-expanded", String(open));
    }

    function closeOnOutsideClick(event) {
      if (!event.composedPath().includes(host)) toggle(false);
    }

    function closeOnEscape(event) {
      if (event.key === "Escape" && !panel.hidden) {
        toggle(false);
        bell.focus();
      }
    }

    bell.addEventListener("click", () => toggle(panel.hidden));
    markAll.addEventListener("click", () => send({ type: "read_all" }));
    gear.addEventListener("click", () => showSettings(settings.hidden));
    document.addEventListener("click", closeOnOutsideClick);
    document.addEventListener("keydown", closeOnEscape);
    // Back online (laptop lid, train tunnel): try at once instead of waiting out the backoff.
    window.addEventListener("online", reconnectNow);
    render();
    connect();

    return {
      close() {
        stopped = true;
        clearTimeout(retryTimer);
        if (socket) socket.close(1000);
        document.removeEventListener("click", closeOnOutsideClick);
        document.removeEventListener("keydown", closeOnEscape);
        window.removeEventListener("online", reconnectNow);
      },
    };
  }

  window.AlertFlowInbox = { mount };

  // The one-tag embedding: <script ... data-token data-target>.
  if (script && script.dataset.token) {
    const start = () => {
      const target = script.dataset.target ? document.querySelector(script.dataset.target) : null;
      if (!target) {
        console.error("AlertFlow inbox: data-target must name an element, e.g. data-target=\"#bell\"");
        return;
      }
      mount(target, { token: script.dataset.token, url: script.dataset.url });
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})();
