// Idle-timeout warning: shows a dialog shortly before the server ends an idle session, lets the
// user stay signed in (a keep-alive POST), and leaves for the sign-in page once it has ended.
(function () {
  "use strict";
  const body = document.body;
  const idle = Number(body.dataset.sessionIdle || 0);
  if (!idle) return;
  const warnBefore = Number(body.dataset.sessionWarning || 120);
  const dialog = document.getElementById("session-warning");
  let warnTimer, endTimer;

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function schedule() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(function () {
      if (dialog && !dialog.open) dialog.showModal();
    }, Math.max(idle - warnBefore, 1) * 1000);
    endTimer = setTimeout(function () {
      window.location.assign(body.dataset.loginUrl + "?next=" + encodeURIComponent(window.location.pathname));
    }, (idle + 2) * 1000);
  }

  async function stay() {
    const response = await fetch(body.dataset.keepaliveUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      credentials: "same-origin",
    });
    if (dialog && dialog.open) dialog.close();
    if (response.ok) schedule();
    else window.location.assign(body.dataset.loginUrl);
  }

  const stayButton = document.querySelector("[data-session-stay]");
  if (stayButton) stayButton.addEventListener("click", stay);
  document.body.addEventListener("htmx:afterRequest", schedule);
  schedule();
})();
