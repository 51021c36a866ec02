// Idle-timeout warning: shows a dialog shortly before the server ends an idle session, lets the
// user stay signed in (a keep-alive POST), and leaves for the sign-in page once it has ended.
// The server records activity at most once a minute, so the time left comes from the server: the
// page's data-session-left, the X-Session-Seconds-Left header of each htmx response, and the
// keep-alive's answer.
(function () {
  "use strict";
  const body = document.body;
  const idle = Number(body.dataset.sessionIdle || 0);
  if (!idle) return;
  const left = Number(body.dataset.sessionLeft || idle);
  const warnBefore = Number(body.dataset.sessionWarning || 120);
  const dialog = document.getElementById("session-warning");
  let warnTimer, endTimer;

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function schedule(seconds) {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(function () {
      if (dialog && !dialog.open) dialog.showModal();
    }, Math.max(seconds - warnBefore, 1) * 1000);
    endTimer = setTimeout(function () {
      window.location.assign(body.dataset.loginUrl + "?next=" + encodeURIComponent(window.location.pathname));
    }, (seconds + 2) * 1000);
  }

  function afterRequest(event) {
    const xhr = event.detail && event.detail.xhr;
    const header = xhr ? xhr.getResponseHeader("X-Session-Seconds-Left") : null;
    if (header !== null && header !== "") schedule(Number(header));
  }

  async function stay() {
    const response = await fetch(body.dataset.keepaliveUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      credentials: "same-origin",
    });
    if (dialog && dialog.open) dialog.close();
    if (!response.ok) {
      window.location.assign(body.dataset.loginUrl);
      return;
    }
    const answer = await response.json();
    schedule(Number(answer.seconds_left || idle));
  }

  const stayButton = document.querySelector("[data-session-stay]");
  if (stayButton) stayButton.addEventListener("click", stay);
  document.body.addEventListener("htmx:afterRequest", afterRequest);
  schedule(left);
})();
