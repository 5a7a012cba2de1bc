// Line charts with uPlot (vendored: /static/vendor/uplot): axes with ticks and values, values under the cursor
// in the legend. lineChart draws series over a shared x (epochs); trainingCharts draws a model's history:
// epoch 0 (the probe head) when there is one, the per-step training loss within each epoch, the kept epoch.
"use strict";

const CHART_HEIGHT = 240;
const CHART_COLORS = ["#2463eb", "#c62828", "#1a7f37", "#8a3ffc", "#b26a00", "#007d79"];

// Two charts side by side where there is room, one per line on a phone.
function chartWidth() {
  const main = document.querySelector("main");
  const room = main ? main.clientWidth - 72 : 480;
  return Math.max(260, Math.min(room > 900 ? Math.floor((room - 32) / 2) - 30 : room - 30, 520));
}

// series: [{label, color, points: [[x, y], ...], line: true|false (points only), dash}]; opts: {title, xLabel,
// yLabel, percent (y in 0..1 shown as %), marker: x of a dashed vertical line (the kept epoch), markerLabel}.
function lineChart(opts, series) {
  const xs = [...new Set(series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
  const position = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const column = xs.map(() => null);
    s.points.forEach(([x, y]) => { column[position.get(x)] = y; });
    return column;
  });
  const format = (v) => v === null || v === undefined ? "–" : opts.percent ? percent(v) : Number(v).toFixed(4);
  const figure = el("figure", { class: "chart", "aria-label": opts.title },
    el("figcaption", {}, el("strong", {}, opts.title)));
  const markerHook = (u) => {
    if (opts.marker === undefined || opts.marker === null) return;
    const x = u.valToPos(opts.marker, "x", true);
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#5f6b7a";
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  };
  const plot = new uPlot({
    width: chartWidth(),
    height: CHART_HEIGHT,
    scales: { x: { time: false }, y: opts.percent ? { range: [0, 1] } : { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] } },
    axes: [
      { label: opts.xLabel || "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500], values: (u, ticks) => ticks.map((t) => String(t)) },
      { label: opts.yLabel, size: 56, values: (u, ticks) => ticks.map((t) => opts.percent ? `${Math.round(t * 100)}%` : t.toPrecision(2)) },
    ],
    series: [
      { label: opts.xLabel || "epoch", value: (u, v) => v === null || v === undefined ? "–" : Number.isInteger(v) ? String(v) : v.toFixed(2) },
      ...series.map((s) => ({
        label: s.label, stroke: s.color, width: s.line === false ? 0 : s.width || 2, dash: s.dash, spanGaps: true,
        points: { show: s.showPoints !== false, size: 6, fill: s.color },
        value: (u, v) => format(v),
      })),
    ],
    hooks: { draw: [markerHook] },
  }, [xs, ...columns], figure);
  figure.plot = plot;
  if (opts.markerLabel) figure.append(el("p", { class: "muted chart-note" }, opts.markerLabel));
  return figure;
}

// The probe head (metrics.probe_head: val_loss, val_accuracy) is epoch 0 when the model has one. score: what
// the history's val_accuracy holds ("accuracy"; a multi-label model's "mAP"). live: the running epoch's step
// losses (progress.step_losses), drawn before the epoch ends.
function trainingCharts(history, probeHead, bestEpoch, score = "accuracy", live = []) {
  history = history || [];
  if (!history.length && !live.length) return null;
  const epochs = history.map((e) => e.epoch);
  const zero = probeHead && probeHead.val_loss !== undefined ? [{ epoch: 0, val_loss: probeHead.val_loss, val_accuracy: probeHead.val_accuracy }] : [];
  const validation = [...zero, ...history];
  const steps = [...history.flatMap((e) => e.step_losses || []), ...live];
  const marker = bestEpoch === undefined || bestEpoch === null ? null : bestEpoch;
  const markerLabel = marker === null ? null : `Dashed line: the kept epoch (${marker}${marker === 0 ? ", the probe head" : ""}).`;
  const loss = [
    { label: "train loss (epoch mean)", color: CHART_COLORS[0], points: history.map((e) => [e.epoch, e.train_loss]) },
    { label: "validation loss", color: CHART_COLORS[1], points: validation.map((e) => [e.epoch, e.val_loss]) },
  ];
  if (steps.length) {
    loss.push({ label: "train loss (per step)", color: "#7fa2f0", width: 1, showPoints: false, points: steps });
  }
  return el("div", { class: "charts", id: "training-charts", "data-epochs": String(Math.max(0, ...epochs)) },
    lineChart({ title: "Loss", yLabel: "loss", marker, markerLabel }, loss),
    lineChart({ title: `Validation ${score}`, yLabel: score, percent: true, marker },
      [{ label: `val ${score}`, color: CHART_COLORS[2], points: validation.map((e) => [e.epoch, e.val_accuracy]) }]));
}

// Charts follow the window's width (a phone turned, a window resized).
window.addEventListener("resize", () => {
  for (const figure of document.querySelectorAll("figure.chart")) {
    if (figure.plot) figure.plot.setSize({ width: chartWidth(), height: CHART_HEIGHT });
  }
});
