// Zoom for e-visit photos: buttons and the + / - / 0 keys step the zoom; when zoomed, the
// frame scrolls (arrow keys once it has focus). Without script, "Open full size" remains.
(function () {
  "use strict";
  var LEVELS = [0, 1, 1.5, 2, 3]; // 0: fit the frame
  document.querySelectorAll("[data-photo-zoom]").forEach(function (figure) {
    var frame = figure.querySelector(".photo-zoom__frame");
    var img = figure.querySelector("[data-photo]");
    var output = figure.querySelector("[data-zoom-level]");
    var fitLabel = output.textContent;
    var level = 0;
    function apply() {
      var scale = LEVELS[level];
      if (scale === 0) {
        img.style.width = "";
        img.style.maxWidth = "";
        frame.classList.remove("photo-zoom__frame--zoomed");
        output.textContent = fitLabel;
      } else {
        img.style.maxWidth = "none";
        img.style.width = Math.round(img.naturalWidth * scale / window.devicePixelRatio) + "px";
        frame.classList.add("photo-zoom__frame--zoomed");
        output.textContent = Math.round(scale * 100) + "%";
      }
    }
    function step(by) {
      level = Math.max(0, Math.min(LEVELS.length - 1, level + by));
      apply();
    }
    figure.querySelector('[data-zoom="in"]').addEventListener("click", function () { step(1); });
    figure.querySelector('[data-zoom="out"]').addEventListener("click", function () { step(-1); });
    frame.addEventListener("keydown", function (event) {
      if (event.key === "+" || event.key === "=") { step(1); event.preventDefault(); }
      else if (event.key === "-") { step(-1); event.preventDefault(); }
      else if (event.key === "0") { level = 0; apply(); event.preventDefault(); }
    });
  });
})();
