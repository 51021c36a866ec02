// Waiting room: "Where are you right now?" saved without leaving the page, a
// camera/microphone/speaker check with a live preview and level meter, and a socket that moves
// the patient into the room the moment they are admitted (or says why their clinician cannot
// see them where they are).
(function () {
  "use strict";
  const root = document.querySelector("[data-waiting]");
  if (!root) return;
  const messages = document.getElementById("device-messages").content;
  const text = (key) => messages.querySelector(`[data-key="${key}"]`).textContent;
  const problem = root.querySelector("[data-device-problem]");
  const preview = root.querySelector("[data-preview]");
  const audioOnly = root.dataset.audioOnly === "1";
  let stream = null;

  function showProblem(key) {
    problem.textContent = text(key);
    problem.hidden = false;
  }

  const fillDevices = () => window.deviceCheck.fillDevices(root);
  const meter = (mediaStream) => window.deviceCheck.meter(root, mediaStream);

  async function start() {
    if (!navigator.mediaDevices || !window.RTCPeerConnection) {
      showProblem("unsupported");
      return;
    }
    const camera = root.querySelector("[data-camera]").value;
    const microphone = root.querySelector("[data-microphone]").value;
    try {
      if (stream) stream.getTracks().forEach((t) => t.stop());
      stream = await navigator.mediaDevices.getUserMedia({
        audio: microphone ? { deviceId: { exact: microphone } } : true,
        video: audioOnly ? false : (camera ? { deviceId: { exact: camera } } : true),
      });
      preview.srcObject = stream;
      problem.hidden = true;
      await fillDevices();
      meter(stream);
    } catch (error) {
      showProblem(error.name === "NotAllowedError" ? "denied" : "missing");
    }
  }

  root.querySelector("[data-camera]").addEventListener("change", start);
  root.querySelector("[data-microphone]").addEventListener("change", start);
  root.querySelector("[data-speaker]").addEventListener("change", () => {
    window.deviceCheck.speakerFor(root, preview);
  });

  // The location form posts as a plain form without this script; with it, the answer is
  // saved in place so the camera check and the socket carry on.
  const locationForm = root.querySelector("[data-location-form]");
  const locationProblem = root.querySelector("[data-location-problem]");
  const locationError = root.querySelector("[data-location-error]");
  const locationSaved = root.querySelector("[data-location-saved]");
  const stateSelect = locationForm.querySelector("select[name=state]");

  function showLocationProblem(message) {
    locationProblem.textContent = message || "";
    locationProblem.hidden = !message;
  }

  function stateName(code) {
    const option = [...stateSelect.options].find((o) => o.value === code);
    return option ? option.textContent : code;
  }

  locationForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = locationForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const response = await fetch(locationForm.action, {
        method: "POST", credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new FormData(locationForm),
      });
      const body = await response.json();
      locationError.hidden = response.ok;
      locationError.textContent = response.ok ? "" : body.detail;
      if (response.ok) {
        locationSaved.textContent = body.saved;
        showLocationProblem(body.not_licensed);
      }
    } catch (error) {
      locationError.textContent = locationError.dataset.failed;
      locationError.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsUrl}`);
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "admitted" || (frame.type === "status" && frame.admitted)) {
        root.querySelector("[data-waiting-status]").textContent = text("admitted");
        if (stream) stream.getTracks().forEach((t) => t.stop());
        window.location.assign(root.dataset.roomUrl);
      } else if (frame.type === "moved") { // the visit goes on in a group room
        if (stream) stream.getTracks().forEach((t) => t.stop());
        window.location.assign(frame.url);
      } else if (frame.type === "provider-status" || (frame.type === "status" && frame.provider_status)) {
        const note = root.querySelector("[data-provider-status]");
        note.textContent = frame.text || frame.provider_status;
        note.hidden = !note.textContent;
      } else if (frame.type === "location-refused") {
        showLocationProblem(locationProblem.dataset.template.replace("{state}", stateName(frame.state)));
        locationProblem.scrollIntoView({ block: "center" });
      } else if (frame.type === "location-needed") {
        showLocationProblem(locationProblem.dataset.needed);
        locationProblem.scrollIntoView({ block: "center" });
      } else if (frame.type === "message") {
        const note = root.querySelector("[data-staff-message]");
        note.textContent = frame.text;
        note.hidden = false;
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code < 4400 || event.code >= 4500) setTimeout(connect, 2000);
    });
    setInterval(() => socket.readyState === 1 && socket.send(JSON.stringify({ type: "ping" })), 25000);
  }

  // Connection test against the server's echo peer: round-trip time over a data channel,
  // and whether our own video came back.
  const testButton = root.querySelector("[data-connection-test]");
  window.connectionTest = { done: false };
  testButton.addEventListener("click", async () => {
    const result = root.querySelector("[data-connection-result]");
    const rttOut = root.querySelector("[data-rtt]");
    const mediaOut = root.querySelector("[data-media]");
    result.hidden = false;
    rttOut.textContent = mediaOut.textContent = text("testing");
    testButton.disabled = true;
    const pc = new RTCPeerConnection({ iceServers: JSON.parse(document.getElementById("ice-servers").textContent) });
    try {
      if (stream) stream.getTracks().forEach((track) => pc.addTrack(track, stream));
      const channel = pc.createDataChannel("rtt");
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
        setTimeout(resolve, 3000);
      });
      const response = await fetch(testButton.dataset.url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json",
                   "X-CSRFToken": root.querySelector("input[name=csrfmiddlewaretoken]").value },
        body: JSON.stringify({ sdp: pc.localDescription.sdp }),
      });
      if (!response.ok) throw new Error((await response.json()).detail);
      await pc.setRemoteDescription({ type: "answer", sdp: (await response.json()).sdp });
      await new Promise((resolve) => channel.readyState === "open" ? resolve() : channel.addEventListener("open", resolve));
      const rtts = [];
      for (let i = 0; i < 8; i++) {
        const sent = performance.now();
        await new Promise((resolve) => {
          channel.addEventListener("message", resolve, { once: true });
          channel.send(String(sent));
        });
        rtts.push(performance.now() - sent);
      }
      rtts.sort((a, b) => a - b);
      rttOut.textContent = `${Math.round(rtts[rtts.length >> 1])} ms`;
      let frames = 0;
      for (let i = 0; i < 20 && frames === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        (await pc.getStats()).forEach((s) => {
          if (s.type === "inbound-rtp") frames += s.kind === "video" ? (s.framesDecoded || 0) : (s.packetsReceived || 0);
        });
      }
      mediaOut.textContent = text(frames > 0 ? "yes" : "no");
      window.connectionTest = { done: true, rtt: rtts[rtts.length >> 1], mediaFlowed: frames > 0 };
    } catch (error) {
      rttOut.textContent = "—";
      mediaOut.textContent = error.message || text("test-failed");
      window.connectionTest = { done: true, error: String(error) };
    } finally {
      pc.close();
      testButton.disabled = false;
    }
  });

  start().then(fillDevices).catch(() => {});
  connect();
})();
