// The staff inbox, live: when any thread of the practice changes, the list reloads (the
// socket says only which thread changed; the list itself comes from the server, scoped to
// what this user may see).
(function () {
  "use strict";
  const box = document.querySelector("[data-inbox]");
  if (!box) return;
  let pending = null;

  async function refresh() {
    const response = await fetch(box.dataset.refreshUrl, {
      credentials: "same-origin",
      headers: { "HX-Request": "true" },
    });
    if (response.ok) box.innerHTML = await response.text();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${box.dataset.wsUrl}`);
    socket.addEventListener("open", refresh); // whatever changed before the socket opened
    socket.addEventListener("message", (e) => {
      const frame = JSON.parse(e.data);
      if (frame.type !== "thread-updated") return;
      clearTimeout(pending);
      pending = setTimeout(refresh, 300);
    });
    socket.addEventListener("close", (e) => {
      if (e.code >= 4400 && e.code < 4500) return;
      setTimeout(connect, 2000);
    });
  }
  connect();
})();
