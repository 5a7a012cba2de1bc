// Train page: the catalogue (details on click), the collection, the name, advanced settings -> POST /api/models.
"use strict";

let architectures = [];
let selectedArchitecture = null;

function millions(n) { return n === null || n === undefined ? "–" : `${(n / 1e6).toFixed(1)} M`; }
function fixed(n, digits = 2) { return n === null || n === undefined ? "–" : Number(n).toFixed(digits); }

function selectArchitecture(name) {
  selectedArchitecture = architectures.find((a) => a.name === name);
  for (const row of document.querySelectorAll("#architectures tbody tr")) {
    row.classList.toggle("selected", row.dataset.name === name);
    row.querySelector("input").checked = row.dataset.name === name;
  }
  showWeightsNote();
  const a = selectedArchitecture;
  const facts = [
    ["Source", a.source], ["Parameters", a.num_params?.toLocaleString()], ["GFLOPs", fixed(a.gflops, 3)],
    ["ImageNet-1K acc@1 / acc@5", `${fixed(a.imagenet_acc1)}% / ${fixed(a.imagenet_acc5)}%`],
    ["Native input", `${a.native_size}×${a.native_size} (resize ${a.resize_size})`],
    ["Smallest input", a.fixed_size ? `${a.native_size} only` : a.min_size],
    ["Weights file", `${a.weights_file || "–"} (${fixed(a.weights_file_mb, 1)} MB)`],
    ["Weights on this machine", a.weights_cached ? "yes" : "no (downloaded when training starts, if online)"],
  ];
  const box = document.getElementById("architecture-details");
  box.replaceChildren(
    el("h3", {}, a.name),
    a.description ? el("p", {}, a.description) : null,
    el("dl", {}, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "–")])),
    a.recipe ? el("p", {}, el("a", { href: a.recipe, target: "_blank", rel: "noopener" }, "Training recipe")) : null,
  );
  box.hidden = false;
  document.getElementById("s-image-size").placeholder = `native (${a.native_size})`;
}

// The catalogue is one radio group (one tab stop; arrow keys move the choice; Space does not scroll).
async function loadArchitectures() {
  architectures = await api("/architectures");
  document.querySelector("#architectures tbody").replaceChildren(...architectures.map((a) => {
    const radio = el("input", { type: "radio", name: "architecture", value: a.name, id: `arch-${a.name}` });
    radio.addEventListener("change", () => selectArchitecture(a.name));
    return el("tr", { "data-name": a.name, onclick: (e) => { if (e.target !== radio) { radio.focus(); selectArchitecture(a.name); } } },
      el("td", {}, radio, " ", el("label", { for: `arch-${a.name}`, class: "inline" }, a.name)),
      el("td", { class: "num" }, millions(a.num_params)),
      el("td", { class: "num" }, fixed(a.gflops, 3)), el("td", { class: "num" }, a.imagenet_acc1 ? `${fixed(a.imagenet_acc1)}%` : "–"),
      el("td", { class: "num" }, a.native_size),
      el("td", { class: a.weights_cached ? "weights-here" : "weights-missing" }, a.weights_cached ? "✓ here" : "download needed"));
  }));
  // Preselected: the first architecture whose pretrained weights are on this machine (training works offline).
  const ready = architectures.find((a) => a.weights_cached) || architectures[0];
  if (ready) selectArchitecture(ready.name);
}

// Pretrained weights that are not here: say so before training, and offer training from scratch.
function showWeightsNote() {
  const note = document.getElementById("weights-note");
  const pretrained = document.getElementById("s-pretrained").checked;
  const a = selectedArchitecture;
  if (!a || a.weights_cached || !pretrained) { note.hidden = true; return; }
  note.replaceChildren(
    `The pretrained weights of ${a.name} are not on this machine: training downloads them first, and fails ` +
    "without internet. ",
    el("button", { type: "button", class: "secondary", id: "scratch-button", onclick: () => {
      document.getElementById("s-pretrained").checked = false;
      showWeightsNote();
    } }, "Train from scratch instead"));
  note.hidden = false;
}

// The Mode select lists the collections of its mode (a multi-label collection trains a multi-label model).
async function loadCollections() {
  const multi = document.getElementById("mode-select").value === "multi";
  const collections = (await api("/collections")).filter((c) => (c.mode === "multi") === multi);
  const select = document.getElementById("collection-select");
  select.replaceChildren(...collections.map((c) => el("option", { value: c.id },
    `${c.name} v${c.version} (${c.num_images} images, ${c.classes.length} classes)`)));
  if (!collections.length) flash(`No ${multi ? "multi-label " : ""}collection yet: upload one on the Collections page first.`, "info");
}

// Settings of one mode only (multi-label thresholds, int8) show in that mode, and only then are sent.
function showModeSettings() {
  const mode = document.getElementById("mode-select").value;
  for (const box of document.querySelectorAll(".settings [data-mode]")) box.hidden = box.dataset.mode !== mode;
}

function readSettings() {
  const settings = {};
  for (const input of document.querySelectorAll("[data-setting]")) {
    if (input.closest("[hidden]")) continue;
    const key = input.dataset.setting;
    if (input.type === "checkbox") settings[key] = input.checked;
    else if (input.value === "") continue;
    else if (input.type === "number") settings[key] = Number(input.value);
    else settings[key] = input.value;
  }
  return settings;
}

async function startTraining(event) {
  event.preventDefault();
  flash("");
  if (!selectedArchitecture) { flash("Pick a model from the list."); return; }
  const button = document.getElementById("train-button");
  button.disabled = true;
  try {
    const model = await api("/models", { method: "POST", body: Object.assign({
      name: document.getElementById("model-name").value.trim(),
      collection_id: Number(document.getElementById("collection-select").value),
      architecture: selectedArchitecture.name,
    }, readSettings()) });
    location.href = `/models#${model.id}`;
  } catch (error) {
    flash(sentence(error.message));
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("train-form").addEventListener("submit", startTraining);
  document.getElementById("mode-select").addEventListener("change", () => {
    showModeSettings();
    loadCollections().catch((e) => flash(e.message));
  });
  showModeSettings();
  document.getElementById("s-pretrained").addEventListener("change", showWeightsNote);
  loadArchitectures().catch((e) => flash(e.message));
  loadCollections().catch((e) => flash(e.message));
});
