// A message thread, live. Messages arrive over /ws/messaging/threads/<id>/ with their
// per-thread sequence number; the page shows each number once, in order, and after a
// reconnect (or on seeing a gap) asks for everything after the last one it shows. Typing
// and read receipts ride on the same socket. Without the socket the form posts as usual.
// Exposes window.threadState for the browser tests.
(function () {
  "use strict";
  const root = document.querySelector("[data-thread]");
  if (!root) return;
  const list = root.querySelector("[data-messages]");
  const form = root.querySelector("[data-composer]");
  const textarea = form.querySelector("textarea[name=body]");
  const internalBox = form.querySelector("input[name=internal]");
  const fileInput = form.querySelector("input[type=file]");
  const sendButton = form.querySelector("button[type=submit]");
  const sendStatus = form.querySelector("[data-send-status]");
  const typingLine = root.querySelector("[data-typing]");
  const receipt = root.querySelector("[data-receipt]");
  const emergency = root.querySelector("[data-emergency]");
  const savedReply = root.querySelector("[data-saved-reply]");
  const staffView = root.dataset.staffView === "1";
  const label = (name) => root.dataset["label" + name];

  let lastSeq = Number(root.dataset.lastSeq) || 0;
  let otherRead = Number(root.dataset.otherRead) || 0;
  let socket = null;
  let syncing = false;
  let typingClear = null;
  let lastTypingSent = 0;
  let nextClientId = 1;

  const ourSide = (kind, internal) =>
    staffView ? kind !== "patient" && !internal : kind === "patient";
  let lastOurSeq = 0;
  list.querySelectorAll("li[data-seq]").forEach((li) => {
    const kind = ["patient", "staff", "system"].find((k) => li.classList.contains("message--" + k));
    if (ourSide(kind, li.classList.contains("message--internal"))) lastOurSeq = Number(li.dataset.seq);
  });

  window.threadState = {
    get lastSeq() { return lastSeq; },
    get connected() { return !!socket && socket.readyState === 1; },
  };

  const send = (frame) => {
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(frame));
    return true;
  };

  // "Read" sits under our side's latest message once the other side has read that far.
  function showReceipt() {
    list.querySelectorAll(".message__receipt").forEach((r) => r.remove());
    receipt.textContent = "";
    if (!lastOurSeq || otherRead < lastOurSeq) return;
    const item = list.querySelector(`li[data-seq="${lastOurSeq}"]`);
    if (item) item.append(element("p", "message__receipt", "✓ " + label("Read")));
    receipt.textContent = label("Read");
  }

  function authorName(m) {
    if (m.author_kind === "system") return label("Auto");
    if (m.author_kind === "patient") return staffView ? label("Patient") : label("You");
    return staffView ? m.author : label("Practice");
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // "23 Nov, 18:53" in the practice's time zone, as the server renders it.
  function stamp(iso) {
    const parts = {};
    new Intl.DateTimeFormat(document.documentElement.lang, {
      day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
      timeZone: root.dataset.timeZone,
    }).formatToParts(new Date(iso)).forEach((p) => { parts[p.type] = p.value; });
    const month = parts.month.replace(".", "");
    return `${parts.day} ${month.charAt(0).toUpperCase()}${month.slice(1)}, ${parts.hour}:${parts.minute}`;
  }

  const SHOWN_PICTURES = ["image/jpeg", "image/png", "image/gif", "image/webp"]; // browsers draw these

  function build(m) {
    const item = element("li", `message message--${m.author_kind}` + (m.internal ? " message--internal" : ""));
    if (ourSide(m.author_kind, m.internal)) item.classList.add("message--mine");
    item.dataset.seq = m.seq;
    const meta = element("p", "message__meta");
    meta.append(element("strong", "", authorName(m)));
    if (m.internal) meta.append(" ", element("span", "badge badge--internal", label("Internal")));
    if (m.via === "sms") meta.append(" ", element("span", "badge", label("Text")));
    const when = element("time", "", stamp(m.at));
    when.dateTime = m.at;
    meta.append(" ", when);
    item.append(meta);
    if (m.body) { // a texted picture may come without words
      const body = element("p", "message__body");
      m.body.split("\n").forEach((line, i) => { if (i) body.append(document.createElement("br")); body.append(line); });
      item.append(body);
    }
    if (m.attachments && m.attachments.length) {
      const files = element("ul", "attachments");
      m.attachments.forEach((a) => {
        const link = element("a", "", a.name);
        link.href = a.url;
        link.target = "_blank";
        link.rel = "noopener";
        const entry = element("li");
        if (SHOWN_PICTURES.includes(a.type)) {
          const picture = element("img", "attachment-picture");
          picture.src = a.url;
          picture.alt = a.name;
          entry.append(picture);
        }
        entry.append(link);
        files.append(entry);
      });
      item.append(files);
    }
    return item;
  }

  // Live messages must follow the last one shown (for the patient, the last one they may
  // see: internal notes take numbers too). Otherwise something was missed: sync first.
  let missedWhileSyncing = false;
  function show(m, replayed) {
    if (m.seq <= lastSeq) return; // already on the page
    const previous = staffView ? m.seq - 1 : m.prev_public;
    if (!replayed && previous > lastSeq) {
      if (syncing) missedWhileSyncing = true;
      requestSync();
      return;
    }
    list.append(build(m));
    lastSeq = m.seq;
    if (ourSide(m.author_kind, m.internal)) lastOurSeq = m.seq;
    showReceipt();
    if (document.visibilityState === "visible") send({ type: "read", seq: lastSeq });
  }

  function requestSync() {
    if (syncing) return;
    syncing = send({ type: "sync", after: lastSeq });
  }

  function showTyping(frame) {
    if (staffView && frame.side === "staff") {
      typingLine.textContent = `${frame.name} ${label("AlsoTyping")}`;
    } else if (staffView) {
      typingLine.textContent = label("TypingPatient");
    } else {
      typingLine.textContent = label("TypingPractice");
    }
    clearTimeout(typingClear);
    typingClear = setTimeout(() => { typingLine.textContent = ""; }, 4000);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "hello":
        otherRead = Math.max(otherRead, frame.other_read || 0);
        showReceipt();
        if (frame.last_seq > lastSeq) requestSync();
        else if (document.visibilityState === "visible" && lastSeq) send({ type: "read", seq: lastSeq });
        sendButton.disabled = false;
        break;
      case "message":
        typingLine.textContent = "";
        show(frame, !!frame.replay);
        break;
      case "message-changed": { // a texted picture arrived after the message
        const shown = list.querySelector(`li[data-seq="${frame.seq}"]`);
        if (shown) shown.replaceWith(build(frame));
        break;
      }
      case "synced":
        syncing = false;
        if (frame.more || missedWhileSyncing) requestSync();
        missedWhileSyncing = false;
        break;
      case "typing":
        showTyping(frame);
        break;
      case "read":
        if ((frame.by === "patient") === staffView) {
          otherRead = Math.max(otherRead, frame.seq);
          showReceipt();
        }
        break;
      case "sent":
        textarea.value = "";
        sendStatus.textContent = "";
        sendButton.disabled = false;
        break;
      case "emergency":
        emergency.textContent = label("Emergency");
        emergency.hidden = false;
        break;
      case "error":
        sendStatus.textContent = frame.message;
        sendButton.disabled = false;
        break;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsUrl}`);
    socket.addEventListener("message", (e) => onFrame(JSON.parse(e.data)));
    socket.addEventListener("close", (e) => {
      syncing = false;
      if (e.code >= 4400 && e.code < 4500) return; // signed out or no longer allowed
      setTimeout(connect, 1500);
    });
  }

  form.addEventListener("submit", (e) => {
    const hasFiles = fileInput && fileInput.files.length > 0;
    if (hasFiles || !textarea.value.trim() || !window.threadState.connected) return; // post the form
    e.preventDefault();
    sendButton.disabled = true;
    send({
      type: "message",
      body: textarea.value,
      internal: !!(internalBox && internalBox.checked),
      client_id: String(nextClientId++),
    });
  });

  textarea.addEventListener("input", () => {
    const now = Date.now();
    if (now - lastTypingSent < 2000) return;
    lastTypingSent = now;
    send({ type: "typing", internal: !!(internalBox && internalBox.checked) });
  });

  if (savedReply) savedReply.addEventListener("change", () => {
    if (!savedReply.value) return;
    textarea.value = savedReply.value;
    textarea.focus();
  });

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && lastSeq) send({ type: "read", seq: lastSeq });
  });

  showReceipt();
  connect();
})();
