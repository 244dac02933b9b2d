// Shared start of every chart drawn with the vendored Chart.js. A canvas uses only the font Chart.js names,
// not the page's: hand it Pretendard GOV once the page's fonts have loaded, or Korean labels come out as
// empty boxes. Pages load this file right after chart.umd.min.js and before their own chart script.
(function () {
  "use strict";
  window.medbrokerChartsDraw = function (draw) {
    function start() {
      if (typeof window.Chart !== "undefined") {
        window.Chart.defaults.font.family = window.getComputedStyle(document.body).fontFamily;
      }
      draw();
    }
    function whenFontsReady() {
      if (document.fonts && document.fonts.ready) {
        document.fonts.ready.then(start);
      } else {
        start();
      }
    }
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", whenFontsReady);
    } else {
      whenFontsReady();
    }
  };
})();
