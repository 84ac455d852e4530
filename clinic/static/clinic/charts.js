/* Draws the app's charts with the shipped Chart.js. Each <canvas data-chart="vitals|phq9"
   data-source="id"> reads its data from a json_script element, on load and again after
   every htmx swap (a new reading re-renders the chart's section). */
(function () {
  "use strict";
  const drawn = new WeakMap();
  function data(canvas) {
    const el = document.getElementById(canvas.dataset.source);
    return el ? JSON.parse(el.textContent) : null;
  }
  function vitals(canvas, rows) {
    const pts = (key) => rows.map((r) => ({ x: r.t, y: r[key] }));
    return {
      type: "line",
      data: { datasets: [
        { label: "Systolic (mmHg)", data: pts("systolic"), borderColor: "#b91c1c", backgroundColor: "#b91c1c", yAxisID: "y" },
        { label: "Diastolic (mmHg)", data: pts("diastolic"), borderColor: "#c2410c", backgroundColor: "#c2410c", borderDash: [6, 3], yAxisID: "y" },
        { label: "Heart rate (/min)", data: pts("heart_rate"), borderColor: "#1d4ed8", backgroundColor: "#1d4ed8", yAxisID: "y" },
        { label: "SpO2 (%)", data: pts("spo2"), borderColor: "#047857", backgroundColor: "#047857", pointStyle: "rectRot", yAxisID: "y2" },
      ] },
      options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        scales: {
          x: { type: "linear", min: 0, title: { display: true, text: "Minutes since check-in" } },
          y: { title: { display: true, text: "mmHg, /min" }, suggestedMin: 40, suggestedMax: 200 },
          y2: { position: "right", min: 80, max: 100, title: { display: true, text: "SpO2 %" }, grid: { drawOnChartArea: false } },
        },
      },
    };
  }
  function phq9(canvas, s) {
    const labels = s.points.map((p) => p.x);
    const line = (v) => labels.map(() => v);
    const sets = [{ label: "PHQ-9 total", data: s.points.map((p) => p.y), borderColor: "#1d4ed8", backgroundColor: "#1d4ed8", pointRadius: 4 }];
    if (s.baseline !== null) {
      sets.push({ label: "Baseline (" + s.baseline + ")", data: line(s.baseline), borderColor: "#57606a", borderDash: [6, 4], pointRadius: 0 });
      sets.push({ label: "Response: 50% of baseline (" + s.response + ")", data: line(s.response), borderColor: "#c2410c", borderDash: [2, 3], pointRadius: 0 });
    }
    sets.push({ label: "Remission: below " + s.remission_below, data: line(s.remission_below), borderColor: "#047857", borderDash: [8, 3], pointRadius: 0 });
    return {
      type: "line",
      data: { labels: labels, datasets: sets },
      options: { animation: false, maintainAspectRatio: false, scales: { y: { min: 0, max: 27, title: { display: true, text: "PHQ-9 (0-27)" } } } },
    };
  }
  function draw(root) {
    if (!window.Chart) return;
    (root || document).querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const d = data(canvas);
      if (!d) return;
      if (drawn.has(canvas)) drawn.get(canvas).destroy();
      const config = canvas.dataset.chart === "phq9" ? phq9(canvas, d) : vitals(canvas, d);
      drawn.set(canvas, new window.Chart(canvas, config));
    });
  }
  document.addEventListener("DOMContentLoaded", () => draw(document));
  document.addEventListener("htmx:afterSettle", () => draw(document));
})();
