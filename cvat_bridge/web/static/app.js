// Shared by every page: the API token (kept in localStorage), API calls, messages and small helpers.
"use strict";

const TOKEN_KEY = "cvat-bridge-token";

function apiToken() { return localStorage.getItem(TOKEN_KEY) || ""; }

// The token dialog; message: why it opened (e.g. the saved token was refused), shown inside it.
function askToken(message = "") {
  const dialog = document.getElementById("token-dialog");
  const error = document.getElementById("token-error");
  error.textContent = message;
  error.hidden = !message;
  if (!dialog.open) dialog.showModal();
}

// A token is saved only once the service accepts it; a refused one is said so inside the dialog.
async function saveToken(event) {
  event.preventDefault();
  const token = document.getElementById("token-input").value.trim();
  const response = await fetch("/api/models", { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) {
    askToken("Wrong token: the service refused it. Check the file api-token and paste it again.");
    return;
  }
  localStorage.setItem(TOKEN_KEY, token);
  location.reload();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-button").addEventListener("click", () => askToken());
  document.getElementById("token-form").addEventListener("submit", saveToken);
  if (!apiToken()) askToken();
});

// fetch() under /api with the token; JSON in and out; throws Error(detail) on a non-2xx answer.
async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${apiToken()}` }, options.headers || {});
  let body = options.body;
  if (body && !(body instanceof FormData) && typeof body !== "string") {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(`/api${path}`, Object.assign({}, options, { headers, body }));
  if (response.status === 401) askToken(apiToken() ? "Wrong token: the service refused the saved one." : "");
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(errorText(data, response));
  return data;
}

function errorText(data, response) {
  if (data && typeof data.detail === "string") return data.detail;
  if (data && Array.isArray(data.detail)) return data.detail.map((d) => `${d.loc.join(".")}: ${d.msg}`).join("; ");
  return `${response.status} ${response.statusText}`;
}

function flash(message, kind = "error") {
  const box = document.getElementById("flash");
  box.textContent = message;
  box.className = kind;
  box.hidden = !message;
}

// Build an element: el("td", {class: "num"}, "12")
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style") node.style.cssText = value;  // through the CSSOM: the CSP refuses style attributes
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function percent(value, digits = 1) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(digits)}%`;
}

// An error message as a sentence of its own: capital first letter (unless it starts with a name such as
// "bee.jpg" or "resnet18"), a full stop.
function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  const capital = /^[a-z]+(\s|$)/.test(trimmed) ? trimmed[0].toUpperCase() + trimmed.slice(1) : trimmed;
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

// A line of code with a Copy button (the clipboard, or the text selected where the clipboard is refused). The
// line scrolls sideways on narrow screens, so it takes the keyboard focus (arrow keys scroll it).
function copyableCode(text, label, id = null) {
  const code = el("code", {}, text);
  const button = el("button", { type: "button", class: "secondary copy", "aria-label": `Copy ${label}` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(code);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  const pre = el("pre", { tabindex: "0", "aria-label": label, ...(id ? { id } : {}) }, code);
  return el("div", { class: "copyable" }, pre, button);
}

// Files dropped on zone go into the file input (as if picked), then onFiles(files) runs.
function dropZone(zone, input, onFiles = () => {}) {
  zone.classList.add("drop-zone");
  const over = (on) => (event) => { event.preventDefault(); zone.classList.toggle("dragging", on); };
  zone.addEventListener("dragenter", over(true));
  zone.addEventListener("dragover", over(true));
  zone.addEventListener("dragleave", over(false));
  zone.addEventListener("drop", (event) => {
    over(false)(event);
    if (!event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  input.addEventListener("change", () => onFiles(Array.from(input.files)));
}
