// Models page, the selected model's detail panel: progress, results (curves, metrics, per-class table,
// confusion matrix), artifacts and deployment. Uses statusCell, progressText, progressValue, failure of models.js.
"use strict";

let shownDeploymentFor = null;
let shownResultsFor = null;  // the results are rebuilt only when they change (keeps focus, hover, opened cells)
let shownLiveLosses = 0;  // step losses of the running epoch in the charts shown

// What the model is: its collection (linked), every setting, and how to use it (Inference, curl, CLI, compare).
function modelContext(model) {
  const collection = el("span", { id: "detail-collection" }, model.collection_id ? `#${model.collection_id}` : "– (deleted)");
  if (model.collection_id) {
    api(`/collections/${model.collection_id}`).then((c) => collection.replaceChildren(
      el("a", { href: `/collections/${c.id}` }, `${c.name} v${c.version}`), ` (#${c.id}, ${c.num_images} images)`))
      .catch(() => collection.replaceChildren(`#${model.collection_id} (deleted)`));
  }
  const settings = Object.entries(model.settings || {}).sort(([a], [b]) => a.localeCompare(b));
  const parts = [
    el("dl", { class: "facts", id: "detail-context" },
      el("dt", {}, "Collection"), el("dd", {}, collection),
      el("dt", {}, "Classes"), el("dd", {}, (model.classes || []).join(", ")),
      el("dt", {}, "Created"), el("dd", {}, new Date(model.created_at).toLocaleString())),
    el("details", { id: "detail-settings" }, el("summary", {}, `Settings (${settings.length})`),
      el("table", {}, el("tbody", {}, settings.map(([key, value]) =>
        el("tr", {}, el("th", { scope: "row" }, key), el("td", {}, value === null ? "automatic" : String(value))))))),
  ];
  if (model.status === "succeeded") {
    parts.push(el("p", { class: "row" },
      el("a", { id: "try-it", href: `/inference?model=${model.id}` }, "Try it on the Inference page"),
      el("a", { id: "compare-link", href: `/compare?a=${model.id}` }, "Compare with another model")));
    const curl = `curl -H "Authorization: Bearer $TOKEN" -F file=@image.jpg ${location.origin}/api/models/${model.id}/predict`;
    parts.push(copyableCode(curl, "the curl command", "curl-line"),
      copyableCode(`cvat-bridge predict ${model.id} image.jpg`, "the predict command", "cli-line"));
  }
  return parts;
}

// Each cell is a button: it shows the validation images of that cell (true row, predicted column) below.
function confusionTable(model, confusion) {
  const labels = confusion.labels;
  const cellImages = el("div", { id: "cell-images", "aria-live": "polite" });
  const table = el("table", { class: "confusion", id: "confusion-matrix" },
    el("thead", {}, el("tr", {}, el("th", {}, "true \\ predicted"), labels.map((l) => el("th", { scope: "col" }, l)))),
    el("tbody", {}, confusion.matrix.map((row, i) => el("tr", {}, el("th", { scope: "row" }, labels[i]),
      row.map((count, j) => el("td", { class: `${i === j ? "diagonal" : "off-diagonal"}${count ? " nonzero" : ""}` },
        el("button", { class: "cell", type: "button", "aria-pressed": "false", "data-true": labels[i], "data-predicted": labels[j],
          "aria-label": `${count} images of ${labels[i]} predicted as ${labels[j]}: show them`,
          onclick: (event) => showCell(model, event.currentTarget, cellImages) }, count)))))));
  return [el("div", { class: "scroll" }, table),
    el("p", { class: "muted" }, "Click a count to see those validation images with their confidence."), cellImages];
}

function showCell(model, button, container) {
  button.closest("table").querySelectorAll("button.cell").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  const { true: trueLabel, predicted } = button.dataset;
  container.replaceChildren(el("h4", {}, `True ${trueLabel}, predicted ${predicted}`), el("div"));
  showPredictions(container.lastChild, model.id, { true: trueLabel, predicted }, "No validation image in this cell.");
}

