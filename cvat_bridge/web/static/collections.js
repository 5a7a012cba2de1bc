// Collections page: upload a zip with progress, show its import report, list and delete collections.
"use strict";

const SKIP_KINDS = {
  junk: "system or hidden files",
  not_image: "not images",
  corrupt: "corrupt or truncated",
  unsupported_format: "unsupported formats",
  outside_class_folder: "outside class folders",
};

const SPLIT_FOLDERS = ["train", "val", "valid", "validation", "test"];  // as cvat_bridge/ingest/layout.py
let currentUpload = null;  // the XMLHttpRequest in flight (Cancel aborts it)

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("upload-form").addEventListener("submit", upload);
  document.getElementById("cancel-upload").addEventListener("click", () => currentUpload && currentUpload.abort());
  dropZone(document.getElementById("upload-form"), document.getElementById("zip-input"), ([file]) => zipChosen(file));
  loadCollections();
});

// A chosen zip: its name (without .zip) becomes the collection name unless one was typed; the split
// settings hide when the zip already holds train/ and val/ folders (read from its central directory).
async function zipChosen(file) {
  if (!file) return;
  const name = document.getElementById("name-input");
  if (!name.value || name.dataset.filled === name.value) {
    name.value = file.name.replace(/\.zip$/i, "").slice(0, Number(name.maxLength) || 200);
    name.dataset.filled = name.value;
  }
  let split = false;
  try { split = isSplit(await zipEntryNames(file)); } catch { /* not a readable zip: the server says why */ }
  document.getElementById("split-settings").hidden = split;
  document.getElementById("split-given").hidden = !split;
}

// True when the top folders (inside one wrapping folder, if any) are split folders: train/, val/...
function isSplit(names) {
  let paths = names.filter((n) => !n.startsWith("__MACOSX/")).map((n) => n.split("/").filter(Boolean));
  const tops = new Set(paths.filter((p) => p.length > 1).map((p) => p[0]));
  if (tops.size === 1 && !SPLIT_FOLDERS.includes([...tops][0].toLowerCase())) paths = paths.map((p) => p.slice(1));
  return paths.some((p) => p.length > 1 && SPLIT_FOLDERS.includes(p[0].toLowerCase()));
}

// The file names of a zip, from its central directory (the end of the file; nothing else is read).
async function zipEntryNames(file) {
  const tailStart = Math.max(0, file.size - 65557);
  const tail = new DataView(await file.slice(tailStart).arrayBuffer());
  let end = -1;
  for (let i = tail.byteLength - 22; i >= 0; i--) if (tail.getUint32(i, true) === 0x06054b50) { end = i; break; }
  if (end < 0) throw new Error("no end of central directory");
  const size = tail.getUint32(end + 12, true);
  const offset = tail.getUint32(end + 16, true);
  if (offset === 0xffffffff || size === 0xffffffff) throw new Error("zip64");
  const directory = new DataView(await file.slice(offset, offset + size).arrayBuffer());
  const decoder = new TextDecoder();
  const names = [];
  for (let at = 0; at + 46 <= directory.byteLength && directory.getUint32(at, true) === 0x02014b50;) {
    const nameLength = directory.getUint16(at + 28, true);
    const skip = nameLength + directory.getUint16(at + 30, true) + directory.getUint16(at + 32, true);
    names.push(decoder.decode(new Uint8Array(directory.buffer, at + 46, nameLength)));
    at += 46 + skip;
  }
  return names;
}

async function loadCollections() {
  const box = document.getElementById("collections");
  try {
    const items = await api("/collections");
    box.replaceChildren(...(items.length ? items.map(collectionCard)
      : [el("p", { class: "muted" }, "No collections yet: upload a zip above.")]));
  } catch (error) {
    box.replaceChildren();
    flash(`Could not load the collections: ${error.message}`);
  }
}

