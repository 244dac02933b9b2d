// Stacked bars (review score + verified bonus = final score) per application on the ranking page, with the
// cut-off as a dashed line. The numbers come from a json_script block; the same numbers are in the table.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("ranking-chart-data");
    var canvas = document.getElementById("ranking-chart");
    if (!source || !canvas || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var reviewColours = data.passing.map(function (passes) { return passes ? "#256ef4" : "#b8c2cf"; });
    var bonusColours = data.passing.map(function (passes) { return passes ? "#2e9b4f" : "#d5dbe3"; });
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: data.review_label, data: data.review, backgroundColor: reviewColours, stack: "score" },
          { label: data.bonus_label, data: data.bonus, backgroundColor: bonusColours, stack: "score" },
          {
            type: "line",
            label: data.cutoff_label,
            data: data.labels.map(function () { return data.cutoff; }),
            borderColor: "#d08a00",
            borderDash: [6, 4],
            borderWidth: 2,
            pointRadius: 0,
            fill: false
          }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, suggestedMax: 110 } },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              title: function (items) {
                var i = items[0].dataIndex;
                return data.labels[i] + " " + data.companies[i];
              },
              label: function (context) { return context.dataset.label + ": " + context.parsed.y.toFixed(2); }
            }
          }
        }
      }
    });
  }
  window.medbrokerChartsDraw(draw);
})();
