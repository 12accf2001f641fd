/* Element helpers and formatting: nodes are built with h(), never from HTML strings. */
export const RUNNING = new Set(["queued", "in_progress"]);

export const $ = (sel, root = document) => root.querySelector(sel);

export function h(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "value" || k === "checked") node[k] = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    node.append(kid instanceof Node ? kid : String(kid));
  }
  return node;
}

export const short = id => (id ? id.slice(0, 8) : "");
export const pad = n => String(n).padStart(2, "0");

export function fmtTime(ts, withSeconds = true) {
  if (!ts) return "";
  const d = new Date(ts * 1000);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${s}:${pad(d.getSeconds())}` : s;
}

export function fmtDuration(sec) {
  if (sec === null || sec === undefined || !isFinite(sec)) return "";
  sec = Math.max(0, sec);
  if (sec < 60) return `${sec.toFixed(1)}s`;
  const m = Math.floor(sec / 60), s = Math.floor(sec % 60);
  if (m < 60) return `${m}m${pad(s)}s`;
  return `${Math.floor(m / 60)}h${pad(m % 60)}m`;
}

export function duration(t, now) {
  if (!t.started) return null;
  return (t.completed || (RUNNING.has(t.status) ? now : t.last_update)) - t.started;
}

export function fmtSize(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i ? `${v.toFixed(1)} ${units[i]}` : `${n} B`;
}

export function fmtValue(v) {
  if (v === null || v === undefined) return "None";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function badge(status, reason) {
  return h("span", {class: `badge s-${status}`, title: reason || null}, status);
}

export function taskLink(id, label) {
  return h("a", {href: `#/task/${id}`, title: id}, label || short(id));
}

export function hashFor(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return "#/tasks" + (s ? "?" + s : "");
}
