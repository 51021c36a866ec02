// "Copy join link" buttons: copy the named read-only field's text to the clipboard and say so
// in the page's status line. Delegated from the document, so rows that htmx swaps in work too.
(function () {
  "use strict";
  const status = document.querySelector("[data-copy-status]");

  function say(text) {
    if (status) status.textContent = text;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (error) {
      document.execCommand("copy"); // older browsers, or a page not served over HTTPS
    }
    say(button.dataset.copied || "");
  });
})();
