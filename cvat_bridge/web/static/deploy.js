// A model's Nuclio function for CVAT (Models page): the deployment state, Deploy to CVAT / Remove, and the
// function zip for `nuctl deploy`. window.renderDeployment(container, model) with model = {id, status, ...}.
"use strict";

const DEPLOY_POLL_MS = 2000;
const DEPLOY_STATES = {
  not_deployed: "Not deployed",
  deploying: "Deploying…",
  ready: "Ready in CVAT",
  error: "Deployment failed",
  removed: "Removed",
};

window.renderDeployment = async function renderDeployment(container, model) {
  container.classList.add("deployment");
  if (model.status && model.status !== "succeeded") {
    container.replaceChildren(el("p", { class: "muted" }, "Deploy to CVAT once training has succeeded."));
    return;
  }
  let state;
  try {
    state = await api(`/models/${model.id}/deployment`);
  } catch (error) {
    container.replaceChildren(el("p", { class: "status-error" }, error.message));
    return;
  }
  drawDeployment(container, model, state);
  if (state.state === "deploying") setTimeout(() => container.isConnected && renderDeployment(container, model), DEPLOY_POLL_MS);
};

function drawDeployment(container, model, state) {
  const busy = state.state === "deploying";
  const deployed = state.state === "ready" || state.state === "error";
  const deploy = el("button", { type: "button", "data-action": "deploy" },
    state.state === "ready" ? "Redeploy to CVAT" : "Deploy to CVAT");
  deploy.disabled = busy || !state.nuclio_configured || !state.public_url_configured;
  deploy.addEventListener("click", () => changeDeployment(container, model, "POST"));
  const remove = el("button", { type: "button", class: "secondary", "data-action": "remove" }, "Remove from CVAT");
  remove.hidden = !deployed;
  remove.disabled = !state.nuclio_configured;
  remove.addEventListener("click", () => changeDeployment(container, model, "DELETE"));
  const download = el("button", { type: "button", class: "link", "data-action": "download" }, "Download function (.zip)");
  download.addEventListener("click", () => downloadFunction(model, download));

  const lines = [
    el("p", {},
      el("strong", { class: `status-${state.state}`, "data-state": state.state }, DEPLOY_STATES[state.state] || state.state),
      state.function_name ? el("span", { class: "muted" }, ` · ${state.function_name}`) : null,
      busy && state.job && state.job.progress.nuclio_state ? el("span", { class: "muted" }, ` · Nuclio: ${state.job.progress.nuclio_state}`) : null),
  ];
  if (state.message && state.state !== "not_deployed") lines.push(el("p", { class: "muted deploy-message" }, state.message));
  if (state.in_cvat === false && state.state === "ready") {
    lines.push(el("p", { class: "status-error" }, "CVAT does not list this function yet."));
  }
  const why = !state.nuclio_configured ? "Deploy is off: CVAT_BRIDGE_NUCLIO_URL (CVAT's Nuclio dashboard) is not set."
    : !state.public_url_configured ? "Deploy is off: CVAT_BRIDGE_PUBLIC_URL (this service's URL as the Nuclio " +
      "dashboard reaches it, e.g. http://cvat-bridge:8000) is not set." : busy ? "Deploy is off while a deployment runs." : "";
  if (why) {
    deploy.title = why;
    deploy.setAttribute("aria-describedby", "deploy-why");
    lines.push(el("p", { class: "muted", id: "deploy-why", "data-missing": state.nuclio_configured ? "public-url" : "nuclio-url" }, why));
  }
  const folder = state.function_folder || "FOLDER";
  lines.push(el("p", { class: "muted" }, "Or download the function, unzip it, and deploy it with nuctl where CVAT's Nuclio runs:"),
    copyableCode(`nuctl deploy --project-name cvat --path ./${folder} --file ./${folder}/function.yaml --platform local ` +
      `--platform-config '{"attributes": {"network": "cvat_cvat"}}'`, "the nuctl deploy command"));
  container.replaceChildren(...lines, el("p", {}, deploy, " ", remove, " ", download));
}

async function changeDeployment(container, model, method) {
  if (method === "DELETE" && !confirm("Remove this model's function from CVAT?")) return;
  container.querySelectorAll("button").forEach((button) => { button.disabled = true; });
  try {
    await api(`/models/${model.id}/deployment`, { method });
    flash("");
  } catch (error) {
    flash(error.message);
  }
  await window.renderDeployment(container, model);
}

async function downloadFunction(model, button) {
  button.disabled = true;
  try {
    const response = await fetch(`/api/models/${model.id}/function`, { headers: { Authorization: `Bearer ${apiToken()}` } });
    if (!response.ok) {
      const text = await response.text();
      throw new Error(errorText(text ? JSON.parse(text) : null, response));
    }
    const disposition = response.headers.get("content-disposition") || "";
    const match = disposition.match(/filename="?([^";]+)"?/);
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: match ? match[1] : `model-${model.id}-function.zip` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  } catch (error) {
    flash(error.message);
  } finally {
    button.disabled = false;
  }
}
