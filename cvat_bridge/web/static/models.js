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
  if (!p.epochs || !p.epoch) return p.phase || "starting";
  const parts = [`epoch ${p.epoch}/${p.epochs}`];
  if (p.steps) parts.push(`step ${p.step}/${p.steps}`);
  if (p.loss !== undefined) parts.push(`loss ${Number(p.loss).toFixed(4)}`);
  if (p.val_accuracy !== undefined) parts.push(`val accuracy ${percent(p.val_accuracy)}`);
  if (p.eta_seconds !== undefined) parts.push(`${seconds(p.eta_seconds)} left`);
  if (p.images_per_second) parts.push(`${Math.round(p.images_per_second)} images/s`);
  if (p.phase && p.phase !== "training") parts.push(p.phase);
  return parts.join(" · ");
}

function progressValue(model) {
  const p = model.progress || {};
  if (!p.epochs || !p.epoch) return 0;
  return (p.epoch - 1 + (p.steps ? p.step / p.steps : 1)) / p.epochs;
}

function statusCell(model) { return el("span", { class: `status-${model.status}` }, model.status); }

function renderList(models) {
  document.getElementById("no-models").hidden = models.length > 0;
  document.querySelector("#models-table tbody").replaceChildren(...models.map((m) =>
    el("tr", { "data-id": m.id, class: m.id === selectedId ? "selected" : "", tabindex: "0",
               onclick: () => select(m.id), onkeydown: (e) => { if (e.key === "Enter") select(m.id); } },
      el("td", { class: "num" }, m.id), el("td", {}, `${m.name} v${m.version}`), el("td", {}, m.architecture),
      el("td", {}, statusCell(m)),
      el("td", {}, m.status === "running" ? el("progress", { max: "1", value: String(progressValue(m)) }) : ""),
      el("td", { class: "num" }, m.metrics && m.metrics.accuracy !== undefined ? percent(m.metrics.accuracy) : "–"),
      el("td", {}, new Date(m.created_at).toLocaleString()))));
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
