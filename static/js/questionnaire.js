// Intake forms: show a question only when its enableWhen rules hold, as the server does.
// Hidden questions' inputs are disabled so they are not sent.
(function () {
  "use strict";
  const form = document.querySelector("[data-questionnaire]");
  if (!form) return;
  const conditional = [...form.querySelectorAll("[data-enable-when]")];
  if (!conditional.length) return;

  function values(link) {
    const inputs = [...form.querySelectorAll(`[name="${CSS.escape(link)}"]`)].filter((i) => !i.disabled);
    return inputs
      .filter((i) => (i.type === "radio" || i.type === "checkbox" ? i.checked : i.value.trim() !== ""))
      .map((i) => i.value.trim());
  }

  function holds(rule) {
    const given = values(rule.question);
    if (rule.operator === "exists") return (given.length > 0) === !!rule.exists;
    const expected = rule.answer;
    const numeric = (v) => v !== "" && !Number.isNaN(Number(v));
    return given.some((value) => {
      const [a, b] = numeric(value) && numeric(expected) ? [Number(value), Number(expected)] : [value, expected];
      switch (rule.operator) {
        case "=": return a === b;
        case "!=": return a !== b;
        case ">": return a > b;
        case "<": return a < b;
        case ">=": return a >= b;
        case "<=": return a <= b;
        default: return false;
      }
    });
  }

  function update() {
    // Repeat until stable: showing one question can show another that depends on it.
    for (let pass = 0; pass < 5; pass++) {
      let changed = false;
      conditional.forEach((block) => {
        const rules = JSON.parse(block.dataset.enableWhen);
        const results = rules.map(holds);
        const show = block.dataset.behavior === "any" ? results.some(Boolean) : results.every(Boolean);
        if (block.hidden === show) {
          block.hidden = !show;
          block.querySelectorAll("input, textarea, select").forEach((i) => { i.disabled = !show; });
          changed = true;
        }
      });
      if (!changed) break;
    }
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
