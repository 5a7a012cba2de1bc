// The Inference page: pick a trained model, upload images, show each image with its class and confidence.
"use strict";

async function loadModels() {
  const select = document.getElementById("model-select");
  const models = (await api("/models")).filter((model) => model.status === "succeeded");
  select.replaceChildren(
    el("option", { value: "" }, models.length ? "Choose a model" : "No trained model yet"),
    ...models.map((model) => el("option", { value: model.id },
      `${model.name} v${model.version} (${model.architecture})`)),
  );
  const wanted = new URLSearchParams(location.search).get("model");
  if (wanted && models.some((model) => String(model.id) === wanted)) select.value = wanted;
}

function errorCard(file, message) {
  return el("figure", { class: "card result result-error" },
    el("figcaption", {}, el("div", { class: "muted" }, file.name),
      el("p", { class: "prediction status-failed" }, "Not classified"), el("p", {}, sentence(message))));
}

// A multi-label model answers every label above its threshold (`labels`), a single-label one its class.
function predictedLabels(prediction) {
  if (!prediction.labels.length) return el("p", { class: "prediction muted" }, "No label above its threshold");
  return el("ul", { class: "prediction predicted-labels" }, prediction.labels.map((score) => el("li", {},
    el("strong", { class: "predicted-label" }, score.label), " ",
    el("span", { class: "predicted-confidence" }, percent(score.confidence)))));
}

function resultCard(file, prediction) {
  const best = prediction.labels ? predictedLabels(prediction) : prediction.label === null
    ? el("p", { class: "prediction muted" }, "No class above the threshold")
    : el("p", { class: "prediction" },
      el("strong", { class: "predicted-label" }, prediction.label), " ",
      el("span", { class: "predicted-confidence" }, percent(prediction.confidence)));
  return el("figure", { class: "card result" },
    el("img", { src: URL.createObjectURL(file), alt: file.name }),
    el("figcaption", {},
      el("div", { class: "muted" }, file.name),
      best,
      el("table", { class: "top-k" },
        el("tr", {}, el("th", {}, "Class"), el("th", { class: "num" }, "Confidence")),
        prediction.top_k.map((score) => el("tr", {},
          el("td", {}, score.label), el("td", { class: "num" }, percent(score.confidence)))))));
}

// One request per image: an unreadable file gets its own error, the others their results.
async function predictOne(modelId, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("top_k", document.getElementById("top-k-input").value || "3");
  form.append("threshold", document.getElementById("threshold-input").value || "0");
  try {
    const answer = await api(`/models/${modelId}/predict`, { method: "POST", body: form });
    return resultCard(file, answer.predictions[0]);
  } catch (error) {
    return errorCard(file, error.message);
  }
}

// A few requests at once (the server predicts them in parallel threads); each result takes its file's place
// as soon as it is in, so the first images show while the others are still being classified.
const PARALLEL_REQUESTS = 4;
let currentRun = 0; // a newer run, or another model chosen, drops what an older run still answers

async function runInference(event) {
  event.preventDefault();
  const select = document.getElementById("model-select");
  const modelId = select.value;
  const files = Array.from(document.getElementById("image-input").files);
  const button = document.getElementById("run-button");
  const progress = document.getElementById("results-progress");
  const run = ++currentRun;
  button.disabled = true;
  flash("");
  document.getElementById("results-title").textContent = `Results of ${select.selectedOptions[0].textContent}`;
  document.getElementById("results-title").hidden = false;
  const slots = files.map((file) => el("figure", { class: "card result-pending" },
    el("figcaption", {}, el("div", { class: "muted" }, file.name), el("p", { class: "muted" }, "Classifying…"))));
  document.getElementById("results").replaceChildren(...slots);
  let next = 0;
  let done = 0;
  progress.hidden = false;
  progress.textContent = `0 of ${files.length} classified`;
  async function worker() {
    while (next < files.length && run === currentRun) {
      const index = next++;
      const card = await predictOne(modelId, files[index]);
      if (run !== currentRun) return;
      slots[index].replaceWith(card);
      progress.textContent = `${++done} of ${files.length} classified`;
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_REQUESTS, files.length) }, worker));
  if (run === currentRun) progress.hidden = true;
  button.disabled = false;
}

// Results belong to the model that gave them: changing the model clears them.
function clearResults() {
  currentRun++;
  document.getElementById("results-title").hidden = true;
  document.getElementById("results-progress").hidden = true;
  document.getElementById("results").replaceChildren();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("predict-form").addEventListener("submit", runInference);
  document.getElementById("model-select").addEventListener("change", clearResults);
  dropZone(document.getElementById("predict-form"), document.getElementById("image-input"));
  loadModels().catch((error) => flash(sentence(error.message)));
});
