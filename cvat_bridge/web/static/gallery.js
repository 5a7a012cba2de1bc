// Thumbnails for the pages (collection images, report files, a model's predictions): small JPEGs the service
// makes once; their URLs carry the collection's thumbnail token (an <img> cannot send the API token).
"use strict";

// A thumbnail with its caption lines; src null: no picture (the caption says why).
function thumbFigure(src, alt, lines, attrs = {}) {
  const picture = src
    ? el("img", { src, alt, loading: "lazy", width: "96", height: "96" })
    : el("div", { class: "no-thumb", role: "img", "aria-label": `${alt}: no picture` }, "no picture");
  return el("figure", Object.assign({ class: "thumb" }, attrs), picture,
    el("figcaption", {}, lines.map((line) => el("div", {}, line))));
}

function predictionFigure(item) {
  const wrong = item.true !== item.predicted;
  return thumbFigure(item.thumbnail, item.path, [
    el("span", { class: "thumb-path", title: item.path }, item.path),
    el("span", { class: wrong ? "mistake" : "" }, `true ${item.true} → ${item.predicted}`),
    el("span", { class: "confidence" }, `confidence ${percent(item.confidence)}`),
  ], { class: wrong ? "thumb wrong" : "thumb" });
}

// Fill container with the model's predictions matching query (true, predicted, mistakes), PAGE at a time,
// with a "Show more" button while there are more.
async function showPredictions(container, modelId, query, emptyText) {
  const PAGE = 24;
  const grid = el("div", { class: "thumbs" });
  const more = el("button", { class: "secondary", type: "button", hidden: "" }, "Show more");
  const count = el("p", { class: "muted prediction-count" });
  container.replaceChildren(count, grid, more);
  let offset = 0;
  async function load() {
    const params = new URLSearchParams(Object.assign({}, query, { offset, limit: PAGE }));
    const page = await api(`/models/${modelId}/predictions?${params}`);
    grid.append(...page.items.map(predictionFigure));
    offset += page.items.length;
    count.textContent = page.total ? `${page.total} validation image${page.total === 1 ? "" : "s"}, most confident first` : emptyText;
    more.hidden = offset >= page.total;
    if (page.total && page.collection_id === null) count.textContent += " (the collection was deleted: no pictures)";
  }
  more.addEventListener("click", () => load().catch((e) => flash(e.message)));
  try { await load(); } catch (error) { count.textContent = `Could not load the predictions: ${error.message}`; }
}
