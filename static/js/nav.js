// The navigation's drop-down menus (details elements) close on Escape, returning focus to
// their summary, and on a click anywhere outside them, as menus do elsewhere.
(function () {
  "use strict";
  const menus = [...document.querySelectorAll("[data-nav-menu]")];
  if (!menus.length) return;
  document.addEventListener("click", (event) => {
    for (const menu of menus) {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of menus) {
      if (!menu.open) continue;
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
})();
