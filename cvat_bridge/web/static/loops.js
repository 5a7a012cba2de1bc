// The Loops page: start a loop, list loops, and follow one loop's rounds (table and chart).
"use strict";

let currentLoop = null;

function optionalNumber(id) {
  const value = document.getElementById(id).value;
  return value === "" ? null : Number(value);
}

async function loadModels() {
  const select = document.getElementById("loop-model");
  const models = (await api("/models")).filter((m) => m.status === "succeeded");
  select.replaceChildren(...models.map((m) => el("option", { value: String(m.id) }, `${m.name} v${m.version} (#${m.id})`)));
}

async function startLoop(event) {
  event.preventDefault();
  const body = {
    name: document.getElementById("loop-name").value.trim(),
    model: document.getElementById("loop-model").value,
    project_id: optionalNumber("loop-project"),
    task_id: optionalNumber("loop-task"),
    strategy: document.getElementById("loop-strategy").value,
    budget: optionalNumber("loop-budget"),
    auto_tag_threshold: optionalNumber("loop-threshold"),
    deploy_margin: optionalNumber("loop-margin"),
    review_done: document.getElementById("loop-done").value,
    assignee_id: optionalNumber("loop-assignee"),
    auto_retrain: document.getElementById("loop-retrain").checked,
    auto_deploy: document.getElementById("loop-deploy").checked,
  };
  try {
    const loop = await api("/loops", { method: "POST", body });
    flash(`Loop ${loop.id} started: round 1 is scoring.`, "info");
    currentLoop = loop.id;
    await refresh();
  } catch (error) {
    flash(error.message);
  }
}

async function refresh() {
  const loops = await api("/loops");
  const body = document.querySelector("#loops-table tbody");
  body.replaceChildren(...loops.map((loop) => el("tr", { class: "clickable", onclick: () => { currentLoop = loop.id; refresh(); } },
    el("td", { class: "num" }, loop.id), el("td", {}, loop.name), el("td", { class: "num" }, loop.model_id ?? "–"),
    el("td", { class: "num" }, loop.project_id), el("td", {}, loop.strategy), el("td", { class: "num" }, loop.budget),
    el("td", {}, loop.webhook_id ? `#${loop.webhook_id}` : "polling"), el("td", {}, loop.state),
    el("td", { class: "num" }, loop.rounds.length))));
  document.getElementById("no-loops").hidden = loops.length > 0;
  if (currentLoop !== null) showLoop(await api(`/loops/${currentLoop}`));
}

function showLoop(loop) {
  document.getElementById("loop-detail").hidden = false;
  document.getElementById("loop-title").textContent = `${loop.name} (loop ${loop.id}, ${loop.state})`;
  document.getElementById("loop-webhook").textContent = loop.webhook_id
    ? `CVAT webhook #${loop.webhook_id} tells the bridge when a review job is ${loop.review_done}; the service also polls.`
    : (loop.webhook_note || "");
  const body = document.querySelector("#rounds-table tbody");
  body.replaceChildren(...loop.rounds.map((round) => el("tr", {},
    el("td", { class: "num" }, round.number), el("td", {}, round.state),
    el("td", { class: "num" }, round.scored), el("td", { class: "num" }, round.auto_tagged),
    el("td", { class: "num" }, round.sent_to_review), el("td", { class: "num" }, round.reviewed ?? "–"),
    el("td", { class: "num" }, round.labelled ?? "–"),
    el("td", { class: "num" }, percent(round.old_accuracy)), el("td", { class: "num" }, percent(round.new_accuracy)),
    el("td", {}, round.deployed_model_id ? `model ${round.deployed_model_id}` : "–"),
    el("td", {}, round.decision || (round.review_task_id ? `review task ${round.review_task_id}` : "")),
    el("td", {}, roundButton(loop, round)))));
  drawChart(loop.rounds);
}

function roundButton(loop, round) {
  const action = round.state === "reviewing" ? ["check", "Check review"] : round.state === "reviewed" ? ["retrain", "Retrain"] : null;
  if (!action) return null;
  return el("button", { type: "button", class: "secondary", onclick: async () => {
    try {
      await api(`/loops/${loop.id}/rounds/${round.number}/${action[0]}`, { method: "POST" });
      flash(`Round ${round.number}: ${action[1].toLowerCase()} started.`, "info");
    } catch (error) { flash(error.message); }
  } }, action[1]);
}

// Accuracy of the new model (line) and labelled images (bars) per round, as SVG.
function drawChart(rounds) {
  const box = document.getElementById("loop-chart");
  const points = rounds.filter((r) => r.new_accuracy !== null || r.labelled !== null);
  if (!points.length) { box.replaceChildren(el("p", { class: "muted" }, "The chart appears once a round has retrained.")); return; }
  const ns = "http://www.w3.org/2000/svg";
  const width = 480, height = 200, pad = 30;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "accuracy and labelled images per round");
  const maxLabelled = Math.max(1, ...points.map((r) => r.labelled || 0));
  const step = (width - 2 * pad) / points.length;
  const shape = (tag, attrs) => { const node = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v); svg.append(node); return node; };
  let path = "";
  points.forEach((round, index) => {
    const x = pad + index * step;
    const barHeight = ((round.labelled || 0) / maxLabelled) * (height - 2 * pad);
    shape("rect", { x: x + step * 0.2, y: height - pad - barHeight, width: step * 0.6, height: barHeight, class: "bar", fill: "#c8d4ec" });
    const label = shape("text", { x: x + step / 2, y: height - 10, "text-anchor": "middle", "font-size": "11" });
    label.textContent = `round ${round.number}`;
    if (round.new_accuracy !== null) {
      const y = height - pad - round.new_accuracy * (height - 2 * pad);
      path += `${path ? "L" : "M"}${x + step / 2},${y}`;
      const value = shape("text", { x: x + step / 2, y: y - 6, "text-anchor": "middle", "font-size": "11" });
      value.textContent = percent(round.new_accuracy);
    }
  });
  if (path) shape("path", { d: path, fill: "none", stroke: "#2050a0", "stroke-width": "2" });
  box.replaceChildren(el("p", { class: "muted" }, "Bars: labelled images in the retraining; line: the new version's validation accuracy."), svg);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("loop-form").addEventListener("submit", startLoop);
  document.getElementById("round-button").addEventListener("click", async () => {
    try { await api(`/loops/${currentLoop}/rounds`, { method: "POST" }); await refresh(); } catch (error) { flash(error.message); }
  });
  document.getElementById("stop-button").addEventListener("click", async () => {
    try { await api(`/loops/${currentLoop}/stop`, { method: "POST" }); await refresh(); } catch (error) { flash(error.message); }
  });
  loadModels().catch((error) => flash(error.message));
  refresh().catch((error) => flash(error.message));
  setInterval(() => refresh().catch(() => {}), 3000);
});
