// Models page: every model with its status; the selected one's details come from model-detail.js.
// Polls: often while something is queued or running.
"use strict";

const POLL_MS = 1500;  // while something is queued or running
const IDLE_POLL_MS = 5000;  // otherwise (models started elsewhere: CLI, API, other users)
let selectedId = Number(location.hash.slice(1)) || null;
let pollTimer = null;

function seconds(s) {
  if (s === null || s === undefined) return "–";
  s = Math.round(s);
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

function progressText(model) {
  const p = model.progress || {};
  if (model.status === "queued") return "waiting for a worker";
  if (model.status !== "running") return "";
  const left = p.eta_seconds === null || p.eta_seconds === undefined ? "time left: estimating…" : `about ${seconds(p.eta_seconds)} left`;
  if (!p.epochs || !p.epoch || p.phase !== "training") {
    return [p.phase || "starting", p.epoch ? `after epoch ${p.epoch}/${p.epochs}` : null, left].filter(Boolean).join(" · ");
  }
  const parts = [`epoch ${p.epoch}/${p.epochs}`];
  if (p.steps) parts.push(`step ${p.step}/${p.steps}`);
  if (p.loss !== undefined) parts.push(`train loss ${Number(p.loss).toFixed(4)}`);
  if (p.val_accuracy !== undefined && p.val_epoch) parts.push(`epoch ${p.val_epoch} val ${p.val_score || "accuracy"} ${percent(p.val_accuracy)}`);
  parts.push(left);
  if (p.images_per_second) parts.push(`${Math.round(p.images_per_second)} images/s`);
  return parts.join(" · ");
}

function progressValue(model) {
  const p = model.progress || {};
  if (!p.epochs || !p.epoch) return 0;
  return (p.epoch - 1 + (p.steps ? p.step / p.steps : 1)) / p.epochs;
}

function statusCell(model) { return el("span", { class: `status-${model.status}` }, model.status); }

// A succeeded model that learnt nothing (metrics.warnings) is flagged in its row, not plain "succeeded".
function listStatus(model) {
  const warnings = model.warnings || [];
  if (model.status !== "succeeded" || !warnings.length) return [statusCell(model)];
  return [el("span", { class: "status-doubtful", title: warnings.join("; ") }, "succeeded, may not be useful"),
    el("span", { class: "visually-hidden" }, `: ${warnings.join("; ")}`)];
}

// The cells of a model's row: [key, content]; a cell is rebuilt only when its key changes.
function rowCells(m) {
  const accuracy = m.metrics && m.metrics.map !== undefined ? `mAP ${percent(m.metrics.map)}`
    : m.metrics && m.metrics.accuracy !== undefined ? percent(m.metrics.accuracy) : "–";
  return [
    [String(m.id), () => m.id], [`${m.name} v${m.version}`, () => `${m.name} v${m.version}`],
    [m.architecture, () => m.architecture],
    [`${m.status}|${(m.warnings || []).join()}`, () => listStatus(m)],
    [m.status === "running" ? "running" : "", () => (m.status === "running" ? el("progress", { max: "1", "aria-label": `progress of ${m.name}` }) : "")],
    [accuracy, () => accuracy], [m.created_at, () => new Date(m.created_at).toLocaleString()],
  ];
}

function modelRow(m) {
  return el("tr", { "data-id": m.id, tabindex: "0", onclick: () => select(m.id),
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(m.id); } } },
  rowCells(m).map((_, i) => el("td", { class: i === 0 || i === 5 ? "num" : "" })));
}

// Rows are updated in place (focus, selection and hover stay where they are); new ones are inserted in order.
function renderList(models) {
  document.getElementById("no-models").hidden = models.length > 0;
  const body = document.querySelector("#models-table tbody");
  const rows = new Map(Array.from(body.children).map((row) => [Number(row.dataset.id), row]));
  models.forEach((m, index) => {
    const row = rows.get(m.id) || modelRow(m);
    rows.delete(m.id);
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    row.classList.toggle("selected", m.id === selectedId);
    rowCells(m).forEach(([key, content], i) => {
      const cell = row.children[i];
      if (cell.dataset.key !== key) { cell.dataset.key = key; cell.replaceChildren(...[content()].flat()); }
    });
    const bar = row.querySelector("progress");
    if (bar) bar.value = progressValue(m);
  });
  for (const row of rows.values()) row.remove();
}

// A failed model's error as a sentence of its own (model-detail.js shows it); missing pretrained weights offer
// training from scratch.
function failure(model) {
  if (model.status !== "failed" || !model.error) return [];
  const parts = [el("p", { class: "error-sentence" }, sentence(model.error))];
  if (model.settings && model.settings.pretrained && /pretrained weights for .* are not available/.test(model.error)) {
    parts.push(el("p", {}, el("button", { type: "button", id: "from-scratch-button", onclick: () => trainFromScratch(model) },
      "Train from scratch instead")));
  }
  return parts;
}

async function trainFromScratch(model) {
  try {
    const again = await api("/models", { method: "POST", body: Object.assign({}, model.settings,
      { pretrained: false, name: model.name, collection_id: model.collection_id, architecture: model.architecture }) });
    await select(again.id);
  } catch (error) { flash(sentence(error.message)); }
}

async function select(id) {
  selectedId = id;
  history.replaceState(null, "", `#${id}`);
  shownDeploymentFor = null;
  await refresh();
}

async function refresh() {
  clearTimeout(pollTimer);
  try {
    const models = await api("/models");  // summaries; the selected model's details from its own route
    renderList(models);
    const selected = models.some((m) => m.id === selectedId) ? await api(`/models/${selectedId}`) : null;
    if (selected) renderDetail(selected);
    else document.getElementById("model-detail").hidden = true;
    const active = models.some((m) => ["queued", "running"].includes(m.status));
    pollTimer = setTimeout(refresh, active ? POLL_MS : IDLE_POLL_MS);
  } catch (error) {
    flash(error.message);
    pollTimer = setTimeout(refresh, POLL_MS * 4);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("cancel-button").addEventListener("click", async () => {
    try { await api(`/models/${selectedId}/cancel`, { method: "POST" }); await refresh(); } catch (e) { flash(e.message); }
  });
  document.getElementById("delete-button").addEventListener("click", async () => {
    if (!confirm("Delete this model and its files?")) return;
    try { await api(`/models/${selectedId}`, { method: "DELETE" }); selectedId = null; history.replaceState(null, "", "#"); await refresh(); }
    catch (e) { flash(e.message); }
  });
  refresh();
});
