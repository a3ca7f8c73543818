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
    conversations: new Map(),// key -> {kind, name, entries, ids, unread, topic, password, left,
                             //         marker, divider}: marker is the account's read marker
                             //         (the id of the last message read, docs/protocol.md /read)
    rooms: new Map(),        // room key -> {limit, locked}: from the last /rooms
    members: [],             // the active room's members, as /who gives them (@op, +voiced)
    operator: false,         // whether we are an operator of the active room
    modes: "",               // its flags (i, m, t) as /mode last gave them
    active: null,            // key of the conversation shown
    current: null,           // key of the room the server sends plain text to
    attempts: 0,             // failed connects in a row (for the back-off)
    timer: null,
    stopped: false,          // the user quit: no reconnect
    token: null,             // a guest's resume token (123): takes its seat back on a reconnect
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
    if (code === 123) { state.token = data.text.split(" ")[0] || null; return; }
    if (code === 109) { setStatus(data.text, true); note(state.active, data.text, "error"); return; }
    if (code === 110 && data.event) { history(data.event); return; }
    if (code === 122) { moreUnread(data.text); return; }
    if (code >= 100 && code < 200 && data.event) { event(code, data.event, data.text); return; }
    if (code >= 400) note(state.active, data.text, "error");
  }

  async function greeted() {
    state.attempts = 0;
    setStatus("connected", false);
    updateInputs();
    if (!state.login) return;
    const { verb, name, password } = state.login;
    let reply = { code: 0 };
    // A guest's seat is held after a drop: its token takes it back, with what it missed.
    const token = verb === "nick" ? state.token : null;
    state.token = null;
    if (token) reply = await request(`/resume ${token}`);
    if (reply.code !== 201) {
      reply = await request(verb === "nick" ? `/nick ${name}` : `/login ${name} ${password}`);
    }
    if (reply.code !== 201) {
      state.login = null;
      showLogin(`could not log in again: ${reply.text}`);
      return;
    }
    for (const conversation of state.conversations.values()) {
      if (conversation.kind === "room" && !conversation.left) await rejoin(conversation);
    }
    refreshRooms();
    refreshMembers();
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
    state.rooms.clear();
    for (const line of reply.lines || []) {
      const found = ROOM_LINE.exec(line);
      if (!found) continue;
      const [, name, count, limit, lock, owner, topic] = found;
      state.rooms.set(key("room", name), { limit: Number(limit), locked: lock === "locked" });
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      const label = document.createElement("span");
      label.textContent = name;
      button.append(label);
      if (lock === "locked") button.append($("lock-icon").content.cloneNode(true));
      const counter = document.createElement("span");
      counter.className = "count";
      counter.textContent = `${count}/${limit}`;
      button.append(counter);
      button.title = `${owner}${topic ? ": " + topic : ""}`;
      // A locked room asks for its password only if the server wants it (an invitation
      // or being in the room already needs none).
      button.addEventListener("click", () => join(name, ""));
      item.append(button);
      list.append(item);
    }
  }

  $("refresh").addEventListener("click", refreshRooms);

  async function join(name, password) {
    const reply = await request(`/join ${name}${password ? " " + password : ""}`);
    if (reply.code === 431) askPassword(name, password ? reply.text : "");
    else if (reply.code !== 200) note(state.active, reply.text, "error");
    else entered(reply.text, password);
  }

  // Back into a room we were in (to talk or act in it, or after a reconnect), with the
  // password it was joined with; a changed one is asked for.
  async function rejoin(conversation) {
    const k = key("room", conversation.name);
    const pass = conversation.password ? ` ${conversation.password}` : "";
    const reply = await request(`/join ${conversation.name}${pass}`);
    if (reply.code === 431) askPassword(conversation.name, conversation.password ? reply.text : "");
    else if (reply.code !== 200) note(k, reply.text, "error");
    else { conversation.left = false; state.current = k; }
    return reply.code === 200;
  }

  // A locked room's password is asked for in a field of its own, not as a command to type.
  let unlocking = "";  // the room the dialog asks for

  function askPassword(name, error) {
    unlocking = name;
    $("unlock-room").textContent = name;
    $("unlock-error").textContent = error;
    $("unlock-password").value = "";
    if (!$("unlock").open) $("unlock").showModal();  // Escape cancels it
    $("unlock-password").focus();
  }

  $("unlock-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const password = $("unlock-password").value;
    const reply = await request(`/join ${unlocking} ${password}`);
    if (reply.code !== 200) { askPassword(unlocking, reply.text); return; }
    $("unlock").close();
    entered(reply.text, password);
  });

  $("unlock-cancel").addEventListener("click", () => $("unlock").close());

  function entered(text, password) {
    // The reply's fields (docs/protocol.md, "Fields a program may read"): "joined ROOM: ...".
    const found = /^(?:joined|created) ([^\s:]+): /.exec(text);
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
      conversation = { kind, name, entries: [], ids: new Set(), unread: 0, topic: "", password: "",
                       left: false, marker: "", divider: "" };
      state.conversations.set(k, conversation);
      drawTabs();
    }
    return conversation;
  }

  function add(k, entry) {
    const conversation = state.conversations.get(k);
    if (!conversation) return;
    // A message is shown once, whether it came live or from history (a rejoin replays it).
    if (entry.id) {
      if (conversation.ids.has(entry.id)) return;
      conversation.ids.add(entry.id);
    }
    const entries = conversation.entries;
    if (entry.history && entries.length && entries[entries.length - 1].at > entry.at) {
      // Missed while away: put it where it belongs in time, and redraw.
      let at = entries.length;
      while (at > 0 && entries[at - 1].at > entry.at) at -= 1;
      entries.splice(at, 0, entry);
      if (entries.length > MAX_ENTRIES) conversation.ids.delete(entries.shift().id);
      if (k === state.active) redraw(conversation); else { countUnread(conversation, entry); }
      return;
    }
    entries.push(entry);
    if (entries.length > MAX_ENTRIES) conversation.ids.delete(entries.shift().id);
    if (k === state.active) {
      const log = $("log");
      const near = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
      log.append(drawEntry(entry));
      if (log.children.length > MAX_ENTRIES) log.firstElementChild.remove();
      if (near) log.scrollTop = log.scrollHeight;
      readSoon();
    } else {
      countUnread(conversation, entry);
    }
  }

  // A message from someone else, come while its conversation is hidden (what unreadCount
  // counts after a marker: notices, joins and our own words are not unread).
  function countUnread(conversation, entry) {
    if (!isUnread(entry)) return;
    conversation.unread += 1;
    drawTabs();
  }

  const isUnread = (entry) => Boolean(entry.id && entry.who && !entry.mine);

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
      case "Said":
      case "Private":
        message(ev, false);
        break;
      case "Joined":
      case "Left":
      case "TopicSet":
      case "ModeChanged": {
        const k = key("room", ev.room);
        // Our own join is told before the reply to /join: the conversation opens with it.
        if (ev.type === "Joined" && ev.who === state.me) open("room", ev.room).left = false;
        const conversation = state.conversations.get(k);
        if (!conversation) break;
        if (ev.type === "TopicSet") {
          conversation.topic = ev.topic;
          if (k === state.active) $("topic").textContent = ev.topic;
        }
        if (ev.type === "Left" && ev.who === state.me) {
          conversation.left = true;
          if (k === state.active) { state.members = []; state.operator = false; drawMembers(); }
        }
        add(k, { at, text: text.replace(/^\[[^\]]*\] /, ""), kind: "event" });
        if (k === state.active && ev.type !== "TopicSet" && !conversation.left) membersChanged();
        break;
      }
      case "Inactive":
      case "Returned": {
        // A member's connection dropped (its seat is held) or it came back: said in the
        // room, and its mark in the member list follows.
        const k = key("room", ev.room);
        if (!state.conversations.has(k)) break;
        add(k, { at, text: text.replace(/^\[[^\]]*\] /, ""), kind: "event" });
        if (k === state.active) membersChanged();
        break;
      }
      case "ReadMoved": {
        // Another session of the account read this far: not unread here either.
        const conversation = state.conversations.get(key(ev.private ? "user" : "room", ev.target));
        if (conversation && ev.marker > conversation.marker) {
          conversation.marker = ev.marker;
          drawTabs();
        }
        break;
      }
      case "NickChanged":
        note(state.active, text, "notice");
        membersChanged();
        break;
      case "Redacted": {
        // The message is gone from history too: put a mark where it was (or nothing, if
        // it is no longer shown here).
        const other = ev.room ? "" : (ev.sender === state.me ? ev.recipient : ev.sender);
        const k = ev.room ? key("room", ev.room) : key("user", other);
        const conversation = state.conversations.get(k);
        if (!conversation) break;
        const at = conversation.entries.findIndex((entry) => entry.id === ev.message_id);
        if (at < 0) break;
        const why = ev.why ? `: ${ev.why}` : "";
        conversation.entries[at] = { at: conversation.entries[at].at, id: ev.message_id,
                                     text: `message redacted by ${ev.who}${why}`, kind: "event" };
        if (k === state.active) redraw(conversation);
        break;
      }
      case "FileShared": {
        const k = key("room", ev.room);
        if (!state.conversations.has(k)) break;
        add(k, { at, text: `${ev.sender} shared ${ev.name} (${ev.size} bytes)`, kind: "event",
                 file: ev.file_id });
        break;
      }
      case "Announcement":
        note(state.active, `announcement from ${ev.sender}: ${ev.text}`, "notice");
        break;
      case "Wallops":
        note(state.active, `wallops from ${ev.sender}: ${ev.text}`, "notice");
        break;
      default:
        note(state.active, text, "notice");
    }
  }

  // A message, live (101, 102, 107) or from history (110, the same fields).
  function message(ev, fromHistory) {
    const entry = { at: ev.at || Date.now() / 1000, id: ev.id, who: ev.sender, text: ev.text,
                    action: Boolean(ev.action), mine: ev.sender === state.me, history: fromHistory };
    if (ev.type === "Said") {
      open("room", ev.room);
      add(key("room", ev.room), entry);
    } else if (ev.type === "Private") {
      const other = ev.sender === state.me ? ev.recipient : ev.sender;
      open("user", other);
      add(key("user", other), entry);
    }
  }

  // 122 [ROOM] N more unread; /history ROOM after ID M: after the replay, in the room.
  function moreUnread(text) {
    const found = /^\[([^\]]+)\] (.*)$/.exec(text || "");
    if (found) note(key("room", found[1]), found[2], "notice");
  }

  function history(ev) {
    // Replayed after our own join (and given by /history): older messages, marked as such.
    if (ev.type === "Said" && !state.conversations.has(key("room", ev.room))) return;
    message(ev, true);
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
    const today = date.toDateString() === new Date().toDateString();
    time.textContent = today
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    time.title = date.toLocaleString();
    item.append(time);
    if (entry.history) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = "history";
      item.append(tag);
    }
    if (entry.who) {
      const classes = [];
      if (entry.mine) classes.push("mine");
      if (entry.history) classes.push("history");
      item.className = classes.join(" ");
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
      const unread = unreadCount(conversation);
      if (unread && k !== state.active) {
        const badge = document.createElement("span");
        badge.className = "unread";
        badge.textContent = String(unread);
        badge.setAttribute("aria-label", `${unread} unread`);
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
    $("log").replaceChildren();
    if (conversation) {
      // The divider stays where the unread began while the conversation is shown: after
      // the marker, or with none known, before the messages counted while it was hidden.
      conversation.divider = conversation.marker || dividerOf(conversation);
      conversation.unread = 0;
      redraw(conversation);
      readSoon();
    }
    const room = Boolean(conversation && conversation.kind === "room");
    $("room-panel").hidden = !room;
    $("share").hidden = !room;
    state.members = [];
    state.operator = false;
    drawMembers();
    if (room) refreshMembers();
    drawTabs();
    updateInputs();
  }

  function redraw(conversation) {
    const log = $("log");
    const items = conversation.entries.map(drawEntry);
    const divider = conversation.divider;
    const first = divider
      ? conversation.entries.findIndex((e) => isUnread(e) && e.id > divider) : -1;
    if (first >= 0) {
      const line = document.createElement("li");
      line.className = "divider";
      line.textContent = "unread";
      line.setAttribute("role", "separator");
      items.splice(first, 0, line);
    }
    log.replaceChildren(...items);
    log.scrollTop = log.scrollHeight;
  }

  // -- read markers: what the page shows while visible is read -----------------------------

  // Unread messages of a conversation: after its read marker when one is known (so a message
  // read on another device is not counted here), else those that came while it was hidden.
  function unreadCount(conversation) {
    if (!conversation.marker) return conversation.unread;
    return conversation.entries.filter(
      (e) => isUnread(e) && e.id > conversation.marker).length;
  }

  // The id just before the last `unread` messages of a conversation without a known marker
  // ("0", before every id, when nothing is; "" when none are unread).
  function dividerOf(conversation) {
    let left = conversation.unread;
    let at = conversation.entries.length;
    while (left > 0 && at > 0) if (isUnread(conversation.entries[--at])) left -= 1;
    if (!conversation.unread) return "";
    const before = conversation.entries.slice(0, at).filter((e) => e.id).pop();
    return before ? before.id : "0";
  }

  let readTimer = null;
  function readSoon() {
    // One /read for a burst of messages, and only while the page is seen.
    if (readTimer === null) readTimer = setTimeout(() => { readTimer = null; readShown(); }, 1000);
  }

  function readShown() {
    const conversation = state.active ? state.conversations.get(state.active) : null;
    if (!conversation || document.visibilityState !== "visible" || !state.me) return;
    const newest = conversation.entries.filter((e) => e.id && e.who).map((e) => e.id).pop();
    if (!newest || newest <= conversation.marker) return;
    conversation.marker = newest;
    request(`/read ${conversation.name} ${newest}`);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") readSoon();
  });

  // -- members and moderation ------------------------------------------------------------

  let membersTimer = null;
  function membersChanged() {
    // A burst of joins and leaves asks once.
    clearTimeout(membersTimer);
    membersTimer = setTimeout(refreshMembers, 300);
  }

  async function refreshMembers() {
    const k = state.active;
    const conversation = state.conversations.get(k);
    if (!conversation || conversation.kind !== "room" || conversation.left || !state.me) return;
    const reply = await request(`/who ${conversation.name}`);
    if (reply.code !== 211 || state.active !== k) return;
    state.members = (reply.lines || []).join(" ").split(" ").filter(Boolean);
    state.operator = state.members.some((m) => m.startsWith("@")
                                         && m.slice(1).toLowerCase() === (state.me || "").toLowerCase());
    drawMembers();
    if (state.operator) refreshModes();
  }

  function drawMembers() {
    const list = $("members");
    const names = $("member-names");
    list.replaceChildren();
    names.replaceChildren();
    for (const listed of state.members) {
      // /who marks a member whose seat is held (its connection dropped) NAME(inactive).
      const inactive = listed.endsWith("(inactive)");
      const member = listed.replace(/\(inactive\)$/, "");
      const name = member.replace(/^[@+]/, "");
      const item = document.createElement("li");
      if (inactive) item.classList.add("inactive");
      const role = member[0] === "@" ? "operator" : member[0] === "+" ? "voiced" : "";
      if (state.operator) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "member";
        button.textContent = member;
        button.title = `moderate ${name}`;
        button.addEventListener("click", () => { $("mod-name").value = name; $("mod-name").focus(); });
        item.append(button);
      } else {
        item.textContent = member;
      }
      if (inactive) {
        const mark = document.createElement("span");
        mark.className = "mark";
        mark.textContent = " (inactive)";
        item.append(mark);
      }
      if (role || inactive) item.title = [role, inactive ? "inactive: connection lost" : ""].filter(Boolean).join(", ");
      list.append(item);
      const option = document.createElement("option");
      option.value = name;
      names.append(option);
    }
    $("member-count").textContent = state.members.length ? `(${state.members.length})` : "";
    $("op-badge").hidden = !state.operator;
    $("mod-form").hidden = !state.operator;
    $("mode-form").hidden = !state.operator;
  }

  // Moderation commands act on the current room: make the shown room current first.
  async function inRoom(conversation) {
    return state.current === key("room", conversation.name) || rejoin(conversation);
  }

  async function roomCommand(line) {
    const conversation = state.conversations.get(state.active);
    if (!conversation || conversation.kind !== "room") return null;
    if (!(await inRoom(conversation))) return null;
    const reply = await request(line);
    note(key("room", conversation.name), [...(reply.lines || []), reply.text].join("\n"),
         reply.code >= 400 || reply.code === 0 ? "error" : "notice");
    return reply;
  }

  $("mod-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const command = e.submitter ? e.submitter.dataset.command : "";
    const name = $("mod-name").value.trim();
    if (!command || !name) return;
    const reason = command === "kick" ? $("mod-reason").value.trim() : "";
    const reply = await roomCommand(`/${command} ${name}${reason ? " " + reason : ""}`);
    if (reply && reply.code === 200) {
      $("mod-reason").value = "";
      membersChanged();
    }
  });

  const FLAGS = ["i", "m", "t"];

  async function refreshModes() {
    const conversation = state.conversations.get(state.active);
    if (!conversation || !(await inRoom(conversation))) return;
    const reply = await request("/mode");
    const found = / modes: \+(\w+)$/.exec(reply.text || "");
    const set = reply.code === 200 && found ? found[1] : "";
    for (const flag of FLAGS) $(`mode-${flag}`).checked = set.includes(flag);
    const info = state.rooms.get(key("room", conversation.name));
    $("mode-l").value = info ? String(info.limit) : "";
    $("mode-k").value = "";
    state.modes = set;
  }

  $("mode-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const conversation = state.conversations.get(state.active);
    if (!conversation) return;
    const on = FLAGS.filter((f) => $(`mode-${f}`).checked && !state.modes.includes(f));
    const off = FLAGS.filter((f) => !$(`mode-${f}`).checked && state.modes.includes(f));
    if (on.length || off.length) {
      await roomCommand(`/mode ${on.length ? "+" + on.join("") : ""}${off.length ? "-" + off.join("") : ""}`);
    }
    const info = state.rooms.get(key("room", conversation.name));
    const limit = $("mode-l").value.trim();
    if (limit && (!info || Number(limit) !== info.limit)) {
      await roomCommand(`/limit ${conversation.name} ${limit}`);
    }
    const password = $("mode-k").value;
    if (password) {
      const reply = await roomCommand(`/lock ${conversation.name} ${password}`);
      if (reply && reply.code === 200) conversation.password = password;
    }
    await refreshRooms();
    await refreshModes();
  });

  $("mode-unlock").addEventListener("click", async () => {
    const conversation = state.conversations.get(state.active);
    if (!conversation) return;
    const reply = await roomCommand(`/unlock ${conversation.name}`);
    if (reply && reply.code === 200) conversation.password = "";
    refreshRooms();
  });

  // -- sharing a file ------------------------------------------------------------------

  // The web protocol's /send is answered at once with where to POST the bytes.
  const UPLOAD = /^send (\d+) bytes: POST them to (\/\S+) with the header ([\w-]+): (\S+) within/;

  $("share").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    $("file").value = "";
    if (file) await share(file);
    $("say").focus();
  });

  async function share(file) {
    const conversation = state.conversations.get(state.active);
    if (!conversation || conversation.kind !== "room") return;
    const k = key("room", conversation.name);
    const name = file.name.replace(/\s+/g, "_") || "file";
    const reply = await request(`/send ${conversation.name} ${name} ${file.size}`);
    const found = UPLOAD.exec(reply.text || "");
    if (reply.code !== 350 || !found) { note(k, reply.text, "error"); return; }
    note(k, `sending ${file.name} (${file.size} bytes)…`, "notice");
    try {
      const response = await fetch(found[2], {
        method: "POST",
        headers: { [found[3]]: found[4], "Content-Type": "application/octet-stream" },
        body: file,
        credentials: "omit",
        cache: "no-store",
      });
      const answer = await response.json();
      // Stored: the room's 111 shows it, to us too.
      if (answer.code !== 250) note(k, answer.text, "error");
    } catch (error) {
      note(k, `the file was not sent: ${error.message}`, "error");
    }
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
      const joining = /^\/join (\S+)( \S)?/i.exec(text);
      if (joining && reply.code === 431) { askPassword(joining[1], joining[2] ? reply.text : ""); return; }
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
    if (state.current !== state.active && !(await rejoin(conversation))) return;
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