function collectionCard(collection) {
  return el("section", { class: "collection", "data-collection-id": collection.id },
    el("h2", {}, `${collection.name} `, el("span", { class: "muted" }, `v${collection.version} · #${collection.id}`)),
    el("p", { class: "muted" },
      `${collection.num_images} images · ${collection.classes.length} ${collection.mode === "multi" ? "labels (multi-label)" : "classes"} · from ${collection.source}` +
      ` · ${new Date(collection.created_at).toLocaleString()}`),
    countsTable(collection),
    el("details", { ontoggle: (event) => showFullReport(event.target, collection.id) },
      el("summary", {}, "Import report"), reportView(collection.report)),
    el("p", {}, el("a", { class: "collection-link", href: `/collections/${collection.id}` }, "Images and report files"), " ",
      el("button", { class: "secondary", type: "button", "aria-label": `Delete ${collection.name} v${collection.version}`,
        onclick: () => remove(collection) }, "Delete")));
}

// The list holds report summaries (counts); the full report (skipped files, duplicate groups) is read
// from the collection's own route when its report is first opened.
async function showFullReport(details, id) {
  if (!details.open || details.dataset.full) return;
  try {
    const collection = await api(`/collections/${id}`);
    details.dataset.full = "yes";
    details.replaceChildren(el("summary", {}, "Import report"), reportView(collection.report));
  } catch (error) { flash(`Could not load the report: ${error.message}`); }
}

function countsTable(collection) {
  const splits = Object.keys(collection.splits);
  const total = (label) => splits.reduce((sum, split) => sum + (collection.splits[split][label] || 0), 0);
  const cell = (value) => el("td", { class: "num" }, value);
  return el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": `Images of ${collection.name} per class and split` },
    el("table", { class: "counts" },
    el("thead", {}, el("tr", {}, el("th", {}, "Class"), splits.map((s) => el("th", { class: "num" }, s)),
      el("th", { class: "num" }, "total"))),
    el("tbody", {}, collection.classes.map((label) => el("tr", { "data-class": label }, el("td", {}, label),
      splits.map((split) => cell(collection.splits[split][label] || 0)), cell(total(label))))),
    el("tfoot", {}, el("tr", {}, el("th", {}, "All"),
      splits.map((split) => cell(Object.values(collection.splits[split]).reduce((a, b) => a + b, 0))),
      cell(collection.num_images)))));
}

function reportView(report) {
  const skippedKinds = Object.entries(report.skipped_by_kind || {})
    .map(([kind, count]) => `${count} ${SKIP_KINDS[kind] || kind}`).join(", ");
  const rows = [
    ["Layout", `${report.layout || "–"}${report.top_folder ? ` in ${report.top_folder}/` : ""}`],
    ["Files in the zip", report.files_in_zip],
    ["Images kept", report.images],
    ["Skipped", report.skipped_total ? `${report.skipped_total} (${skippedKinds})` : "none"],
    ["Split", report.split ? (report.split.assigned
      ? `${report.split.assigned} images split here (val share ${report.split.val_ratio}, seed ${report.split.seed})`
      : "as given in the zip") : "–"],
    ["Exact duplicates", groupsText(report.duplicate_groups)],
    ["Leakage (duplicates across splits)", groupsText(report.leakage_groups)],
  ];
  const view = el("div", { class: "report" },
    el("dl", {}, rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "–")])));
  for (const warning of report.warnings || []) view.append(el("p", { class: "warn" }, warning));
  if (report.skipped && report.skipped.length) {
    view.append(el("table", { class: "skipped" },
      el("thead", {}, el("tr", {}, el("th", {}, "Skipped file"), el("th", {}, "Reason"))),
      el("tbody", {}, report.skipped.map((item) => el("tr", {}, el("td", {}, item.path), el("td", {}, item.reason))))));
    if (report.skipped_total > report.skipped.length) {
      view.append(el("p", { class: "muted" }, `… and ${report.skipped_total - report.skipped.length} more`));
    }
  }
  const groups = [...(report.leakage || []).map((g) => ["leakage", g]),
    ...(report.duplicates || []).filter((g) => !(report.leakage || []).some((l) => l.sha256 === g.sha256))
      .map((g) => ["duplicate", g])];
  if (groups.length) {
    view.append(el("table", { class: "duplicates" },
      el("thead", {}, el("tr", {}, el("th", {}, "Same content"), el("th", {}, "Files"))),
      el("tbody", {}, groups.map(([kind, g]) => el("tr", {}, el("td", { class: kind === "leakage" ? "warn" : "" },
        kind === "leakage" ? `in ${g.splits.join(" and ")}` : "duplicate"), el("td", {}, g.paths.join(", ")))))));
  }
  return view;
}

