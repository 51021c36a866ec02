// Shows times in the visitor's own zone: on the first visit (no ?tz=), picks the browser's
// zone in the "Show times in" list and reloads with it.
(function () {
  "use strict";
  const select = document.querySelector("[data-detect-zone]");
  if (!select || new URLSearchParams(window.location.search).has("tz")) return;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || select.value === zone) return;
  if (![...select.options].some((o) => o.value === zone)) {
    select.add(new Option(zone, zone));
  }
  select.value = zone;
  select.form.requestSubmit();
})();
