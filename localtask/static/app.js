/* localtask page: task table, task pages, compare. Plain JavaScript as ES modules, no build step.
   This module routes the address (#/...) to a view, polls it and boots the page.

   Every call goes to /api/... with the session token in the X-Localtask-Token header; the
   server refuses state changes without it. Views poll their JSON once a second, so statuses
   change on screen without a reload.
*/
import {$, h} from "./dom.js";
import {S, api, setLive, showError} from "./api.js";
import {closeMenu} from "./dialogs.js";
import {loadProjects, renderProjects} from "./view-projects.js";
import {TableView} from "./view-tasks.js";
import {TaskView} from "./view-task.js";
import {CompareView} from "./view-compare.js";

const TOKEN_KEY = "localtask-token";
const POLL_MS = 1000;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const at = raw.indexOf("?");
  const path = at >= 0 ? raw.slice(0, at) : raw;
  const query = new URLSearchParams(at >= 0 ? raw.slice(at + 1) : "");
  return {parts: path.split("/").filter(Boolean).map(decodeURIComponent), query};
}

function route() {
  closeMenu();
  const {parts, query} = parseHash();
  if (parts[0] === "task" && parts[1]) {
    if (S.view instanceof TaskView && S.view.id === parts[1] && S.view.d && !S.view.dead) {
      S.view.showTab(parts[2] || "execution");
      return;
    }
    mount(root => new TaskView(root, parts[1], parts[2] || "execution"));
  } else if (parts[0] === "compare") {
    mount(root => new CompareView(root, (parts[1] || "").split(",")));
  } else if (S.view instanceof TableView) {
    S.view.setQuery(query);
  } else {
    mount(root => new TableView(root, query));
  }
  renderProjects();
}

function mount(make) {
  const root = $("#view");
  root.textContent = "";
  S.view = make(root);
}

export async function tick(force) {
  if (S.busy || (document.hidden && !force)) return;
  S.busy = true;
  try {
    if (S.view && S.view.refresh) await S.view.refresh();
    if (++S.ticks % 3 === 0) await loadProjects();
    setLive(true);
  } catch (e) {
    setLive(false, e.message);
  } finally {
    S.busy = false;
  }
}

async function start() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);  // keep it out of history
  }
  S.token = sessionStorage.getItem(TOKEN_KEY);
  try {
    S.meta = await api("/api/meta");
  } catch (e) {
    S.token = null;
  }
  if (!S.meta) {
    try {  // a new tab: the cookie set when the printed address was opened still holds the token
      // the cookie is sent only under this server's secret prefix: ask from the page's own folder
      const res = await fetch(new URL("api/session", location.href), {credentials: "same-origin"});
      if (res.ok) {
        S.token = (await res.json()).token;
        sessionStorage.setItem(TOKEN_KEY, S.token);
        S.meta = await api("/api/meta");
      }
    } catch (e) { /* below */ }
  }
  if (!S.meta) {
    $("#view").textContent = "";
    $("#view").append(h("div", {class: "empty"},
      h("p", {text: "This page needs the access token of the running 'localtask ui'."}),
      h("p", {text: "Open the address that the command printed (it ends with ?token=…)."})));
    setLive(false, "no token");
    return;
  }
  $("#store").textContent = S.meta.home;
  $("#store").title = `store folder · localtask ${S.meta.version}`;
  await loadProjects().catch(e => showError(e.message));
  window.addEventListener("hashchange", route);
  document.addEventListener("click", ev => { if (!ev.target.closest("#menu")) closeMenu(); });
  document.addEventListener("keydown", ev => { if (ev.key === "Escape") closeMenu(); });
  window.addEventListener("blur", closeMenu);
  route();
  setLive(true);
  setInterval(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
