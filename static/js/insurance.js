// The insurance card form: the policy holder's details are only needed when the patient is
// not the policy holder, so they are hidden while "Self" is chosen. Without JavaScript they
// stay visible and the server ignores them for "Self".
(function () {
  "use strict";
  const form = document.querySelector("[data-insurance-form]");
  if (!form) return;
  const relationship = form.querySelector("select[name=relationship]");
  const details = form.querySelector("[data-subscriber-details]");
  if (!relationship || !details) return;

  function update() {
    details.hidden = relationship.value === "self";
  }

  relationship.addEventListener("change", update);
  update();
})();
