// Live countdown to a call's deadline. The server renders the deadline and the days left; this only
// refreshes the figure every second. The deadline itself is enforced by the server.
(function () {
  "use strict";
  function pad(n) { return String(n).padStart(2, "0"); }
  function tick() {
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.deadline) - Date.now()) / 1000);
      if (isNaN(left)) { return; }
      if (left <= 0) { el.textContent = el.dataset.closedText || ""; return; }
      var days = Math.floor(left / 86400);
      var rest = left % 86400;
      var clock = pad(Math.floor(rest / 3600)) + ":" + pad(Math.floor((rest % 3600) / 60)) + ":" + pad(rest % 60);
      el.textContent = (el.dataset.daysFormat || "%d ").replace("%d", days) + clock;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); window.setInterval(tick, 1000); });
})();
