// The visit room: a peer-to-peer mesh over WebRTC, signalled through /ws/visits/<id>/.
// Whoever is already in the room offers to each newcomer, so two peers never offer at once.
// Poor connections: a low-bandwidth mode caps what this browser sends, and a monitor reading
// getStats pauses video for everyone (audio continues) when loss or throughput stay bad.
// Exposes window.visitPeers, visitQuality and inboundVideoFramesDecoded() for the browser tests.
(function () {
  "use strict";
  const root = document.querySelector("[data-visit]");
  if (!root) return;
  const audioOnly = root.dataset.audioOnly === "1";
  const tiles = root.querySelector("[data-tiles]");
  const connection = root.querySelector("[data-connection]");
  const qualityNotice = root.querySelector("[data-quality-notice]");
  const shareNotice = root.querySelector("[data-share-notice]");
  const resumeVideo = root.querySelector("[data-resume-video]");
  const lowBandwidthButton = root.querySelector("[data-low-bandwidth]");
  const peers = new Map(); // peer id -> {pc, tile, offerer}
  window.visitPeers = peers;
  let socket = null;
  let me = null;
  let iceServers = [];
  let iceTransportPolicy = "all"; // "relay" when the deployment sends every call through TURN
  let localStream = null;
  let screenTrack = null;
  let ended = false;
  let leaving = false; // see leaveFor
  let startedAt = null;
  let lowBandwidth = false;
  let videoPaused = false; // audio only for now, because of the connection

  const csrf = () => root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const send = (frame) => socket && socket.readyState === 1 && socket.send(JSON.stringify(frame));

  window.inboundVideoFramesDecoded = async function () {
    let total = 0;
    for (const { pc } of peers.values()) {
      const stats = await pc.getStats();
      stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") total += s.framesDecoded || 0; });
    }
    return total;
  };

  function showState() {
    const states = [...peers.values()].map((p) => p.pc.iceConnectionState);
    window.visitState = states;
    const live = states.some((s) => s === "connected" || s === "completed");
    connection.textContent = live ? connection.dataset.live : connection.dataset.connecting;
    connection.className = "status " + (live ? "status--ok" : "status--warn");
  }

  function tileFor(id, name) {
    const figure = document.createElement("figure");
    figure.className = "tile";
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.setAttribute("aria-label", name);
    const caption = document.createElement("figcaption");
    caption.textContent = name;
    figure.append(video, caption);
    tiles.append(figure);
    return figure;
  }

  function peer(id, name) {
    if (peers.has(id)) return peers.get(id);
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy });
    const entry = { pc, tile: tileFor(id, name || ""), name };
    peers.set(id, entry);
    localStream.getTracks().forEach((track) => pc.addTrack(track, localStream));
    if (videoPaused) videoSendersOf(pc).forEach((s) => s.replaceTrack(null));
    pc.onicecandidate = (e) => e.candidate && send({ type: "ice-candidate", to: id, candidate: e.candidate.toJSON() });
    pc.ontrack = (e) => { entry.tile.querySelector("video").srcObject = e.streams[0]; };
    pc.oniceconnectionstatechange = () => {
      showState();
      if (pc.iceConnectionState === "connected" && lowBandwidth) videoSendersOf(pc).forEach(applyCaps);
      if (pc.iceConnectionState === "failed" && entry.offerer) offer(id, { iceRestart: true });
    };
    return entry;
  }

  async function offer(id, options) {
    const entry = peers.get(id);
    entry.offerer = true;
    await entry.pc.setLocalDescription(await entry.pc.createOffer(options));
    send({ type: "offer", to: id, sdp: entry.pc.localDescription.sdp });
  }

  function drop(id) {
    const entry = peers.get(id);
    if (!entry) return;
    entry.pc.close();
    entry.tile.remove();
    peers.delete(id);
    showState();
  }

  async function onFrame(frame) {
    switch (frame.type) {
      case "welcome":
        setReady(true);
        me = frame.peer;
        iceServers = frame.ice_servers;
        iceTransportPolicy = frame.ice_transport_policy || "all";
        startedAt = frame.started_at ? new Date(frame.started_at) : new Date();
        reportMedia();
        break;
      case "peer-joined":
        if (frame.from !== me) { peer(frame.from, frame.name); await offer(frame.from); }
        break;
      case "offer": {
        const entry = peer(frame.from, frame.name);
        await entry.pc.setRemoteDescription({ type: "offer", sdp: frame.sdp });
        await entry.pc.setLocalDescription(await entry.pc.createAnswer());
        send({ type: "answer", to: frame.from, sdp: entry.pc.localDescription.sdp });
        break;
      }
      case "answer":
        if (peers.has(frame.from)) await peers.get(frame.from).pc.setRemoteDescription({ type: "answer", sdp: frame.sdp });
        break;
      case "ice-candidate":
        if (peers.has(frame.from)) await peers.get(frame.from).pc.addIceCandidate(frame.candidate).catch(() => {});
        break;
      case "peer-left":
        drop(frame.from);
        break;
      case "chat":
        addChat(frame.name, frame.body);
        break;
      case "mute-state":
        showMuteState(frame.from, frame.audio, frame.video);
        break;
      case "screen-share": {
        const entry = peers.get(frame.from);
        shareNotice.hidden = !frame.active;
        shareNotice.textContent = frame.active && entry ? `${entry.name} ${shareNotice.dataset.sharing}` : "";
        if (entry) entry.tile.classList.toggle("tile--screen", !!frame.active);
        break;
      }
      case "connection-quality":
        if (frame.audio_only !== videoPaused) setVideoPaused(!!frame.audio_only);
        break;
      case "ended":
        ended = true;
        finish();
        break;
      case "moved": // the visit goes on in a group room (the server closes this socket)
        ended = true;
        leaveFor(frame.url);
        break;
      case "admitted":
        if (admit) admit.remove();
        showAdmitProblem("");
        break;
      case "patient-location":
        showPatientLocation(frame.state, frame.at_home);
        showLicensureWarning(frame.not_licensed ? frame.message : "");
        break;
      case "error":
        if (admit && ADMISSION_ERRORS.has(frame.code)) {
          showAdmitProblem(frame.message);
          admit.disabled = false;
        } else {
          addChat("", frame.message);
        }
        break;
    }
  }

  // Admission: refused when the clinician is not licensed where the patient is; the patient
  // can change their answer, which reaches this page as "patient-location".
  const admit = root.querySelector("[data-admit]");
  const admitProblem = root.querySelector("[data-admit-problem]");
  const ADMISSION_ERRORS = new Set(["not_licensed", "location_needed", "visit_error"]);

  function showAdmitProblem(message) {
    if (!admitProblem) return;
    admitProblem.textContent = message;
    admitProblem.hidden = !message;
  }

  function showPatientLocation(state, atHome) {
    const place = root.querySelector("[data-patient-location]");
    if (!place) return;
    const names = JSON.parse(document.getElementById("state-names").textContent);
    place.textContent = `${names[state] || state} · ${atHome ? place.dataset.home : place.dataset.elsewhere}`;
    if (!place.dataset.licensedStates.split(",").includes(state)) {
      const badge = document.createElement("span");
      badge.className = "badge badge--urgent";
      badge.textContent = place.dataset.unlicensed.replace("{state}", names[state] || state);
      place.append(" ", badge);
    }
    showAdmitProblem("");
  }

  // Someone in the room is not licensed where the patient now is: said until it changes.
  function showLicensureWarning(message) {
    const warning = root.querySelector("[data-licensure-warning]");
    if (!warning) return;
    warning.textContent = message;
    warning.hidden = !message;
  }

  function showMuteState(id, audio, video) {
    const entry = peers.get(id);
    if (!entry) return;
    const caption = entry.tile.querySelector("figcaption");
    const flags = [];
    if (audio === false) flags.push(root.dataset.labelMuted);
    if (video === false) flags.push(root.dataset.labelCameraOff);
    caption.textContent = [entry.name, ...flags].join(" · ");
  }

  // What this browser sends: the patient's first report with video marks the visit as a
  // video visit for billing (audio-only otherwise).
  function reportMedia() {
    const audio = localStream.getAudioTracks()[0];
    const video = localStream.getVideoTracks()[0];
    send({ type: "mute-state", audio: !!(audio && audio.enabled), video: !!(video && video.enabled) });
  }

  // --- Poor connections --------------------------------------------------------------------
  const LOW_BANDWIDTH = { maxBitrate: 150000, scaleResolutionDownBy: 2, maxFramerate: 15 };
  const BAD_LOSS = 0.08; // fraction of packets lost in a 2 s sample
  const BAD_KBPS = 100; // available outgoing bitrate while sending video
  const BAD_SAMPLES = 3; // in a row: about six seconds

  const videoSendersOf = (pc) => pc.getTransceivers()
    .filter((t) => t.sender && t.receiver.track && t.receiver.track.kind === "video")
    .map((t) => t.sender);
  const videoSenders = () => [...peers.values()].flatMap(({ pc }) => videoSendersOf(pc));
  const currentVideo = () => screenTrack || localStream.getVideoTracks()[0] || null;

  async function applyCaps(sender) {
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) return; // not negotiated yet
    for (const encoding of params.encodings) {
      for (const [key, value] of Object.entries(LOW_BANDWIDTH)) {
        if (lowBandwidth) encoding[key] = value;
        else delete encoding[key];
      }
    }
    await sender.setParameters(params).catch(() => {});
  }

  function setVideoPaused(paused) {
    videoPaused = paused;
    videoSenders().forEach((s) => s.replaceTrack(paused ? null : currentVideo()));
    qualityNotice.hidden = !paused;
    qualityNotice.textContent = paused ? qualityNotice.dataset.paused : "";
    resumeVideo.hidden = !paused;
  }

  const previous = new Map(); // peer id -> packet counters at the last sample
  async function sampleConnection() {
    let loss = 0;
    let kbps = null;
    for (const [id, { pc }] of peers) {
      if (pc.iceConnectionState !== "connected" && pc.iceConnectionState !== "completed") continue;
      const stats = await pc.getStats();
      let lost = 0;
      let received = 0;
      stats.forEach((s) => {
        if (s.type === "inbound-rtp") { lost += s.packetsLost || 0; received += s.packetsReceived || 0; }
        if (s.type === "remote-inbound-rtp" && typeof s.fractionLost === "number") loss = Math.max(loss, s.fractionLost);
        if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.availableOutgoingBitrate) {
          kbps = Math.min(kbps === null ? Infinity : kbps, s.availableOutgoingBitrate / 1000);
        }
      });
      const before = previous.get(id) || { lost: 0, received: 0 };
      previous.set(id, { lost, received });
      const newLost = lost - before.lost;
      const newReceived = received - before.received;
      if (newLost + newReceived > 0) loss = Math.max(loss, newLost / (newLost + newReceived));
    }
    const sendingVideo = !!currentVideo() && currentVideo().enabled;
    return { loss, kbps: sendingVideo ? kbps : null };
  }

  const quality = {
    badInARow: 0,
    isBad: (sample) => sample.loss > BAD_LOSS || (sample.kbps !== null && sample.kbps < BAD_KBPS),
    observe(sample) {
      this.badInARow = this.isBad(sample) ? this.badInARow + 1 : 0;
      if (this.badInARow >= BAD_SAMPLES && !videoPaused) {
        this.badInARow = 0;
        setVideoPaused(true);
        send({ type: "connection-quality", audio_only: true });
      }
    },
  };
  window.visitQuality = quality;
  setInterval(async () => {
    if (videoPaused || audioOnly || !peers.size) return;
    quality.observe(await sampleConnection());
  }, 2000);

  lowBandwidthButton.addEventListener("click", async () => {
    lowBandwidth = !lowBandwidth;
    lowBandwidthButton.setAttribute("aria-pressed", String(lowBandwidth));
    await Promise.all(videoSenders().map(applyCaps));
  });
  resumeVideo.addEventListener("click", () => {
    setVideoPaused(false);
    send({ type: "connection-quality", audio_only: false });
  });

  function addChat(name, body) {
    const item = document.createElement("li");
    const who = document.createElement("strong");
    who.textContent = name ? name + ": " : "";
    item.append(who, document.createTextNode(body));
    root.querySelector("[data-chat]").append(item);
  }

  function finish() {
    leaveFor(root.dataset.afterUrl);
  }

  // The page leaves once: the mover hears "moved" on its socket and also reads the move's
  // reply, and a second assign() would abort the first navigation.
  function leaveFor(url) {
    if (leaving) return;
    leaving = true;
    peers.forEach((_, id) => drop(id));
    if (localStream) localStream.getTracks().forEach((t) => t.stop());
    window.location.assign(url);
  }

  // Buttons that talk to the server wait until the room's socket is open.
  function setReady(ready) {
    root.querySelectorAll("[data-admit], [data-end], [data-chat-form] button").forEach((b) => {
      b.disabled = !ready;
    });
  }

  function connect() {
    setReady(false);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsUrl}`);
    socket.addEventListener("message", (e) => onFrame(JSON.parse(e.data)).catch(console.error));
    socket.addEventListener("close", (e) => {
      setReady(false);
      if (ended) return;
      if (e.code >= 4400 && e.code < 4500) { connection.textContent = "—"; return; }
      peers.forEach((_, id) => drop(id));
      setTimeout(connect, 1500); // reconnect; the others will offer again
    });
  }

  root.querySelector("[data-toggle-mic]").addEventListener("click", (e) => {
    const track = localStream.getAudioTracks()[0];
    if (!track) return;
    track.enabled = !track.enabled;
    e.target.setAttribute("aria-pressed", String(!track.enabled));
    send({ type: "mute-state", audio: track.enabled, video: !!localStream.getVideoTracks()[0]?.enabled });
  });
  root.querySelector("[data-toggle-camera]").addEventListener("click", (e) => {
    const track = localStream.getVideoTracks()[0];
    if (!track) return;
    track.enabled = !track.enabled;
    e.target.setAttribute("aria-pressed", String(!track.enabled));
    send({ type: "mute-state", audio: !!localStream.getAudioTracks()[0]?.enabled, video: track.enabled });
  });

  const share = root.querySelector("[data-share]");
  if (share) share.addEventListener("click", async () => {
    const camera = localStream.getVideoTracks()[0];
    const swap = (track) => { if (!videoPaused) videoSenders().forEach((s) => s.replaceTrack(track)); };
    if (screenTrack) {
      screenTrack.stop();
      screenTrack = null;
      swap(camera);
      share.setAttribute("aria-pressed", "false");
      send({ type: "screen-share", active: false });
      return;
    }
    let display;
    try {
      display = await navigator.mediaDevices.getDisplayMedia({ video: true });
    } catch (error) {
      return; // the clinician cancelled the browser's picker
    }
    screenTrack = display.getVideoTracks()[0];
    screenTrack.contentHint = "detail"; // keep text sharp: drop frame rate before resolution
    swap(screenTrack);
    share.setAttribute("aria-pressed", "true");
    send({ type: "screen-share", active: true });
    screenTrack.addEventListener("ended", () => share.click());
  });

  if (admit) admit.addEventListener("click", () => { admit.disabled = true; send({ type: "admit" }); });
  const end = root.querySelector("[data-end]");
  if (end) end.addEventListener("click", () => send({ type: "end" }));
  const leave = root.querySelector("[data-leave]");
  if (leave) leave.addEventListener("click", () => { ended = true; send({ type: "leave" }); finish(); });

  root.querySelector("[data-chat-form]").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = e.target.querySelector("input");
    if (input.value.trim()) send({ type: "chat", body: input.value });
    input.value = "";
  });

  const inviteForm = root.querySelector("[data-invite-form]");
  if (inviteForm) inviteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const response = await fetch(inviteForm.dataset.url, {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() },
      body: new FormData(inviteForm),
    });
    const body = await response.json();
    if (response.status === 409 && body.move_url) { offerMove(body.detail, body.move_url); return; }
    root.querySelector("[data-invite-link]").textContent = body.link || body.detail;
  });

  // A fifth person does not fit the peer-to-peer mesh: the clinician may move the visit to a
  // group room on the media server. Everyone's page follows the "moved" frame.
  const moveOffer = root.querySelector("[data-move-offer]");
  let moveUrl = null;
  function offerMove(detail, url) {
    moveUrl = url;
    root.querySelector("[data-invite-link]").textContent = ""; // no link was made this time
    moveOffer.querySelector("[data-move-text]").textContent = detail;
    moveOffer.hidden = false;
    moveOffer.querySelector("[data-move]").disabled = false;
    moveOffer.querySelector("[data-move]").focus();
  }
  if (moveOffer) {
    moveOffer.querySelector("[data-move-cancel]").addEventListener("click", () => {
      moveOffer.hidden = true;
      inviteForm.querySelector("input").focus();
    });
    moveOffer.querySelector("[data-move]").addEventListener("click", async (e) => {
      e.target.disabled = true;
      const response = await fetch(moveUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
      });
      const body = await response.json();
      if (response.ok) {
        ended = true;
        leaveFor(body.url);
      } else {
        moveOffer.querySelector("[data-move-text]").textContent = body.detail;
        e.target.disabled = false;
      }
    });
  }

  const noteForm = root.querySelector("[data-note-form]");
  if (noteForm) {
    const status = noteForm.querySelector("[data-note-status]");
    let timer = null;
    const save = async () => {
      const body = {};
      noteForm.querySelectorAll("textarea").forEach((t) => { body[t.name] = t.value; });
      const response = await fetch(root.dataset.noteUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify(body),
      });
      status.textContent = response.ok ? "✓ " + new Date().toLocaleTimeString() : (await response.json()).detail;
    };
    noteForm.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(save, 800); });
    noteForm.querySelector("[data-sign]").addEventListener("click", async (e) => {
      await save();
      const response = await fetch(root.dataset.signUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } });
      if (response.ok) { e.target.disabled = true; noteForm.querySelectorAll("textarea").forEach((t) => { t.readOnly = true; }); }
    });
  }

  setInterval(() => {
    if (!startedAt) return;
    const seconds = Math.max(0, Math.floor((Date.now() - startedAt) / 1000));
    root.querySelector("[data-timer]").textContent =
      `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
  }, 1000);

  navigator.mediaDevices.getUserMedia({ audio: true, video: !audioOnly })
    .catch(() => navigator.mediaDevices.getUserMedia({ audio: true, video: false }))
    .then((stream) => {
      localStream = stream;
      root.querySelector("[data-local]").srcObject = stream;
      connect();
    });
})();
