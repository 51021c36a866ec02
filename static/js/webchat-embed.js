// Put the practice's chat form on another website:
//   <script src="https://clinic.example.org/static/js/webchat-embed.js"
//           data-practice="riverside" defer></script>
// It adds an iframe of /messaging/chat/<practice>/ after the script tag. The practice lists
// the website under messaging settings so the form may be framed there.
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.dataset.practice) return;
  const origin = new URL(script.src).origin;
  const frame = document.createElement("iframe");
  frame.src = `${origin}/messaging/chat/${encodeURIComponent(script.dataset.practice)}/`;
  frame.title = script.dataset.title || "Text us";
  frame.loading = "lazy";
  frame.width = "100%";
  frame.height = script.dataset.height || "640";
  frame.setAttribute("style", "border:0;max-width:28rem");
  script.after(frame);
})();
