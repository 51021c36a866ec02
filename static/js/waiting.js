// Waiting room: camera/microphone/speaker check with a live preview and level meter, and a
// socket that moves the patient into the room the moment they are admitted.
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
  let meterTimer = null;

  function showProblem(key) {
    problem.textContent = text(key);
    problem.hidden = false;
  }

  async function fillDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const lists = { videoinput: "[data-camera]", audioinput: "[data-microphone]", audiooutput: "[data-speaker]" };
    for (const [kind, selector] of Object.entries(lists)) {
      const select = root.querySelector(selector);
      const current = select.value;
      select.replaceChildren(...devices.filter((d) => d.kind === kind).map(
        (d, i) => new Option(d.label || `${kind} ${i + 1}`, d.deviceId)));
      if (current) select.value = current;
    }
  }

  function meter(mediaStream) {
    clearInterval(meterTimer);
    const tracks = mediaStream.getAudioTracks();
    if (!tracks.length || !window.AudioContext) return;
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(mediaStream).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    const level = root.querySelector("[data-mic-level]");
    meterTimer = setInterval(() => {
      analyser.getByteTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
      level.value = peak;
    }, 150);
  }

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
  root.querySelector("[data-speaker]").addEventListener("change", (event) => {
    if (preview.setSinkId) preview.setSinkId(event.target.value).catch(() => {});
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
      } else if (frame.type === "provider-status" || (frame.type === "status" && frame.provider_status)) {
        const note = root.querySelector("[data-provider-status]");
        note.textContent = frame.text || frame.provider_status;
        note.hidden = !note.textContent;
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

  start().then(fillDevices).catch(() => {});
  connect();
})();
