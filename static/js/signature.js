// Consent signing: a drawing pad (mouse, pen or finger) whose PNG goes with the form. The
// typed name is always enough, so the pad is an extra, shown only when scripts run.
(function () {
  "use strict";
  const form = document.querySelector("[data-sign-form]");
  if (!form) return;
  const field = form.querySelector("[data-pad-field]");
  const pad = form.querySelector("[data-pad]");
  const output = form.querySelector("input[name=drawing]");
  const context = pad.getContext("2d");
  let drawing = false;
  let drawn = false;
  field.hidden = false;
  context.lineWidth = 3;
  context.lineCap = "round";
  context.strokeStyle = "#1b2a35";

  function point(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
  }
  pad.addEventListener("pointerdown", (event) => {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    context.beginPath();
    context.moveTo(...point(event));
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    context.lineTo(...point(event));
    context.stroke();
    drawn = true;
  });
  const stop = () => {
    drawing = false;
    if (drawn) output.value = pad.toDataURL("image/png");
  };
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);
  form.querySelector("[data-pad-clear]").addEventListener("click", () => {
    context.clearRect(0, 0, pad.width, pad.height);
    drawn = false;
    output.value = "";
  });
})();
