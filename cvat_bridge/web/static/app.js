// Shared by every page: the API token (kept in localStorage), API calls, messages and small helpers.
"use strict";

const TOKEN_KEY = "cvat-bridge-token";

function apiToken() { return localStorage.getItem(TOKEN_KEY) || ""; }

function askToken() {
  const dialog = document.getElementById("token-dialog");
  if (!dialog.open) dialog.showModal();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-button").addEventListener("click", askToken);
  document.getElementById("token-form").addEventListener("submit", () => {
    localStorage.setItem(TOKEN_KEY, document.getElementById("token-input").value.trim());
    location.reload();
  });
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
  if (response.status === 401) askToken();
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
