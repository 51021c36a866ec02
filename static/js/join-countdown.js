// The join page before the waiting room opens: load the page again when the room opens (the
// server says when in data-reload-in), and every few minutes before, so the countdown stays
// about right. Without JS the page says when to come back and has a "Check again" link.
(function () {
  "use strict";
  const page = document.querySelector("[data-reload-in]");
  if (!page) return;
  const seconds = Number(page.dataset.reloadIn);
  if (!(seconds > 0)) return;
  window.setTimeout(() => window.location.replace(window.location.pathname), seconds * 1000);
})();
