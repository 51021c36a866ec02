// Live monitoring alerts on every page a clinician has open. The page listens on /ws/me/
// (reconnecting with backoff when the connection drops) and shows each `rpm-alert` as a
// notice in a live region: critical ones in the assertive region with a short chime (once per
// browser, not once per tab) and, when the user allowed it and is looking elsewhere, a
// desktop notification that names no patient and no value. Lists of alerts on the page
// ([data-live-refresh]) are re-read from the server, so the page itself is never stale.
(function () {
  "use strict";
  const root = document.querySelector("[data-live-alerts]");
  if (!root) return;
  const criticalList = root.querySelector("[data-live-critical]");
  const otherList = root.querySelector("[data-live-other]");
  const bar = root.querySelector("[data-live-bar]");
  const dismissAllButton = root.querySelector("[data-dismiss-all]");
  const enableButton = root.querySelector("[data-enable-desktop-alerts]");
  const template = root.querySelector("[data-live-alert-template]");
  const severityLabels = { critical: root.dataset.labelCritical, warning: root.dataset.labelWarning };
  const baseTitle = document.title;
  const shown = new Set();
  const phone = window.matchMedia("(max-width: 40rem)");
  // Read by the browser tests, as the thread page's window.threadState is.
  const state = (window.liveAlerts = { connected: false, shown: 0, chimes: 0, notified: 0, refreshed: 0 });
  const FINAL_CLOSE = [4401, 4403, 4440]; // signed out, not allowed, session ended: no retry
  let socket = null;
  let attempt = 0;
  let everOpened = false;
  let retryTimer = null;
  let stopped = false;
  let leaving = false;

  // --- The connection -------------------------------------------------------------------

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (stopped || leaving || (socket && socket.readyState <= WebSocket.OPEN)) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsUrl}`);
    socket.addEventListener("open", () => {
      state.connected = true;
      attempt = 0;
      if (everOpened) scheduleRefresh(null); // alerts raised while we were away
      everOpened = true;
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (frame && frame.type === "rpm-alert" && valid(frame)) onAlert(frame);
    });
    socket.addEventListener("close", (event) => {
      state.connected = false;
      socket = null;
      if (FINAL_CLOSE.includes(event.code)) {
        stopped = true;
        return;
      }
      if (!leaving) retryLater();
    });
  }

  function retryLater() {
    // 1, 2, 4 … 30 s, with jitter so a restarted server is not met by every page at once.
    const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt = Math.min(attempt + 1, 5);
    retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (retryTimer) connect();
  }

  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });
  window.addEventListener("pagehide", () => {
    leaving = true;
    if (socket) socket.close(1000);
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    leaving = false;
    connect();
  });

  // --- Notices --------------------------------------------------------------------------

  function valid(frame) {
    return (
      Number.isInteger(frame.alert) &&
      Number.isInteger(frame.patient) &&
      typeof frame.severity === "string" &&
      typeof frame.summary === "string" &&
      typeof frame.url === "string" &&
      frame.url.startsWith("/") &&
      !frame.url.startsWith("//")
    );
  }

  function onAlert(frame) {
    const key = `${frame.alert}${frame.escalation ? ":escalated" : ""}`;
    if (!shown.has(key)) {
      shown.add(key);
      show(frame, key);
      if (frame.severity === "critical") {
        if (canChime()) chimeOnce(key);
        notifyDesktop(frame, key);
      }
    }
    scheduleRefresh(frame.patient);
    document.dispatchEvent(new CustomEvent("rpm-alert", { detail: frame }));
  }

  function show(frame, key) {
    const critical = frame.severity === "critical";
    const notice = template.content.firstElementChild.cloneNode(true);
    notice.classList.add(critical ? "live-alert--critical" : "live-alert--warning");
    notice.dataset.key = key;
    notice.querySelector("[data-severity]").textContent =
      severityLabels[frame.severity] || frame.severity;
    notice.querySelector("[data-summary]").textContent = frame.summary;
    notice.querySelector("[data-dismiss-summary]").textContent = frame.summary;
    notice.querySelector("[data-escalation]").hidden = !frame.escalation;
    notice.querySelector("[data-link]").href = frame.url;
    const now = new Date();
    const time = notice.querySelector("[data-time]");
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString(document.documentElement.lang || undefined, {
      hour: "numeric",
      minute: "2-digit",
    });
    notice.querySelector("[data-dismiss]").addEventListener("click", () => dismiss(notice));
    (critical ? criticalList : otherList).prepend(notice);
    state.shown += 1;
    update();
  }

  function notices() {
    return Array.from(root.querySelectorAll(".live-alert"));
  }

  function dismiss(notice) {
    const hadFocus = notice.contains(document.activeElement);
    const all = notices();
    const next = all[all.indexOf(notice) + 1] || all[all.indexOf(notice) - 1];
    notice.remove();
    update();
    if (!hadFocus) return;
    // Keep keyboard users in the stack while it has notices; then back to the page.
    const target = next ? next.querySelector("[data-dismiss]") : document.getElementById("main");
    if (target) target.focus();
  }

  dismissAllButton.addEventListener("click", () => {
    notices().forEach((notice) => notice.remove());
    update();
    const main = document.getElementById("main");
    if (main) main.focus();
  });

  function update() {
    const all = notices();
    const critical = criticalList.children.length;
    dismissAllButton.hidden = all.length < 2;
    enableButton.hidden = !(critical && "Notification" in window && Notification.permission === "default");
    bar.hidden = dismissAllButton.hidden && enableButton.hidden;
    root.classList.toggle("live-alerts--open", all.length > 0);
    // The tab says how many alerts wait, for a clinician on another tab.
    document.title = all.length ? `(${all.length}) ${baseTitle}` : baseTitle;
    makeRoom();
  }

  // On a phone the stack sits at the bottom of the screen: the page gets room below its
  // content, so every control can still be scrolled into view above the notices.
  function makeRoom() {
    const open = root.classList.contains("live-alerts--open");
    document.body.style.paddingBottom = open && phone.matches ? `${root.offsetHeight}px` : "";
  }

  if (window.ResizeObserver) new ResizeObserver(makeRoom).observe(root);
  phone.addEventListener("change", makeRoom);

  // --- Sound and desktop notifications ----------------------------------------------------

  let audio = null;

  // Several tabs of one clinician all receive the alert: one of them chimes. The first tab
  // to take the alert's lock keeps it a while; the others find it taken and stay quiet.
  function chimeOnce(key) {
    if (!navigator.locks) {
      chime(); // an older browser: better a chime per tab than none
      return;
    }
    navigator.locks
      .request(`liveAlerts.chime.${key}`, { ifAvailable: true }, (lock) => {
        if (!lock) return undefined;
        chime();
        return new Promise((resolve) => setTimeout(resolve, 30000));
      })
      .catch(() => {});
  }

  // Browsers refuse sound before the user has touched the page: such a tab stays quiet (and
  // leaves the chime to a tab that can play it); the notice says it all.
  function canChime() {
    if (!(window.AudioContext || window.webkitAudioContext)) return false;
    return !navigator.userActivation || navigator.userActivation.hasBeenActive;
  }

  function chime() {
    const Context = window.AudioContext || window.webkitAudioContext;
    try {
      audio = audio || new Context();
      const play = () => {
        const start = audio.currentTime + 0.02;
        [880, 660, 880, 660].forEach((pitch, n) => tone(pitch, start + n * 0.2, 0.16));
        state.chimes += 1;
      };
      if (audio.state === "running") play();
      else audio.resume().then(play, () => {});
    } catch (error) {
      // No sound available: the notice is on screen.
    }
  }

  function tone(pitch, at, length) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = pitch;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(at);
    oscillator.stop(at + length + 0.02);
  }

  function notifyDesktop(frame, key) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return; // in view already
    try {
      // A lock screen is not private: no name, no value, only where to look.
      const title = frame.escalation
        ? root.dataset.labelNotificationEscalated
        : root.dataset.labelNotification;
      const note = new Notification(title, {
        body: root.dataset.labelNotificationBody,
        tag: `rpm-alert-${key}`, // one per alert, however many tabs are open
        requireInteraction: true,
      });
      note.addEventListener("click", () => {
        window.focus();
        location.assign(frame.url);
        note.close();
      });
      state.notified += 1;
    } catch (error) {
      // Some browsers allow notifications only from a service worker: the notice remains.
    }
  }

  function renderDesktopControls() {
    const supported = "Notification" in window;
    const permission = supported ? Notification.permission : "";
    document.querySelectorAll("[data-desktop-alerts]").forEach((box) => {
      box.hidden = !supported;
      box.querySelector("[data-desktop-alerts-ask]").hidden = permission !== "default";
      box.querySelector("[data-desktop-alerts-on]").hidden = permission !== "granted";
      box.querySelector("[data-desktop-alerts-blocked]").hidden = permission !== "denied";
    });
    update();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-enable-desktop-alerts]");
    if (!button || !("Notification" in window)) return;
    Promise.resolve(Notification.requestPermission()).then(renderDesktopControls, renderDesktopControls);
  });

  // --- Lists on the page ----------------------------------------------------------------

  let refreshTimer = null;
  let refreshPatients = new Set();
  let refreshEverything = false;
  let refreshFailures = 0;
  const REFRESH_TRIES = 4; // then the lists wait for the next alert (or a reload)

  function scheduleRefresh(patient) {
    if (patient === null) refreshEverything = true;
    else refreshPatients.add(patient);
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250); // one fetch for a burst of alerts
  }

  // A re-read that failed (the server restarting, a moment's overload) is tried again after
  // 1, 2 and 4 s: otherwise the list would show the page as it was before the alert.
  function retryRefresh(everything, patients) {
    refreshFailures += 1;
    if (refreshFailures >= REFRESH_TRIES) {
      refreshFailures = 0;
      return;
    }
    if (everything) refreshEverything = true;
    patients.forEach((patient) => refreshPatients.add(patient));
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 1000 * 2 ** (refreshFailures - 1));
  }

  // Someone typing a resolution note keeps what they typed: that list waits for a reload.
  function busy(region) {
    if (region.contains(document.activeElement) && document.activeElement !== region) return true;
    return Array.from(region.querySelectorAll("input:not([type=hidden]), textarea")).some(
      (field) => field.value,
    );
  }

  async function refresh() {
    const everything = refreshEverything;
    const patients = refreshPatients;
    refreshEverything = false;
    refreshPatients = new Set();
    const regions = Array.from(document.querySelectorAll("[data-live-refresh]")).filter(
      (region) =>
        region.id &&
        (everything || !region.dataset.patient || patients.has(Number(region.dataset.patient))) &&
        !busy(region),
    );
    if (!regions.length) return;
    let response;
    let text;
    try {
      response = await fetch(location.href, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-Background-Refresh": "1" }, // not activity: the idle timeout still runs
      });
      if (response.redirected) return; // signed out: session.js takes over
      if (!response.ok) {
        // A refusal (403, 404) will not change by asking again; a failure may.
        if (response.status >= 500 || response.status === 429) retryRefresh(everything, patients);
        return;
      }
      text = await response.text();
    } catch (error) {
      retryRefresh(everything, patients); // the network, or the server went away mid-answer
      return;
    }
    refreshFailures = 0;
    const fresh = new DOMParser().parseFromString(text, "text/html");
    regions.forEach((region) => {
      const replacement = fresh.getElementById(region.id);
      if (replacement && !busy(region)) region.innerHTML = replacement.innerHTML;
    });
    state.refreshed += 1;
  }

  renderDesktopControls();
  connect();
})();
