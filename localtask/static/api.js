/* Server calls with the session token, and the page's error/notice/live indicators. */
import {$, h} from "./dom.js";

/** Page state shared by the modules. */
export const S = {token: null, meta: null, projects: [], tags: [], total: 0, view: null, busy: false, ticks: 0};

/** The URL of a file the browser fetches by itself (an <img>, a download): under the server's
 * cookie prefix, since such a request carries the cookie, not the token header. */
export const fileUrl = path => `${(S.meta && S.meta.base) || ""}${path}`;

// ------------------------------------------------------------------ server calls
export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

export async function api(path, opts = {}) {
  const headers = {"X-Localtask-Token": S.token || ""};
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path, {method: body !== undefined ? "POST" : "GET", headers, body,
                             credentials: "same-origin", cache: "no-store"});
  } catch (e) {
    throw new ApiError("The localtask ui server does not answer (was it stopped?).", 0);
  }
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) throw new ApiError((data && data.error) || `HTTP ${res.status}`, res.status);
  return data;
}

export function showError(message) {
  const box = $("#errors");
  while (box.children.length >= 5) box.firstChild.remove();
  const item = h("div", {class: "error"}, h("span", {text: message}),
                 h("button", {type: "button", title: "Dismiss", onclick: () => item.remove()}, "×"));
  box.append(item);
}

let noticeTimer = null;
export function notify(message) {
  const n = $("#notice");
  n.textContent = message;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.textContent = ""; }, 6000);
}

export function setLive(ok, why) {
  const dot = $("#live");
  dot.className = "live " + (ok ? "on" : "off");
  dot.title = ok ? "Live: updated every second" : `Not updating: ${why || "no answer"}`;
}