function groupsText(count) {
  return count ? `${count} group${count === 1 ? "" : "s"} of identical files` : "none";
}

function upload(event) {
  event.preventDefault();
  const form = event.target;
  const button = document.getElementById("upload-button");
  const status = document.getElementById("upload-status");
  const bar = document.getElementById("upload-progress");
  const text = document.getElementById("upload-progress-text");
  const reportBox = document.getElementById("import-report");
  flash("");
  reportBox.replaceChildren();
  button.disabled = true;
  status.hidden = false;
  bar.value = 0;
  text.textContent = "Uploading…";

  const xhr = new XMLHttpRequest();
  currentUpload = xhr;
  const done = () => { button.disabled = false; status.hidden = true; currentUpload = null; };
  xhr.addEventListener("abort", () => { done(); flash("Upload cancelled: nothing was imported.", "info"); });
  xhr.open("POST", "/api/collections");
  xhr.setRequestHeader("Authorization", `Bearer ${apiToken()}`);
  xhr.upload.addEventListener("progress", (e) => {
    if (!e.lengthComputable) return;
    bar.value = (100 * e.loaded) / e.total;
    text.textContent = `Uploading… ${Math.round(bar.value)}% of ${(e.total / 1024 ** 2).toFixed(1)} MB`;
  });
  xhr.upload.addEventListener("load", () => {
    bar.removeAttribute("value");  // indeterminate while the server examines the images
    text.textContent = "Uploaded; checking the images…";
  });
  xhr.addEventListener("load", () => {
    done();
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch { /* not JSON: reported below */ }
    if (xhr.status === 401) askToken();
    if (xhr.status !== 201) {
      flash(sentence(errorText(data, { status: xhr.status, statusText: xhr.statusText })));
      return;
    }
    flash(`Imported “${data.name}” v${data.version}: ${data.num_images} images in ${data.classes.length} classes.`, "info");
    reportBox.replaceChildren(el("h2", {}, "Import report"), countsTable(data), reportView(data.report));
    form.reset();
    document.getElementById("split-settings").hidden = false;
    document.getElementById("split-given").hidden = true;
    loadCollections();
  });
  xhr.addEventListener("error", () => {
    done();
    flash("The upload failed: the server could not be reached or closed the connection.");
  });
  xhr.send(new FormData(form));
}

// Before deleting, the question names the models trained on the collection (the API refuses while one of
// them is queued or running: that answer is shown).
async function remove(collection) {
  let question = `Delete “${collection.name}” v${collection.version} and its ${collection.num_images} images?`;
  try {
    const used = (await api("/models")).filter((m) => m.collection_id === collection.id);
    if (used.length) {
      question = `“${collection.name}” v${collection.version} was used by ${used.length} model${used.length === 1 ? "" : "s"} ` +
        `(${used.map((m) => `${m.name} v${m.version}`).join(", ")}); they keep their own files, but cannot be trained ` +
        `again from it. ${question}`;
    }
  } catch (error) { flash(sentence(error.message)); return; }
  if (!confirm(question)) return;
  try {
    await api(`/collections/${collection.id}`, { method: "DELETE" });
    flash(`Deleted “${collection.name}” v${collection.version}.`, "info");
    loadCollections();
  } catch (error) {
    flash(`Could not delete: ${sentence(error.message)}`);
  }
}
