// Daily GPU hours of one agreement as bars. The numbers come from a json_script block; the same numbers
// are in the table below the chart.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("usage-chart-data");
    var canvas = document.getElementById("usage-chart");
    if (!source || !canvas || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{ label: data.label, data: data.hours, backgroundColor: "#256ef4" }]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { beginAtZero: true, suggestedMax: 24 } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }
  window.medbrokerChartsDraw(draw);
})();
