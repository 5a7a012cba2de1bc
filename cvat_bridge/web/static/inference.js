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

function resultCard(file, prediction) {
  const best = prediction.label === null
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

async function runInference(event) {
  event.preventDefault();
  const modelId = document.getElementById("model-select").value;
  const files = Array.from(document.getElementById("image-input").files);
  const results = document.getElementById("results");
  const button = document.getElementById("run-button");
  const form = new FormData();
  files.forEach((file) => form.append("file", file, file.name));
  form.append("top_k", document.getElementById("top-k-input").value || "3");
  form.append("threshold", document.getElementById("threshold-input").value || "0");
  button.disabled = true;
  flash("");
  try {
    const answer = await api(`/models/${modelId}/predict`, { method: "POST", body: form });
    results.replaceChildren(...answer.predictions.map((prediction, i) => resultCard(files[i], prediction)));
  } catch (error) {
    results.replaceChildren();
    flash(error.message);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("predict-form").addEventListener("submit", runInference);
  loadModels().catch((error) => flash(error.message));
});
