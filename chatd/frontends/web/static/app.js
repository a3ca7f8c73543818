// chatd's browser client: the JSON protocol of docs/protocol.md over the WebSocket at /ws.
// Every text from the server is inserted with textContent, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_ENTRIES = 500;
  const MAX_BACKOFF = 30;

  const state = {
    ws: null,
    nextId: 1,
    pending: new Map(),      // request id -> resolve(reply)
    me: null,                // our name once logged in
    login: null,             // {verb, name, password}: to log in again after a reconnect
    conversations: new Map(),// key -> {kind, name, entries, unread, topic, password}
    active: null,            // key of the conversation shown
    current: null,           // key of the room the server sends plain text to
    attempts: 0,             // failed connects in a row (for the back-off)
    timer: null,
    stopped: false,          // the user quit: no reconnect
  };

  const key = (kind, name) => (kind === "room" ? "#" : "@") + name.toLowerCase();

  // -- the connection ------------------------------------------------------------------

  function connect() {
    clearTimeout(state.timer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    state.ws = ws;
    setStatus("connecting…", false);
    ws.onmessage = (message) => {
      let data;
      try { data = JSON.parse(message.data); } catch { return; }
      receive(data);
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      state.ws = null;
      for (const resolve of state.pending.values()) resolve({ code: 0, text: "connection lost" });
      state.pending.clear();
      state.current = null;
      updateInputs();
      if (state.stopped) { setStatus("disconnected", true); return; }
      const delay = Math.min(MAX_BACKOFF, 2 ** state.attempts) * (0.75 + Math.random() / 2);
      state.attempts += 1;
      setStatus(`disconnected; reconnecting in ${Math.ceil(delay)} s`, true);
      state.timer = setTimeout(connect, delay * 1000);
    };
  }

  function request(line) {
    return new Promise((resolve) => {
      const ws = state.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        resolve({ code: 0, text: "not connected" });
        return;
      }
      const id = state.nextId++;
      state.pending.set(id, resolve);
      ws.send(JSON.stringify({ id, line }));
    });
  }

  function say(line) {
    // Plain text has no reply when it is said (its echo is the acknowledgement); a refusal
    // comes back without an id and is shown where the user is.
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify({ line }));
      return true;
    }
    return false;
  }

  function receive(data) {
    if (data.id !== undefined && state.pending.has(data.id)) {
      const resolve = state.pending.get(data.id);
      state.pending.delete(data.id);
      resolve(data);
      return;
    }
    const code = data.code;
    if (code === 220) { greeted(); return; }
    if (code === 109) { setStatus(data.text, true); note(state.active, data.text, "error"); return; }
    if (code >= 100 && code < 200 && data.event) { event(code, data.event, data.text); return; }
    if (code >= 400) note(state.active, data.text, "error");
  }

  async function greeted() {
    state.attempts = 0;
    setStatus("connected", false);
    updateInputs();
    if (!state.login) return;
    const { verb, name, password } = state.login;
    const reply = await request(verb === "nick" ? `/nick ${name}` : `/login ${name} ${password}`);
    if (reply.code !== 201) {
      state.login = null;
      showLogin(`could not log in again: ${reply.text}`);
      return;
    }
    for (const conversation of state.conversations.values()) {
      if (conversation.kind === "room" && !conversation.left) {
        const pass = conversation.password ? ` ${conversation.password}` : "";
        const joined = await request(`/join ${conversation.name}${pass}`);
        if (joined.code !== 200) note(key("room", conversation.name), joined.text, "error");
        else state.current = key("room", conversation.name);
      }
    }
    refreshRooms();
  }

  // -- logging in ----------------------------------------------------------------------

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const verb = e.submitter ? e.submitter.dataset.verb : "login";
    const name = $("login-name").value.trim();
    const password = $("login-password").value;
    if (verb !== "nick" && !password) { $("login-error").textContent = "a password is needed"; return; }
    const line = verb === "nick" ? `/nick ${name}` : `/${verb} ${name} ${password}`;
    const reply = await request(line);
    if (reply.code !== 201) { $("login-error").textContent = reply.text; return; }
    state.me = name;
    state.login = { verb: verb === "signup" ? "login" : verb, name, password };
    $("login-password").value = "";
    $("login-error").textContent = "";
    $("me").textContent = name;
    $("login").hidden = true;
    $("chat").hidden = false;
    showConversation(null);
    refreshRooms();
    $("join-name").focus();
  });

  function showLogin(why) {
    state.me = null;
    $("me").textContent = "";
    $("chat").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = why;
    $("login-name").focus();
  }

  // -- rooms ---------------------------------------------------------------------------

  const ROOM_LINE = /^(\S+) (\d+)\/(\d+) (open|locked) (.*?)(?:: (.*))?$/;

  async function refreshRooms() {
    const reply = await request("/rooms");
    if (reply.code !== 210) return;
    const list = $("rooms");
    list.replaceChildren();
    for (const line of reply.lines || []) {
      const found = ROOM_LINE.exec(line);
      if (!found) continue;
      const [, name, count, limit, lock, owner, topic] = found;
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      const label = document.createElement("span");
      label.textContent = name;
      button.append(label);
      if (lock === "locked") {
        const icon = document.createElement("span");
        icon.className = "lock";
        icon.textContent = "🔒";
        icon.setAttribute("aria-label", "locked");
        button.append(icon);
      }
      const counter = document.createElement("span");
      counter.className = "count";
      counter.textContent = `${count}/${limit}`;
      button.append(counter);
      button.title = `${owner}${topic ? ": " + topic : ""}`;
      button.addEventListener("click", () => {
        if (lock === "locked" && !$("join-password").value) {
          $("join-name").value = name;
          $("join-password").focus();
          return;
        }
        join(name, $("join-password").value);
      });
      item.append(button);
      list.append(item);
    }
  }

  $("refresh").addEventListener("click", refreshRooms);

  async function join(name, password) {
    const reply = await request(`/join ${name}${password ? " " + password : ""}`);
    if (reply.code !== 200) { note(state.active, reply.text, "error"); return; }
    entered(reply.text, password);
  }

  function entered(text, password) {
    const found = /^(?:you are in|created) (\S+)/.exec(text);
    if (!found) return;
    const name = found[1];
    const conversation = open("room", name);
    conversation.left = false;
    conversation.password = password || "";
    const topic = /; topic: (.*)$/.exec(text);
    if (topic) conversation.topic = topic[1];
    state.current = key("room", name);
    showConversation(state.current);
    refreshRooms();
  }

  $("join-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const verb = e.submitter ? e.submitter.dataset.verb : "join";
    const name = $("join-name").value.trim();
    const password = $("join-password").value;
    if (verb === "join") {
      await join(name, password);
    } else {
      const reply = await request(`/create ${name}`);
      if (reply.code !== 200) { note(state.active, reply.text, "error"); return; }
      if (password) {
        const locked = await request(`/lock ${name} ${password}`);
        if (locked.code !== 200) note(state.active, locked.text, "error");
      }
      entered(reply.text, password);
    }
    $("join-name").value = "";
    $("join-password").value = "";
    $("say").focus();
  });

  $("private-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("private-name").value.trim();
    if (!name) return;
    open("user", name);
    showConversation(key("user", name));
    $("private-name").value = "";
    $("say").focus();
  });

  $("leave").addEventListener("click", async () => {
    const conversation = state.conversations.get(state.active);
    if (!conversation) return;
    if (conversation.kind === "room" && !conversation.left) {
      const reply = await request(`/leave ${conversation.name}`);
      if (reply.code !== 200 && reply.code !== 406) { note(state.active, reply.text, "error"); return; }
    }
    state.conversations.delete(state.active);
    if (state.current === state.active) state.current = null;
    showConversation(state.conversations.keys().next().value || null);
    refreshRooms();
  });

  // -- conversations -------------------------------------------------------------------

  function open(kind, name) {
    const k = key(kind, name);
    let conversation = state.conversations.get(k);
    if (!conversation) {
      conversation = { kind, name, entries: [], unread: 0, topic: "", password: "", left: false };
      state.conversations.set(k, conversation);
      drawTabs();
    }
    return conversation;
  }

  function add(k, entry) {
    const conversation = state.conversations.get(k);
    if (!conversation) return;
    conversation.entries.push(entry);
    if (conversation.entries.length > MAX_ENTRIES) conversation.entries.shift();
    if (k === state.active) {
      const log = $("log");
      const near = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
      log.append(drawEntry(entry));
      if (log.children.length > MAX_ENTRIES) log.firstElementChild.remove();
      if (near) log.scrollTop = log.scrollHeight;
    } else {
      conversation.unread += 1;
      drawTabs();
    }
  }

  function note(k, text, kind) {
    if (!k || !state.conversations.has(k)) {
      if (!$("chat").hidden) setStatus(text, kind === "error");
      return;
    }
    add(k, { at: Date.now() / 1000, text, kind });
  }

  function event(code, ev, text) {
    const at = ev.at || Date.now() / 1000;
    switch (ev.type) {
      case "Said": {
        const k = key("room", ev.room);
        open("room", ev.room);
        add(k, { at, who: ev.sender, text: ev.text, action: ev.action, mine: ev.sender === state.me });
        break;
      }
      case "Private": {
        const other = ev.sender === state.me ? ev.recipient : ev.sender;
        open("user", other);
        add(key("user", other), { at, who: ev.sender, text: ev.text, mine: ev.sender === state.me });
        break;
      }
      case "Joined":
      case "Left":
      case "TopicSet":
      case "RoomChanged": {
        const k = key("room", ev.room);
        // Our own join is told before the reply to /join: the conversation opens with it.
        if (ev.type === "Joined" && ev.who === state.me) open("room", ev.room).left = false;
        const conversation = state.conversations.get(k);
        if (!conversation) break;
        if (ev.type === "TopicSet") {
          conversation.topic = ev.topic;
          if (k === state.active) $("topic").textContent = ev.topic;
        }
        if (ev.type === "Left" && ev.who === state.me) conversation.left = true;
        add(k, { at, text: text.replace(/^\[[^\]]*\] /, ""), kind: "event" });
        break;
      }
      case "FileShared": {
        const k = key("room", ev.room);
        if (!state.conversations.has(k)) break;
        add(k, { at, text: `${ev.sender} shared ${ev.name} (${ev.size} bytes)`, kind: "event",
                 file: ev.file_id });
        break;
      }
      default:
        note(state.active, text, "notice");
    }
  }

  async function download(fileId) {
    // A fresh signed link, made for this member when asked (links are short-lived, and a
    // room's event is the same for every member): 252 ID SECONDS URL.
    const reply = await request(`/link ${fileId}`);
    const url = reply.code === 252 ? reply.text.split(" ")[2] : "";
    if (!/^https?:\/\//.test(url || "")) {
      note(state.active, reply.text, "error");
      return;
    }
    window.location.assign(url);  // served as an attachment: the page stays
  }

  function drawEntry(entry) {
    const item = document.createElement("li");
    const time = document.createElement("time");
    const date = new Date(entry.at * 1000);
    time.dateTime = date.toISOString();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    item.append(time);
    if (entry.who) {
      if (entry.mine) item.className = "mine";
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = entry.action ? `* ${entry.who}` : entry.who;
      item.append(who);
    } else {
      item.className = entry.kind;
    }
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = entry.text;
    item.append(body);
    if (entry.file) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small secondary download";
      button.textContent = "download";
      button.addEventListener("click", () => download(entry.file));
      item.append(button);
    }
    return item;
  }

  function drawTabs() {
    const tabs = $("tabs");
    tabs.replaceChildren();
    for (const [k, conversation] of state.conversations) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = conversation.kind === "room" ? conversation.name : `@${conversation.name}`;
      button.setAttribute("aria-current", String(k === state.active));
      if (conversation.unread) {
        const badge = document.createElement("span");
        badge.className = "unread";
        badge.textContent = String(conversation.unread);
        badge.setAttribute("aria-label", `${conversation.unread} unread`);
        button.append(badge);
      }
      button.addEventListener("click", () => { showConversation(k); $("say").focus(); });
      item.append(button);
      tabs.append(item);
    }
  }

  function showConversation(k) {
    state.active = k;
    const conversation = k ? state.conversations.get(k) : null;
    $("title").textContent = conversation
      ? (conversation.kind === "room" ? conversation.name : `private: ${conversation.name}`)
      : "Join a room to talk";
    $("topic").textContent = conversation ? conversation.topic : "";
    $("leave").hidden = !conversation;
    const log = $("log");
    log.replaceChildren();
    if (conversation) {
      conversation.unread = 0;
      for (const entry of conversation.entries) log.append(drawEntry(entry));
      log.scrollTop = log.scrollHeight;
    }
    drawTabs();
    updateInputs();
  }

  // -- typing --------------------------------------------------------------------------

  const DRAFT = "chatd-draft";
  $("say").value = sessionStorage.getItem(DRAFT) || "";
  $("say").addEventListener("input", () => sessionStorage.setItem(DRAFT, $("say").value));

  $("say-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("say");
    const text = input.value;
    if (!text.trim() || !state.ws) return;  // disconnected: what was typed stays
    const conversation = state.conversations.get(state.active);
    if (text.startsWith("/") && !text.startsWith("//")) {
      clearDraft();
      const reply = await request(text);
      if (reply.code === 221) { state.stopped = true; state.ws && state.ws.close(); }
      note(state.active, [...(reply.lines || []), reply.text].join("\n"),
           reply.code >= 400 ? "error" : "notice");
      if (/^\/(join|create) /i.test(text) && reply.code === 200) entered(reply.text, "");
      return;
    }
    if (!conversation) { note(null, "join a room or open a private conversation first", "error"); return; }
    if (conversation.kind === "user") {
      const reply = await request(`/msg ${conversation.name} ${text}`);
      if (reply.code === 200) {
        clearDraft();
        add(state.active, { at: Date.now() / 1000, who: state.me, text, mine: true });
      } else {
        note(state.active, reply.text, "error");
      }
      return;
    }
    if (state.current !== state.active) {
      const reply = await request(`/join ${conversation.name}${conversation.password ? " " + conversation.password : ""}`);
      if (reply.code !== 200) { note(state.active, reply.text, "error"); return; }
      conversation.left = false;
      state.current = state.active;
    }
    if (say(text.startsWith("/") ? `/${text}` : text)) clearDraft();
  });

  function clearDraft() {
    $("say").value = "";
    sessionStorage.removeItem(DRAFT);
  }

  function updateInputs() {
    const up = Boolean(state.ws && state.ws.readyState === WebSocket.OPEN);
    for (const button of document.querySelectorAll("button[type=submit]")) button.disabled = !up;
  }

  function setStatus(text, down) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("down", down);
  }

  updateInputs();
  connect();
})();
