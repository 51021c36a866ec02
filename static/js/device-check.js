// The camera, microphone and speaker check shared by the visit's waiting room (waiting.js)
// and the group session room (group-room.js): the device lists and a microphone level meter
// for the markup of templates/visits/_device_check.html.
(function () {
  "use strict";
  const kinds = { videoinput: "[data-camera]", audioinput: "[data-microphone]", audiooutput: "[data-speaker]" };

  async function fillDevices(root) {
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [kind, selector] of Object.entries(kinds)) {
      const select = root.querySelector(selector);
      if (!select) continue;
      const current = select.value;
      select.replaceChildren(...devices.filter((d) => d.kind === kind).map(
        (d, i) => new Option(d.label || `${kind} ${i + 1}`, d.deviceId)));
      if (current) select.value = current;
    }
  }

  let meterTimer = null;
  let meterContext = null;

  function meter(root, mediaStream) {
    clearInterval(meterTimer);
    if (meterContext) meterContext.close().catch(() => {});
    meterContext = null;
    const level = root.querySelector("[data-mic-level]");
    const tracks = mediaStream ? mediaStream.getAudioTracks() : [];
    if (!level || !tracks.length || !window.AudioContext) return;
    const context = meterContext = new AudioContext();
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(mediaStream).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    meterTimer = setInterval(() => {
      analyser.getByteTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
      level.value = peak;
    }, 150);
  }

  // The chosen speaker plays `media` (the preview, or the room's videos) where supported.
  function speakerFor(root, ...media) {
    const select = root.querySelector("[data-speaker]");
    if (!select || !select.value) return;
    for (const element of media) {
      if (element && element.setSinkId) element.setSinkId(select.value).catch(() => {});
    }
  }

  window.deviceCheck = { fillDevices, meter, speakerFor };
}());
