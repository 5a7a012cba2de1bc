// A collection's own page (/collections/<id>): its images as thumbnails by split and class, a page at a time;
// the skipped and duplicate files of its import report as pictures with their reason.
"use strict";

const IMAGES_PER_PAGE = 48;
const collectionId = Number(location.pathname.split("/").pop());
let imageOffset = 0;
let imageTotal = 0;
let imageRequest = 0;  // answers to older requests (filters changed since) are dropped

document.addEventListener("DOMContentLoaded", async () => {
  try {
    const collection = await api(`/collections/${collectionId}`);
    showHead(collection);
    await Promise.all([loadImages(), loadReportFiles()]);
  } catch (error) { flash(error.message); }
  for (const id of ["split-filter", "class-filter"]) {
    document.getElementById(id).addEventListener("change", () => { imageOffset = 0; loadImages(); });
  }
  document.getElementById("prev-page").addEventListener("click", () => { imageOffset = Math.max(0, imageOffset - IMAGES_PER_PAGE); loadImages(); });
  document.getElementById("next-page").addEventListener("click", () => { imageOffset += IMAGES_PER_PAGE; loadImages(); });
});

function showHead(collection) {
  document.title = `${collection.name} v${collection.version} · cvat-bridge`;
  document.getElementById("collection-title").textContent = `${collection.name} v${collection.version}`;
  const splits = Object.entries(collection.splits).map(([split, counts]) =>
    `${split} ${Object.values(counts).reduce((a, b) => a + b, 0)}`);
  document.getElementById("collection-summary").textContent =
    `#${collection.id} · ${collection.num_images} images · ${collection.classes.length} classes · ${splits.join(" · ")} · from ${collection.source}`;
  document.getElementById("split-filter").append(...Object.keys(collection.splits).map((s) => el("option", { value: s }, s)));
  document.getElementById("class-filter").append(...collection.classes.map((c) => el("option", { value: c }, c)));
  document.getElementById("class-counts").replaceChildren(countsTable(collection));
}

// Images per class and split; each count shows those images.
function countsTable(collection) {
  const splits = Object.keys(collection.splits);
  const show = (label, split) => {
    document.getElementById("class-filter").value = label;
    document.getElementById("split-filter").value = split;
    imageOffset = 0;
    loadImages();
  };
  return el("table", { class: "counts", id: "counts-table" },
    el("thead", {}, el("tr", {}, el("th", {}, "Class"), splits.map((s) => el("th", { class: "num", scope: "col" }, s)))),
    el("tbody", {}, collection.classes.map((label) => el("tr", {}, el("th", { scope: "row" }, label),
      splits.map((split) => {
        const count = collection.splits[split][label] || 0;  // the accessible name starts with the visible count
        return el("td", { class: "num" }, el("button", { class: "link", type: "button", "data-class": label,
          "data-split": split, "aria-label": `${count} images of ${label} in ${split}: show them`,
          onclick: () => show(label, split) }, count));
      })))));
}

async function loadImages() {
  const params = new URLSearchParams({ offset: imageOffset, limit: IMAGES_PER_PAGE });
  const split = document.getElementById("split-filter").value;
  const label = document.getElementById("class-filter").value;
  if (split) params.set("split", split);
  if (label) params.set("label", label);
  const request = ++imageRequest;
  try {
    const page = await api(`/collections/${collectionId}/images?${params}`);
    if (request !== imageRequest) return;
    imageTotal = page.total;
    document.getElementById("image-grid").replaceChildren(...page.items.map((item) =>
      thumbFigure(item.thumbnail, item.path, [el("span", { class: "thumb-path", title: item.path }, item.path),
        `${item.label} · ${item.split} · ${item.width}×${item.height}`], { "data-image-id": item.id })));
    const shownTo = imageOffset + page.items.length;
    document.getElementById("image-range").textContent = page.total
      ? `Images ${imageOffset + 1}–${shownTo} of ${page.total}` : "No images here.";
    document.getElementById("prev-page").disabled = imageOffset === 0;
    document.getElementById("next-page").disabled = shownTo >= imageTotal;
  } catch (error) { flash(error.message); }
}

async function loadReportFiles() {
  const files = await api(`/collections/${collectionId}/report-files`);
  const skipped = document.getElementById("skipped-files");
  skipped.replaceChildren(...(files.skipped.length ? files.skipped.map((item) =>
    thumbFigure(item.thumbnail, item.path, [el("span", { class: "thumb-path", title: item.path }, item.path),
      el("span", { class: "reason" }, item.reason)], { class: "thumb skipped", "data-kind": item.kind }))
    : [el("p", { class: "muted" }, "No file was skipped.")]));
  if (files.skipped_total > files.skipped.length) {
    skipped.append(el("p", { class: "muted" }, `… and ${files.skipped_total - files.skipped.length} more (the report lists the first ${files.skipped.length}).`));
  }
  const groups = document.getElementById("duplicate-groups");
  groups.replaceChildren(...(files.duplicates.length ? files.duplicates.map((group) =>
    el("div", { class: "duplicate-group" },
      el("p", {}, `${group.count} identical files`, group.count > group.images.length ? ` (the first ${group.images.length} shown)` : ""),
      el("div", { class: "thumbs" }, group.images.map((image) =>
        thumbFigure(image.thumbnail, image.path, [el("span", { class: "thumb-path", title: image.path }, image.path)])))))
    : [el("p", { class: "muted" }, "No duplicates.")]));
}
