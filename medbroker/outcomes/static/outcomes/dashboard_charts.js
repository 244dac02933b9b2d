// The programme dashboard's bar charts (GPU hours per company, closed-room hours, report states). The numbers
// come from a json_script block; the same numbers are in the tables of the page.
(function () {
  "use strict";
  var COLOURS = ["#256ef4", "#2e9b4f", "#d08a00", "#8a5cf6", "#d50136", "#0b7285", "#58616a"];
  function bar(canvasId, series, horizontal) {
    var canvas = document.getElementById(canvasId);
    if (!canvas || !series) {
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: series.labels,
        datasets: [{
          label: series.label,
          data: series.values,
          backgroundColor: series.values.map(function (_v, i) { return COLOURS[i % COLOURS.length]; })
        }]
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true }, y: { beginAtZero: true } }
      }
    });
  }
  function draw() {
    var source = document.getElementById("outcomes-chart-data");
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    bar("outcomes-gpu-chart", data.gpu, true);
    bar("outcomes-room-chart", data.room, false);
    bar("outcomes-reports-chart", data.reports, false);
  }
  window.medbrokerChartsDraw(draw);
})();
