// The group session room: a device check, then the room through Janus's VideoRoom over its
// WebSocket. The app's join endpoint hands out where (ws_url, room, pin), who (feed, display)
// and a signed token; media never pass through the app. One handle publishes our camera and
// microphone (microphone first: the host's mute acts on the first m-line), and one handle per
// other publisher receives them.
// A second socket, to the app (/ws/groups/<id>/), carries the room's live events: patients
// wait there until a host admits them (then the page joins by itself), the chat, raised
// hands, and what a host did to you (muted, removed).
(function () {
  "use strict";
  const root = document.querySelector("[data-group-room]");
  if (!root) return;
  const texts = document.getElementById("group-room-messages").content;
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const preview = root.querySelector("[data-preview]");
  const cameraSelect = root.querySelector("[data-camera]");
  const micSelect = root.querySelector("[data-microphone]");
  const joinButton = root.querySelector("[data-join]");
  const stage = root.querySelector("[data-stage]");
  const tiles = root.querySelector("[data-tiles]");
  const announce = root.querySelector("[data-announce]");
  const problem = root.querySelector("[data-problem]");
  const connection = root.querySelector("[data-connection]");
  const micButton = root.querySelector("[data-toggle-mic]");
  const cameraButton = root.querySelector("[data-toggle-camera]");
  const shareButton = root.querySelector("[data-share]");
  const leaveButton = root.querySelector("[data-leave]");
  const isHost = Boolean(root.dataset.peopleUrl);

  let localStream = null;
  let privateId = null;
  let pass = null; // the join answer
  let socket = null;
  let sessionId = null;
  let keepalive = null;
  let publisher = null; // {handle, pc}
  let screenTrack = null;
  let finished = false;
  let devicesReady = false;
  const live = { socket: null, inside: isHost, retry: null };
  const remotes = new Map(); // feed -> {handle, pc, tile, display}
  const transactions = new Map(); // transaction -> {resolve, reject, async}
  const handlers = new Map(); // handle id -> function(message)
  window.groupRoom = { state: isHost ? "device-check" : "waiting", remotes, live };

  function text(key, name) {
    const node = texts.querySelector(`[data-key="${key}"]`);
    return (node ? node.textContent : key).replace("%(name)s", name || "");
  }

  function say(message) {
    announce.textContent = message;
  }

  function showProblem(message) {
    problem.textContent = message;
    problem.hidden = !message;
  }

  // --- Device check ---------------------------------------------------------------------

  const listDevices = () => window.deviceCheck.fillDevices(root);

  // Patients join once a host admitted them; hosts whenever they are ready.
  function canJoin() {
    joinButton.hidden = !live.inside;
    joinButton.disabled = !(devicesReady && live.inside) || pass !== null;
  }

  async function openDevices() {
    if (localStream) localStream.getTracks().forEach((t) => t.stop());
    const camera = cameraSelect.value;
    const microphone = micSelect.value;
    try {
      localStream = await navigator.mediaDevices.getUserMedia({
        audio: microphone ? { deviceId: { exact: microphone } } : true,
        video: camera ? { deviceId: { exact: camera } } : true,
      });
    } catch (error) {
      showProblem(text("denied"));
      return;
    }
    preview.srcObject = localStream;
    window.deviceCheck.meter(root, localStream);
    await listDevices();
    showProblem("");
    devicesReady = true;
    canJoin();
    if (live.inside && !isHost && window.groupRoom.state === "admitted") joinRoom();
  }

  cameraSelect.addEventListener("change", openDevices);
  micSelect.addEventListener("change", openDevices);
  root.querySelector("[data-speaker]").addEventListener("change", () => {
    window.deviceCheck.speakerFor(root, preview, ...tiles.querySelectorAll("video"));
  });
  if (navigator.mediaDevices) openDevices();
  else showProblem(text("denied"));

  // --- Janus over its WebSocket ---------------------------------------------------------

  function newTransaction() {
    return Math.random().toString(36).slice(2) + Date.now().toString(36);
  }

  // Send a Janus request. `async` requests (plugin messages) settle on their event, the
  // others on their success/error.
  function request(body, { handle = null, async = false } = {}) {
    const transaction = newTransaction();
    const message = { ...body, transaction, token: pass.token };
    if (sessionId !== null) message.session_id = sessionId;
    if (handle !== null) message.handle_id = handle;
    return new Promise((resolve, reject) => {
      transactions.set(transaction, { resolve, reject, async });
      socket.send(JSON.stringify(message));
    });
  }

  function pluginRequest(handle, body, jsep) {
    return request({ janus: "message", body, ...(jsep ? { jsep } : {}) }, { handle, async: true })
      .then((reply) => {
        const data = reply.plugindata && reply.plugindata.data;
        if (data && data.error_code) {
          const error = new Error(data.error);
          error.code = data.error_code;
          throw error;
        }
        return reply;
      });
  }

  function onSocketMessage(event) {
    const message = JSON.parse(event.data);
    const pending = message.transaction && transactions.get(message.transaction);
    if (pending) {
      if (message.janus === "ack" && pending.async) return;
      transactions.delete(message.transaction);
      if (message.janus === "error") pending.reject(new Error(message.error.reason));
      else pending.resolve(message);
      return;
    }
    const handler = message.sender && handlers.get(message.sender);
    if (handler) handler(message);
  }

  function openSocket(url) {
    return new Promise((resolve, reject) => {
      socket = new WebSocket(url, "janus-protocol");
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error("socket")), { once: true });
      socket.addEventListener("message", onSocketMessage);
      socket.addEventListener("close", () => {
        if (!finished) {
          connection.textContent = text("lost");
          showProblem(text("lost"));
        }
      });
    });
  }

  async function attach() {
    const reply = await request({ janus: "attach", plugin: "janus.plugin.videoroom" });
    return reply.data.id;
  }

  function newPeerConnection(handle) {
    const pc = new RTCPeerConnection({ iceServers: pass.ice_servers });
    pc.addEventListener("icecandidate", (event) => {
      const candidate = event.candidate ? event.candidate.toJSON() : { completed: true };
      request({ janus: "trickle", candidate }, { handle }).catch(() => {});
    });
    return pc;
  }

  // --- Publishing -------------------------------------------------------------------------

  async function publish() {
    const handle = await attach();
    handlers.set(handle, onPublisherEvent);
    const joined = await pluginRequest(handle, {
      request: "join",
      ptype: "publisher",
      room: pass.room,
      pin: pass.pin,
      id: pass.feed,
      display: pass.display,
    });
    // Janus tells only us this id; every subscription names it, so the host's kick of our
    // feed closes them too (the room requires it).
    privateId = joined.plugindata.data.private_id;
    const pc = newPeerConnection(handle);
    publisher = { handle, pc };
    // Microphone first, then camera: the host's mute names the audio m-line "0".
    for (const track of [...localStream.getAudioTracks(), ...localStream.getVideoTracks()]) {
      const sender = pc.addTrack(track, localStream);
      if (track.kind === "video") publisher.videoSender = sender;
    }
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") {
        connection.textContent = text("connected");
        connection.className = "status status--ok";
      }
    });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const configured = await pluginRequest(
      handle, { request: "configure", audio: true, video: true }, { type: offer.type, sdp: offer.sdp });
    await pc.setRemoteDescription(configured.jsep);
    for (const other of joined.plugindata.data.publishers || []) subscribe(other, false);
  }

  function onPublisherEvent(message) {
    if (message.janus === "webrtcup") window.groupRoom.published = true;
    if (message.janus !== "event") return;
    const data = (message.plugindata && message.plugindata.data) || {};
    if (data.leaving === "ok" && data.reason === "kicked") return end("removed");
    for (const other of data.publishers || []) subscribe(other, true);
    for (const key of ["leaving", "unpublished", "kicked"]) {
      if (typeof data[key] === "number") drop(data[key]);
    }
  }

  // --- Receiving --------------------------------------------------------------------------

  function addTile(feed, display) {
    const tile = document.createElement("li");
    tile.className = "tile";
    tile.dataset.tile = String(feed);
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.setAttribute("aria-label", display);
    const name = document.createElement("span");
    name.className = "tile__name";
    name.dataset.name = "";
    name.textContent = display;
    const state = document.createElement("span");
    state.className = "tile__state";
    state.dataset.state = "";
    const footer = document.createElement("div");
    footer.className = "tile__footer";
    footer.append(name);
    tile.append(video, state, footer);
    if (isHost) {
      const controls = document.createElement("div");
      controls.className = "tile__controls";
      const mute = document.createElement("button");
      mute.type = "button";
      mute.className = "button button--small";
      mute.textContent = text("mute-person", display);
      mute.setAttribute("aria-pressed", "false");
      mute.addEventListener("click", () => hostMute(feed, mute));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button--small button--danger";
      remove.textContent = text("remove-person", display);
      remove.addEventListener("click", () => hostRemove(feed, remove));
      controls.append(mute, remove);
      footer.append(controls);
    }
    tiles.append(tile);
    return tile;
  }

  async function subscribe(other, announceIt) {
    if (remotes.has(other.id) || other.id === pass.feed) return;
    const display = other.display || "";
    const remote = { handle: null, pc: null, tile: addTile(other.id, display), display };
    remotes.set(other.id, remote);
    if (announceIt) say(text("joined", display));
    const stream = new MediaStream();
    remote.tile.querySelector("video").srcObject = stream;
    window.deviceCheck.speakerFor(root, remote.tile.querySelector("video"));
    try {
      remote.handle = await attach();
      handlers.set(remote.handle, (message) => {
        if (message.janus === "hangup") drop(other.id);
      });
      let attached = null;
      // A publisher we hear of may not be set up in Janus yet (428 No such feed): try again.
      for (let attempt = 0; attempt < 10 && remotes.has(other.id); attempt++) {
        try {
          attached = await pluginRequest(remote.handle, {
            request: "join", ptype: "subscriber", room: pass.room, pin: pass.pin,
            private_id: privateId, streams: [{ feed: other.id }],
          });
          break;
        } catch (error) {
          // 433: the room's pin changed (someone was removed): the join endpoint has the new one.
          // A failed fetch (a busy server) keeps the old pin: the next attempt fetches again.
          if (error.code === 433) {
            pass.pin = await post(root.dataset.joinUrl).then((p) => p.pin, () => pass.pin);
          } else if (error.code !== 428) throw error;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
      if (!attached || !remotes.has(other.id)) return;
      const pc = newPeerConnection(remote.handle);
      remote.pc = pc;
      pc.addEventListener("track", (event) => stream.addTrack(event.track));
      await pc.setRemoteDescription(attached.jsep);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await pluginRequest(remote.handle, { request: "start" }, { type: answer.type, sdp: answer.sdp });
    } catch (error) {
      showProblem(text("failed"));
    }
  }

  function drop(feed) {
    const remote = remotes.get(feed);
    if (!remote) return;
    remotes.delete(feed);
    if (remote.pc) remote.pc.close();
    if (remote.handle !== null) {
      handlers.delete(remote.handle);
      request({ janus: "detach" }, { handle: remote.handle }).catch(() => {});
    }
    remote.tile.remove();
    say(text("left", remote.display));
  }

  // A counter of what arrives from every other person, by feed: e.g. ("video",
  // "framesDecoded") or ("audio", "packetsReceived"). The browser test reads this.
  window.groupRoom.inbound = async function (kind, field) {
    const result = {};
    for (const [feed, remote] of remotes) {
      result[feed] = 0;
      if (!remote.pc) continue;
      const stats = await remote.pc.getStats();
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === kind) result[feed] += s[field] || 0;
      });
    }
    return result;
  };

  // --- Host controls ----------------------------------------------------------------------

  async function post(url, fields = {}) {
    const body = new FormData();
    for (const [key, value] of Object.entries(fields)) body.append(key, value);
    const response = await fetch(url, {
      method: "POST", body, headers: { "X-CSRFToken": csrf }, credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.error || text("failed"));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  async function attendanceOf(feed) {
    const response = await fetch(root.dataset.peopleUrl, { credentials: "same-origin" });
    const data = await response.json();
    const person = (data.people || []).find((p) => p.feed === feed);
    if (!person) throw new Error(text("failed"));
    return person.attendance_id;
  }

  function controlUrl(template, attendance) {
    return template.replace(/\/0\/(mute|remove)\/$/, `/${attendance}/$1/`);
  }

  async function hostMute(feed, button) {
    const remote = remotes.get(feed);
    const muting = button.getAttribute("aria-pressed") !== "true";
    button.disabled = true;
    try {
      const attendance = await attendanceOf(feed);
      await post(controlUrl(root.dataset.muteUrl, attendance), { mute: muting ? "1" : "0" });
      button.setAttribute("aria-pressed", String(muting));
      button.textContent = text(muting ? "unmute-person" : "mute-person", remote.display);
      remote.tile.querySelector("[data-state]").textContent = muting ? text("muted-by-host") : "";
      showProblem("");
    } catch (error) {
      showProblem(error.message);
    } finally {
      button.disabled = false;
    }
  }

  async function hostRemove(feed, button) {
    button.disabled = true;
    try {
      const attendance = await attendanceOf(feed);
      await post(controlUrl(root.dataset.removeUrl, attendance));
      drop(feed);
      showProblem("");
    } catch (error) {
      showProblem(error.message);
      button.disabled = false;
    }
  }

  // --- Own controls -----------------------------------------------------------------------

  micButton.addEventListener("click", () => {
    const muted = micButton.getAttribute("aria-pressed") !== "true";
    localStream.getAudioTracks().forEach((t) => { t.enabled = !muted; });
    micButton.setAttribute("aria-pressed", String(muted));
    micButton.textContent = text(muted ? "unmute" : "mute");
  });

  cameraButton.addEventListener("click", () => {
    const off = cameraButton.getAttribute("aria-pressed") !== "true";
    localStream.getVideoTracks().forEach((t) => { t.enabled = !off; });
    cameraButton.setAttribute("aria-pressed", String(off));
    cameraButton.textContent = text(off ? "start-video" : "stop-video");
  });

  function videoSender() {
    return publisher && publisher.videoSender;
  }

  async function stopSharing() {
    if (!screenTrack) return;
    screenTrack.stop();
    screenTrack = null;
    const camera = localStream.getVideoTracks()[0];
    const sender = videoSender();
    if (sender && camera) await sender.replaceTrack(camera);
    root.querySelector("[data-local]").srcObject = localStream;
    shareButton.setAttribute("aria-pressed", "false");
  }

  if (shareButton) {
    shareButton.addEventListener("click", async () => {
      if (screenTrack) return stopSharing();
      try {
        const display = await navigator.mediaDevices.getDisplayMedia({ video: true });
        screenTrack = display.getVideoTracks()[0];
      } catch (error) {
        return; // the host chose not to share
      }
      screenTrack.addEventListener("ended", stopSharing);
      const sender = videoSender();
      if (sender) await sender.replaceTrack(screenTrack);
      root.querySelector("[data-local]").srcObject = new MediaStream([screenTrack]);
      shareButton.setAttribute("aria-pressed", "true");
    });
  }

  // --- The room's live socket (the app) ----------------------------------------------------

  const chatPanel = root.querySelector("[data-chat-panel]");
  const chatList = root.querySelector("[data-chat]");
  const chatForm = root.querySelector("[data-chat-form]");
  const handButton = root.querySelector("[data-raise-hand]");
  const mutedNotice = root.querySelector("[data-muted-notice]");
  const waitingStatus = root.querySelector("[data-waiting-status]");

  function liveSend(frame) {
    if (live.socket && live.socket.readyState === WebSocket.OPEN) {
      live.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function addChat(message) {
    const item = document.createElement("li");
    const who = document.createElement("strong");
    who.textContent = `${message.name}: `;
    item.append(who, document.createTextNode(message.body));
    chatList.append(item);
    chatList.scrollTop = chatList.scrollHeight;
  }

  function showChat(messages) {
    chatList.replaceChildren();
    messages.forEach(addChat);
  }

  function setInside() {
    live.inside = true;
    chatPanel.hidden = false;
    const waitingStep = root.querySelector("[data-waiting-step]");
    if (waitingStep) waitingStep.hidden = true;
    canJoin();
  }

  function personRow(list, name, label, onClick) {
    const item = document.createElement("li");
    const who = document.createElement("span");
    who.textContent = name;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button--small";
    button.textContent = label;
    button.addEventListener("click", () => { button.disabled = true; onClick(); });
    item.append(who, button);
    list.append(item);
  }

  let heardWaiting = new Set();
  let heardHands = new Set();

  function showPeople(frame) {
    if (!isHost) return;
    const waitingList = root.querySelector("[data-waiting-list]");
    const handsList = root.querySelector("[data-hands-list]");
    waitingList.replaceChildren();
    handsList.replaceChildren();
    for (const person of frame.waiting || []) {
      personRow(waitingList, person.name, text("admit-person", person.name),
        () => liveSend({ type: "admit", invitation: person.invitation }));
      if (!heardWaiting.has(person.invitation)) say(text("waiting", person.name));
    }
    for (const hand of frame.hands || []) {
      personRow(handsList, hand.name, text("lower-hand-of", hand.name),
        () => liveSend({ type: "lower-hand", attendance: hand.attendance }));
      if (!heardHands.has(hand.attendance)) say(text("hand-up", hand.name));
    }
    heardWaiting = new Set((frame.waiting || []).map((p) => p.invitation));
    heardHands = new Set((frame.hands || []).map((h) => h.attendance));
    root.querySelector("[data-waiting-empty]").hidden = heardWaiting.size > 0;
    root.querySelector("[data-admit-all]").hidden = heardWaiting.size < 1;
    root.querySelector("[data-hands-empty]").hidden = heardHands.size > 0;
  }

  function showHand(raised) {
    handButton.setAttribute("aria-pressed", String(raised));
    handButton.textContent = text(raised ? "lower-hand" : "raise-hand");
  }

  function onLive(frame) {
    switch (frame.type) {
      case "welcome":
        if (frame.inside) setInside();
        showChat(frame.chat || []);
        showPeople(frame);
        break;
      case "admitted":
        setInside();
        window.groupRoom.state = "admitted";
        say(text("admitted"));
        if (devicesReady) joinRoom();
        break;
      case "chat-history":
        showChat(frame.chat || []);
        break;
      case "chat":
        addChat(frame);
        break;
      case "people":
        showPeople(frame);
        break;
      case "hand":
        showHand(frame.raised);
        if (frame.by_host) say(text("hand-lowered"));
        break;
      case "muted":
        mutedNotice.textContent = text(frame.muted ? "muted-you" : "unmuted-you");
        mutedNotice.hidden = false;
        break;
      case "removed":
      case "cancelled":
        end(frame.type);
        break;
      case "error":
        showProblem(frame.message);
        break;
      default:
        break;
    }
  }

  function connectLive() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = live.socket = new WebSocket(`${scheme}://${location.host}${root.dataset.liveUrl}`);
    const send = chatForm.querySelector("button");
    socket.addEventListener("open", () => { send.disabled = false; });
    socket.addEventListener("message", (event) => onLive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      send.disabled = true;
      if (finished) return;
      if (event.code >= 4400 && event.code < 4500) {
        if (waitingStatus && !live.inside) waitingStatus.textContent = text("closed");
        showProblem(text("closed"));
        return;
      }
      live.retry = setTimeout(connectLive, 2000);
    });
  }

  chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = chatForm.querySelector("input");
    if (input.value.trim() && liveSend({ type: "chat", body: input.value })) input.value = "";
  });

  handButton.addEventListener("click", () => {
    liveSend({ type: "hand", raised: handButton.getAttribute("aria-pressed") !== "true" });
  });

  if (isHost) {
    root.querySelector("[data-admit-all]").addEventListener("click", () => liveSend({ type: "admit-all" }));
  }

  setInterval(() => liveSend({ type: "ping" }), 25000);
  connectLive();

  // --- Join and leave ---------------------------------------------------------------------

  function closeMedia() {
    finished = true;
    clearInterval(keepalive);
    for (const feed of [...remotes.keys()]) {
      const remote = remotes.get(feed);
      remotes.delete(feed);
      if (remote.pc) remote.pc.close();
    }
    if (publisher) publisher.pc.close();
    if (screenTrack) screenTrack.stop();
    if (localStream) localStream.getTracks().forEach((t) => t.stop());
    if (socket && socket.readyState === WebSocket.OPEN) {
      if (sessionId !== null) {
        socket.send(JSON.stringify({
          janus: "destroy", session_id: sessionId, transaction: newTransaction(), token: pass.token,
        }));
      }
      socket.close();
    }
  }

  function end(reason) {
    if (finished) return;
    closeMedia();
    window.deviceCheck.meter(root, null);
    clearTimeout(live.retry);
    if (live.socket) live.socket.close();
    chatPanel.hidden = true;
    window.groupRoom.state = reason;
    stage.hidden = true;
    const ended = root.querySelector("[data-ended]");
    const heading = root.querySelector("[data-ended-heading]");
    heading.textContent = text(["removed", "cancelled"].includes(reason) ? reason : "you-left");
    ended.hidden = false;
    heading.focus();
    say(heading.textContent);
  }

  async function joinRoom() {
    if (pass !== null || finished || joinButton.dataset.joining) return;
    joinButton.dataset.joining = "1";
    joinButton.disabled = true;
    showProblem("");
    let answer;
    // A busy server (5xx, or no answer) gets two more tries: an admitted patient's page
    // joins by itself, with nobody there to press the button again.
    for (let attempt = 0; attempt < 3 && !answer; attempt++) {
      try {
        answer = await post(root.dataset.joinUrl);
      } catch (error) {
        if (attempt < 2 && !(error.status < 500)) {
          await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
          continue;
        }
        delete joinButton.dataset.joining;
        showProblem(error.message);
        canJoin();
        return;
      }
    }
    delete joinButton.dataset.joining;
    pass = answer;
    window.deviceCheck.meter(root, null);
    preview.srcObject = null;
    root.querySelector("[data-device-step]").hidden = true;
    stage.hidden = false;
    root.querySelector("[data-local]").srcObject = localStream;
    const self = tiles.querySelector('[data-tile="self"] [data-name]');
    self.textContent = text("you", pass.display);
    window.groupRoom.state = "joining";
    try {
      await openSocket(pass.ws_url);
      const created = await request({ janus: "create" });
      sessionId = created.data.id;
      keepalive = setInterval(() => request({ janus: "keepalive" }).catch(() => {}), 25000);
      await publish();
      window.groupRoom.state = "in-room";
    } catch (error) {
      showProblem(text("failed"));
    }
  }

  joinButton.addEventListener("click", joinRoom);

  leaveButton.addEventListener("click", async () => {
    leaveButton.disabled = true;
    try {
      await post(root.dataset.leaveUrl);
    } catch (error) {
      // The attendance closes by the host or the session's end otherwise; leave anyway.
    }
    end("left");
  });

  // Closing the tab leaves too, so the attendance minutes stop.
  window.addEventListener("pagehide", () => {
    if (finished || !pass) return;
    const body = new FormData();
    body.append("csrfmiddlewaretoken", csrf);
    navigator.sendBeacon(root.dataset.leaveUrl, body);
    closeMedia();
  });
}());
