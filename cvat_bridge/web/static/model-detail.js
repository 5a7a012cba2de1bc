// Models page, the selected model's detail panel: progress, results (curves, metrics, per-class table,
// confusion matrix), artifacts and deployment. Uses statusCell, progressText, progressValue of models.js.
"use strict";

let shownDeploymentFor = null;

// A small SVG line chart: series = [{name, color, values}], x = epochs 1..n.
function lineChart(title, series, yMax) {
  const width = 420, height = 220, pad = 36;
  const n = Math.max(...series.map((s) => s.values.length), 1);
  const top = yMax ?? Math.max(1e-9, ...series.flatMap((s) => s.values));
  const x = (i) => pad + (n === 1 ? (width - 2 * pad) / 2 : (i * (width - 2 * pad)) / (n - 1));
  const y = (v) => height - pad - (v / top) * (height - 2 * pad);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  svg.setAttribute("role", "img"); svg.setAttribute("aria-label", title);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  add("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#999" });
  add("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, stroke: "#999" });
  add("text", { x: 4, y: pad, "font-size": 11 }, top.toPrecision(2));
  add("text", { x: 4, y: height - pad, "font-size": 11 }, "0");
  add("text", { x: width / 2, y: height - 8, "font-size": 11, "text-anchor": "middle" }, `epoch (1–${n})`);
  for (const s of series) {
    const points = s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ");
    add("polyline", { points, fill: "none", stroke: s.color, "stroke-width": 2 });
    s.values.forEach((v, i) => add("circle", { cx: x(i), cy: y(v), r: 2.5, fill: s.color }));
  }
  return el("div", { class: "chart" }, el("strong", {}, title), el("div", {}, svg),
    el("div", { class: "legend" }, series.map((s) => el("span", { style: `color:${s.color}` }, `■ ${s.name} `))));
}

function curves(history) {
  if (!history || !history.length) return null;
  return el("div", { class: "charts" },
    lineChart("Loss", [
      { name: "train", color: "#2463eb", values: history.map((e) => e.train_loss) },
      { name: "validation", color: "#c62828", values: history.map((e) => e.val_loss) },
    ]),
    lineChart("Validation accuracy", [{ name: "val accuracy", color: "#1a7f37", values: history.map((e) => e.val_accuracy) }], 1));
}

function confusionTable(confusion) {
  const labels = confusion.labels;
  return el("table", { class: "confusion", id: "confusion-matrix" },
    el("thead", {}, el("tr", {}, el("th", {}, "true \\ predicted"), labels.map((l) => el("th", {}, l)))),
    el("tbody", {}, confusion.matrix.map((row, i) => el("tr", {}, el("th", {}, labels[i]),
      row.map((count, j) => el("td", { class: i === j ? "diagonal" : "" }, count))))));
}

function perClassTable(metrics) {
  const rows = Object.entries(metrics.per_class);
  return el("table", { id: "per-class" },
    el("thead", {}, el("tr", {}, ["Class", "Precision", "Recall", "F1", "Support"].map((h, i) => el("th", { class: i ? "num" : "" }, h)))),
    el("tbody", {}, rows.map(([name, r]) => el("tr", {}, el("td", {}, name), el("td", { class: "num" }, percent(r.precision)),
      el("td", { class: "num" }, percent(r.recall)), el("td", { class: "num" }, percent(r.f1)), el("td", { class: "num" }, r.support))),
      el("tr", {}, el("th", {}, "macro"), el("th", { class: "num" }, percent(metrics.macro.precision)),
        el("th", { class: "num" }, percent(metrics.macro.recall)), el("th", { class: "num" }, percent(metrics.macro.f1)),
        el("th", { class: "num" }, metrics.total))));
}

async function download(model, name) {
  try {
    const response = await fetch(`/api/models/${model.id}/artifacts/${name}`, { headers: { Authorization: `Bearer ${apiToken()}` } });
    if (!response.ok) throw new Error((await response.json()).detail);
    const url = URL.createObjectURL(await response.blob());
    el("a", { href: url, download: `${model.name}-v${model.version}-${name}` }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) { flash(error.message); }
}

function results(model) {
  const m = model.metrics || {};
  const history = m.history || (model.progress || {}).history;
  const parts = [curves(history)];
  if (m.accuracy !== undefined) {
    const facts = [
      ["Validation accuracy", `${percent(m.accuracy)} (${m.correct}/${m.total} correct)`],
      ["Top-5 accuracy", m.top5 === null || m.top5 === undefined ? "– (fewer than 5 classes)" : percent(m.top5)],
      ["Best epoch", `${m.best_epoch === 0 ? "0 (the probe head, before fine-tuning)" : m.best_epoch} of ${m.epochs_run}${m.stopped_early ? " (stopped early)" : ""}`],
      ["Head initialised by", m.probe_head ? `${m.probe_head.chosen} probe (${percent(m.probe_head.val_accuracy)} on validation alone)` : "random (no probe)"],
      ["Test accuracy", m.test ? `${percent(m.test.accuracy)} (${m.test.correct}/${m.test.total})` : "– (no test split)"],
      ["Trained on", `${m.device}, ${seconds(m.seconds)}`],
      ["ONNX vs torch", `max |Δ logit| ${Number(m.onnx_max_abs_diff).toExponential(1)}`],
    ];
    if (m.int8) facts.push(["int8 model", m.int8.error || `${percent(m.int8.accuracy)} validation accuracy, ${percent(m.int8.agreement)} agreement with the float model, ${m.int8.size_mb} MB`]);
    if (m.baseline) facts.push(["Majority-class baseline", `${percent(m.baseline.accuracy)} (always "${m.baseline.majority_class}")`]);
    if (m.warnings && m.warnings.length) {
      parts.unshift(el("div", { class: "warning", id: "detail-warnings", role: "note" },
        el("strong", {}, "This model may not be useful: "), m.warnings.join("; ")));
    }
    parts.push(el("dl", { class: "facts", id: "detail-metrics" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
    parts.push(el("h3", {}, "Per class (validation)"), perClassTable(m));
    parts.push(el("h3", {}, "Confusion matrix (validation)"), confusionTable(m.confusion_matrix));
  }
  if (model.artifacts && model.artifacts.length) {
    parts.push(el("h3", {}, "Artifacts"), el("p", {}, model.artifacts.map((name) =>
      el("button", { class: "link", type: "button", onclick: () => download(model, name) }, name))));
  }
  return parts;
}

function renderDetail(model) {
  const section = document.getElementById("model-detail");
  section.hidden = false;
  document.getElementById("detail-title").textContent = `${model.name} v${model.version} · ${model.architecture}`;
  document.getElementById("detail-status").replaceChildren(statusCell(model));
  document.getElementById("detail-error").textContent = model.status === "failed" ? model.error || "" : "";
  const progress = document.getElementById("detail-progress");
  progress.replaceChildren(...(model.status === "running" ? [el("progress", { max: "1", value: String(progressValue(model)) })] : []),
    el("p", { id: "progress-text" }, progressText(model)));
  document.getElementById("cancel-button").hidden = !["queued", "running"].includes(model.status);
  document.getElementById("detail-results").replaceChildren(...results(model).filter(Boolean));
  const deployKey = `${model.id}:${model.status}`;
  if (typeof window.renderDeployment === "function" && shownDeploymentFor !== deployKey) {
    shownDeploymentFor = deployKey;
    window.renderDeployment(document.getElementById("deployment"), model);
  }
}

