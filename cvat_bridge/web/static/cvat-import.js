// "Import from CVAT" on the Collections page: pick a CVAT task or project, import it as a background job.
"use strict";

const cvatImport = { items: { task: [], project: [] } };

document.addEventListener("DOMContentLoaded", async () => {
  const status = document.getElementById("cvat-status");
  try {
    const answer = await api("/cvat/status");
    if (!answer.authenticated) {
      status.textContent = answer.detail || "CVAT is not available.";
      return;
    }
    status.textContent = `CVAT ${answer.version} at ${answer.url}, signed in as ${answer.user}.`;
    [cvatImport.items.task, cvatImport.items.project] = await Promise.all([api("/cvat/tasks"), api("/cvat/projects")]);
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  document.getElementById("cvat-kind").addEventListener("change", fillCvatSources);
  document.getElementById("cvat-source").addEventListener("change", suggestCvatName);
  document.getElementById("cvat-import-form").addEventListener("submit", startCvatImport);
  document.getElementById("cvat-import-form").hidden = false;
  fillCvatSources();
});

function cvatSelected() {
  const kind = document.getElementById("cvat-kind").value;
  const id = Number(document.getElementById("cvat-source").value);
  return { kind, item: cvatImport.items[kind].find((entry) => entry.id === id) };
}

function fillCvatSources() {
  const kind = document.getElementById("cvat-kind").value;
  const select = document.getElementById("cvat-source");
  select.replaceChildren(...cvatImport.items[kind].map((item) => {
    const size = kind === "task" ? `${item.size} frames` : `${item.tasks} tasks, ${item.size} frames`;
    const labels = item.labels.length ? item.labels.join(", ") : "no tag labels";
    return el("option", { value: item.id }, `#${item.id} ${item.name} (${size}; ${labels})`);
  }));
  if (!select.options.length) select.append(el("option", { value: "" }, `no ${kind}s in CVAT`));
  suggestCvatName();
}

function suggestCvatName() {
  const { item } = cvatSelected();
  if (item) document.getElementById("cvat-name").value = item.name;
}

async function startCvatImport(event) {
  event.preventDefault();
  const { kind, item } = cvatSelected();
  if (!item) return;
  const button = document.getElementById("cvat-import-button");
  const result = document.getElementById("cvat-import-result");
  button.disabled = true;
  result.replaceChildren();
  flash("");
  try {
    const body = { name: document.getElementById("cvat-name").value.trim(), [`${kind}_id`]: item.id,
      mode: document.getElementById("cvat-mode").value };
    let job = await api("/collections/cvat", { method: "POST", body });
    document.getElementById("cvat-import-status").hidden = false;
    while (!["succeeded", "failed", "cancelled"].includes(job.status)) {
      showCvatProgress(job.progress || {});
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await api(`/jobs/${job.id}`);
    }
    document.getElementById("cvat-import-status").hidden = true;
    if (job.status !== "succeeded") throw new Error(`Import from CVAT ${job.status}: ${job.error}`);
    const collection = job.result.collection;
    const excluded = Object.entries(collection.report.excluded).map(([reason, n]) => `${n} ${reason.replace("_", " ")}`);
    result.replaceChildren(el("p", { class: "status-succeeded" },
      `Imported ${collection.name} v${collection.version}: ${collection.num_images} images, ` +
      `classes ${collection.classes.join(", ")}. Left out: ${excluded.join(", ")}.`));
    if (typeof loadCollections === "function") loadCollections();
  } catch (error) {
    flash(error.message);
  } finally {
    button.disabled = false;
  }
}

function showCvatProgress(progress) {
  const bar = document.getElementById("cvat-import-progress");
  bar.max = progress.frames_total || 1;
  bar.value = progress.frames_done || 0;
  document.getElementById("cvat-import-text").textContent =
    progress.frames_total ? `${progress.frames_done} / ${progress.frames_total} frames` : "starting…";
}
