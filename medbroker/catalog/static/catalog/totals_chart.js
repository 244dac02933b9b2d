// Stacked bar chart of annotated / non-annotated cases per modality on the catalogue page.
// The numbers come from a json_script block; the same numbers are in the table beside the chart.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("catalog-totals-data");
    var canvas = document.getElementById("catalog-totals-chart");
    if (!source || !canvas || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var number = function (value) { return Number(value).toLocaleString("ko-KR"); };
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: data.annotated_label, data: data.annotated, backgroundColor: "#256ef4" },
          { label: data.non_annotated_label, data: data.non_annotated, backgroundColor: "#a8c5fb" }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, ticks: { callback: number } }
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (context) { return context.dataset.label + ": " + number(context.parsed.y); }
            }
          }
        }
      }
    });
  }
  window.medbrokerChartsDraw(draw);
})();