function mistakesStrip(model) {
  const box = el("div", { id: "confident-mistakes" });
  showPredictions(box, model.id, { mistakes: "true" }, "No mistakes on the validation images.");
  return [el("h3", {}, "Most confident mistakes (validation)"),
    el("p", { class: "muted" }, "Wrong answers the model was surest of: often a label error in the data."), box];
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

// Multi-label models: mAP, F1 at the thresholds, a row per label (with its threshold), the PR curves.
function multiLabelResults(m) {
  const facts = [
    ["Validation mAP", percent(m.map)],
    ["Macro F1 / micro F1", `${percent(m.macro.f1)} / ${percent(m.micro.f1)} (at the thresholds)`],
    ["At a fixed 0.5", `macro F1 ${percent(m.at_0_5.macro.f1)}, micro F1 ${percent(m.at_0_5.micro.f1)}`],
    ["Exact-match (subset) accuracy", percent(m.subset_accuracy)],
    ["Hamming loss", percent(m.hamming_loss)],
    ["Thresholds", m.thresholds.source],
    ["Test mAP", m.test ? percent(m.test.map) : "– (no test split)"],
    ["Best epoch (by val mAP)", `${m.best_epoch} of ${m.epochs_run}${m.stopped_early ? " (stopped early)" : ""}`],
    ["Trained on", `${m.device}, ${seconds(m.seconds)}`],
  ];
  const rows = Object.entries(m.per_label);
  const num = (v) => el("td", { class: "num" }, v === null ? "–" : percent(v));
  const curves = rows.filter(([, r]) => r.pr_curve).map(([name, r], i) => ({
    label: name, color: CHART_COLORS[i % CHART_COLORS.length], points: r.pr_curve.map((p, k) => [k / 10, p]),
  }));
  return [
    el("dl", { class: "facts", id: "detail-metrics" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("h3", {}, "Per label (validation)"),
    el("table", { id: "per-label" },
      el("thead", {}, el("tr", {}, ["Label", "Precision", "Recall", "F1", "AP", "Support", "Threshold"].map((h, i) => el("th", { class: i ? "num" : "" }, h)))),
      el("tbody", {}, rows.map(([name, r]) => el("tr", {}, el("td", {}, name), num(r.precision), num(r.recall), num(r.f1), num(r.ap),
        el("td", { class: "num" }, r.support), el("td", { class: "num" }, r.threshold.toFixed(3)))))),
    el("div", { class: "charts" }, lineChart({ title: "Precision–recall (validation)", xLabel: "recall", yLabel: "precision (interpolated)", percent: true }, curves)),
  ];
}

// The running epoch's step losses (progress reports carry them; once the epoch is in the history they are not
// drawn twice).
function liveStepLosses(model) {
  const p = model.progress || {};
  if (model.status !== "running" || !p.step_losses) return [];
  const finished = (p.history || []).length;
  return p.step_losses.filter(([x]) => x > finished);
}

function charts(model) {
  const m = model.metrics || {};
  const history = m.history || (model.progress || {}).history;
  return trainingCharts(history, m.probe_head, m.best_epoch, m.mode === "multi" ? "mAP" : "accuracy", liveStepLosses(model));
}

function results(model) {
  const m = model.metrics || {};
  const parts = [el("div", { id: "charts-slot" }, ...[charts(model)].filter(Boolean))];
  if (m.mode === "multi" && m.per_label) parts.push(...multiLabelResults(m));
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
    parts.push(el("h3", {}, "Confusion matrix (validation)"), ...confusionTable(model, m.confusion_matrix));
    if ((model.artifacts || []).includes("predictions.json")) parts.push(...mistakesStrip(model));
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
  document.getElementById("detail-error").replaceChildren(...failure(model));  // models.js
  const progress = document.getElementById("detail-progress");
  progress.replaceChildren(...(model.status === "running" ? [el("progress", { max: "1", value: String(progressValue(model)) })] : []),
    el("p", { id: "progress-text" }, progressText(model)));
  document.getElementById("cancel-button").hidden = !["queued", "running"].includes(model.status);
  const history = (model.metrics || {}).history || (model.progress || {}).history || [];
  const resultsKey = JSON.stringify([model.id, model.status, history.length, model.artifacts]);
  const liveLosses = liveStepLosses(model).length;
  if (resultsKey !== shownResultsFor) {
    shownResultsFor = resultsKey;
    shownLiveLosses = liveLosses;
    document.getElementById("detail-results").replaceChildren(...modelContext(model), ...results(model).filter(Boolean));
  } else if (liveLosses !== shownLiveLosses) {  // the running epoch moved: redraw the charts only
    shownLiveLosses = liveLosses;
    document.getElementById("charts-slot").replaceChildren(...[charts(model)].filter(Boolean));
  }
  const deployKey = `${model.id}:${model.status}`;
  if (typeof window.renderDeployment === "function" && shownDeploymentFor !== deployKey) {
    shownDeploymentFor = deployKey;
    window.renderDeployment(document.getElementById("deployment"), model);
  }
}

