/* localtask page: task table, task pages, compare. Plain JavaScript, no build step.

   Every call goes to /api/... with the session token in the X-Localtask-Token header; the
   server refuses state changes without it. Views poll their JSON once a second, so statuses
   change on screen without a reload.
*/
"use strict";

const TOKEN_KEY = "localtask-token";
const POLL_MS = 1000;
const RUNNING = new Set(["queued", "in_progress"]);
const TABS = [["execution", "Execution"], ["configuration", "Configuration"], ["artifacts", "Artifacts"],
              ["console", "Console"], ["scalars", "Scalars"], ["info", "Info"]];
const DONE = {clone: "Cloned", reset: "Reset", enqueue: "Enqueued", dequeue: "Dequeued", abort: "Aborted",
              publish: "Published", delete: "Deleted"};

const S = {token: null, meta: null, projects: [], tags: [], total: 0, view: null, busy: false, ticks: 0};

// ------------------------------------------------------------------ small helpers
const $ = (sel, root = document) => root.querySelector(sel);

function h(tag, attrs, ...kids) {
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

const short = id => (id ? id.slice(0, 8) : "");
const pad = n => String(n).padStart(2, "0");

function fmtTime(ts, withSeconds = true) {
  if (!ts) return "";
  const d = new Date(ts * 1000);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${s}:${pad(d.getSeconds())}` : s;
}

function fmtDuration(sec) {
  if (sec === null || sec === undefined || !isFinite(sec)) return "";
  sec = Math.max(0, sec);
  if (sec < 60) return `${sec.toFixed(1)}s`;
  const m = Math.floor(sec / 60), s = Math.floor(sec % 60);
  if (m < 60) return `${m}m${pad(s)}s`;
  return `${Math.floor(m / 60)}h${pad(m % 60)}m`;
}

function duration(t, now) {
  if (!t.started) return null;
  return (t.completed || (RUNNING.has(t.status) ? now : t.last_update)) - t.started;
}

function fmtSize(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i ? `${v.toFixed(1)} ${units[i]}` : `${n} B`;
}

function fmtValue(v) {
  if (v === null || v === undefined) return "None";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function badge(status, reason) {
  return h("span", {class: `badge s-${status}`, title: reason || null}, status);
}

function taskLink(id, label) {
  return h("a", {href: `#/task/${id}`, title: id}, label || short(id));
}

function hashFor(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return "#/tasks" + (s ? "?" + s : "");
}

// ------------------------------------------------------------------ server calls
class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(path, opts = {}) {
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

function showError(message) {
  const box = $("#errors");
  while (box.children.length >= 5) box.firstChild.remove();
  const item = h("div", {class: "error"}, h("span", {text: message}),
                 h("button", {type: "button", title: "Dismiss", onclick: () => item.remove()}, "×"));
  box.append(item);
}

let noticeTimer = null;
function notify(message) {
  const n = $("#notice");
  n.textContent = message;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.textContent = ""; }, 6000);
}

function setLive(ok, why) {
  const dot = $("#live");
  dot.className = "live " + (ok ? "on" : "off");
  dot.title = ok ? "Live: updated every second" : `Not updating: ${why || "no answer"}`;
}

// ------------------------------------------------------------------ actions, menu, dialogs
/** null when `op` may be applied to all `tasks`, else why not (from the server's status rules). */
function reasonFor(op, tasks, multi) {
  if (!tasks.length) return "Select a task first";
  if (!multi && tasks.length !== 1) return "Select a single task for this action";
  const bad = tasks.filter(t => t.allowed && t.allowed[op]);
  if (!bad.length) return null;
  return bad.map(t => t.allowed[op]).join("\n");
}

async function runAction(op, tasks, body) {
  let done = 0, last = null;
  const errors = [];
  for (const t of tasks) {
    try {
      last = await api(`/api/tasks/${t.id}/${op}`, {body: body || {}});
      done++;
    } catch (e) {
      errors.push(tasks.length > 1 ? `${short(t.id)} ${t.name}: ${e.message}` : e.message);
    }
  }
  if (done) notify(`${DONE[op]} ${done === 1 && tasks.length === 1 ? `task ${short(tasks[0].id)}` : `${done} tasks`}`);
  refreshSoon();
  if (errors.length) {
    if (tasks.length === 1) throw new ApiError(errors[0], 400);
    errors.forEach(showError);
  }
  return last;
}

function refreshSoon() {
  setTimeout(() => { tick(true); loadProjects().catch(() => {}); }, 0);
}

async function immediate(op, tasks) {
  try {
    const res = await runAction(op, tasks);
    if (op === "abort" && res && res.status === "in_progress") notify("Abort requested: the worker stops the task");
  } catch (e) {
    showError(e.message);
  }
}

function closeMenu() {
  const m = $("#menu");
  m.hidden = true;
  m.textContent = "";
}

function openMenu(x, y, tasks) {
  const m = $("#menu");
  m.textContent = "";
  const single = tasks.length === 1 ? tasks[0] : null;
  m.append(h("div", {class: "menu-head"}, single ? `${short(single.id)} · ${single.name}` : `${tasks.length} tasks selected`));
  const item = (label, reason, fn, cls) => {
    const b = h("button", {type: "button", role: "menuitem", class: cls || null, "aria-disabled": reason ? "true" : null,
                           title: reason || null, dataset: {action: label.replace("…", "").toLowerCase()}}, label);
    b.addEventListener("click", ev => {
      ev.stopPropagation();
      if (reason) return;
      closeMenu();
      fn();
    });
    m.append(b);
  };
  item("Open", single ? null : "Select a single task to open", () => { location.hash = `#/task/${single.id}`; });
  item("Clone…", reasonFor("clone", tasks, false), () => cloneDialog(single));
  item("Reset…", reasonFor("reset", tasks, false), () => resetDialog(single));
  m.append(h("hr"));
  item("Enqueue…", reasonFor("enqueue", tasks, true), () => enqueueDialog(tasks));
  item("Dequeue", reasonFor("dequeue", tasks, false), () => immediate("dequeue", tasks));
  item("Abort", reasonFor("abort", tasks, true), () => immediate("abort", tasks));
  item("Publish", reasonFor("publish", tasks, false), () => immediate("publish", tasks));
  m.append(h("hr"));
  item("Delete…", reasonFor("delete", tasks, true), () => deleteDialog(tasks), "danger");
  m.append(h("hr"));
  item("Compare", tasks.length >= 2 ? null : "Select two or more tasks to compare",
       () => { location.hash = `#/compare/${tasks.map(t => t.id).join(",")}`; });
  m.hidden = false;
  const r = m.getBoundingClientRect();
  m.style.left = `${Math.max(0, Math.min(x, window.innerWidth - r.width - 4))}px`;
  m.style.top = `${Math.max(0, Math.min(y, window.innerHeight - r.height - 4))}px`;
}

function field(label, control, hint) {
  return h("label", {class: "field"}, h("span", {text: label}), control, hint ? h("span", {class: "hint", text: hint}) : null);
}

function dialog({title, fields, ok, okClass, onOk}) {
  const d = $("#dialog");
  if (d.open) d.close();
  d.textContent = "";
  const err = h("div", {class: "dialog-error", role: "alert"});
  const okBtn = h("button", {type: "submit", class: okClass || "primary", dataset: {role: "ok"}}, ok);
  const form = h("form", {method: "dialog"},
    h("h2", {text: title}), fields, err,
    h("div", {class: "buttons"}, h("button", {type: "button", onclick: () => d.close()}, "Cancel"), okBtn));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    okBtn.disabled = true;
    err.textContent = "";
    try {
      await onOk(form);
      d.close();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      okBtn.disabled = false;
    }
  });
  d.append(form);
  d.showModal();
  const first = form.querySelector("input:not([type=checkbox]), textarea");
  if (first) first.focus();
}

function cloneDialog(t) {
  const name = h("input", {name: "name", placeholder: `Clone of ${t.name}`});
  const project = h("input", {name: "project", value: t.project, list: "dl-projects", required: true});
  const projects = h("datalist", {id: "dl-projects"}, S.projects.map(p => h("option", {value: p.name})));
  const comment = h("textarea", {name: "comment", rows: 3, placeholder: `Auto-generated by cloning task ${t.id}`});
  const setParent = h("input", {type: "checkbox", name: "set_parent"});
  const rule = t.parent
    ? `Unchecked, the clone's parent is ${t.parent_name || short(t.parent)}, the parent of ${t.name}.`
    : `Unchecked, ${t.name} is still the parent: it has no parent of its own.`;
  dialog({
    title: `Clone ${t.name}`, ok: "Clone",
    fields: [field("Name", name), field("Target project", project), projects, field("Description", comment),
             h("label", {class: "check-field"}, setParent, `Set ${t.name} as parent`), h("div", {class: "hint", text: rule})],
    onOk: async () => {
      const res = await runAction("clone", [t], {name: name.value, project: project.value,
                                                 comment: comment.value, set_parent: setParent.checked});
      notify(`Cloned ${short(t.id)}: new draft ${short(res.id)}`);
      location.hash = `#/task/${res.id}/configuration`;
    },
  });
}

function resetDialog(t) {
  const del = h("input", {type: "checkbox", name: "delete_artifacts"});
  dialog({
    title: `Reset ${t.name}`, ok: "Reset",
    fields: [h("div", {class: "hint", text: "The task becomes a draft again: its console log, scalars and run times " +
                                             "are deleted; its code, environment and parameters are kept."}),
             h("label", {class: "check-field"}, del, "Also delete artifacts")],
    onOk: () => runAction("reset", [t], {delete_artifacts: del.checked}),
  });
}

async function enqueueDialog(tasks) {
  let queues = [];
  try { queues = (await api("/api/queues")).queues; } catch (e) { showError(e.message); }
  const input = h("input", {name: "queue", value: "default", list: "dl-queues", required: true, autocomplete: "off"});
  const list = h("datalist", {id: "dl-queues"}, queues.map(q => h("option", {value: q.name}, `${q.queued} waiting`)));
  const chips = h("div", {class: "hint"}, "Existing: ",
    queues.map((q, i) => [i ? " · " : "", h("a", {href: "#", onclick: ev => { ev.preventDefault(); input.value = q.name; }},
                                            `${q.name} (${q.queued})`)]));
  const what = tasks.length === 1 ? tasks[0].name : `${tasks.length} tasks`;
  dialog({
    title: `Enqueue ${what}`, ok: "Enqueue",
    fields: [field("Queue", input, "Pick an existing queue or type a new name."), list, chips],
    onOk: () => runAction("enqueue", tasks, {queue: input.value.trim()}),
  });
}

function deleteDialog(tasks) {
  const what = tasks.length === 1 ? `task ${short(tasks[0].id)} “${tasks[0].name}” (${tasks[0].status})` : `${tasks.length} tasks`;
  dialog({
    title: tasks.length === 1 ? "Delete task" : `Delete ${tasks.length} tasks`, ok: "Delete", okClass: "danger",
    fields: [h("p", {text: `Delete ${what} with all its outputs and files? This cannot be undone.`})],
    onOk: async () => {
      await runAction("delete", tasks);
      if (S.view instanceof TaskView && tasks.some(t => t.id === S.view.id)) location.hash = "#/";
    },
  });
}

// ------------------------------------------------------------------ projects sidebar
async function loadProjects() {
  const p = await api("/api/projects");
  S.projects = p.projects;
  S.tags = p.tags;
  S.total = p.total;
  renderProjects();
}

function renderProjects() {
  const nav = $("#projects");
  let current = null;
  if (S.view instanceof TableView) current = S.view.q.get("project") || "";
  else if (S.view instanceof TaskView && S.view.d) current = S.view.d.project;
  const link = (label, project, count, running) => h("a", {
    href: hashFor({project}), class: current === (project || "") ? "current" : null, title: project || "All projects",
  }, h("span", {text: label}), running ? h("span", {class: "run", title: "queued or running"}, `▶${running}`) : null,
     h("span", {class: "count", text: count}));
  nav.textContent = "";
  nav.append(h("h4", {text: "Projects"}), link("All projects", null, S.total, 0),
    ...S.projects.map(p => link(p.name, p.name, p.tasks, (p.statuses.queued || 0) + (p.statuses.in_progress || 0))));
}

// ------------------------------------------------------------------ the task table
const SORT_DEFAULT_DESC = new Set(["created", "started", "completed", "duration", "last_update"]);

class TableView {
  constructor(root, query) {
    this.root = root;
    this.q = query;
    this.rows = new Map();      // id -> tr
    this.sigs = new Map();      // id -> signature of the drawn row
    this.tasks = new Map();     // id -> task data
    this.order = [];
    this.selected = new Set();
    this.anchor = null;
    this.headSig = "";
    this.build();
    this.refresh().catch(e => showError(e.message));
  }

  get project() { return this.q.get("project") || ""; }
  get statuses() { return (this.q.get("status") || "").split(",").filter(Boolean); }

  navigate(changes, keepPage) {
    const q = new URLSearchParams(this.q);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "" || v === undefined) q.delete(k); else q.set(k, v);
    }
    if (!keepPage) q.delete("page");
    location.hash = "#/tasks" + (q.toString() ? "?" + q : "");
  }

  setQuery(q) {
    this.q = q;
    this.syncControls();
    this.refresh().catch(e => showError(e.message));
  }

  build() {
    this.chips = h("span", {class: "chips", title: "Filter by status"});
    for (const s of S.meta.statuses) {
      const box = h("input", {type: "checkbox", value: s});
      const label = h("label", {dataset: {status: s}}, box, s.replace("_", " "));
      box.addEventListener("change", () => {
        const set = new Set(this.statuses);
        if (box.checked) set.add(s); else set.delete(s);
        this.navigate({status: [...set].join(",")});
      });
      this.chips.append(label);
    }
    this.tagInput = h("input", {type: "search", placeholder: "tag", list: "dl-tags", size: 10, name: "tag"});
    this.tagList = h("datalist", {id: "dl-tags"});
    this.tagInput.addEventListener("change", () => this.navigate({tag: this.tagInput.value.trim()}));
    this.nameInput = h("input", {type: "search", placeholder: "name contains…", size: 18, name: "name"});
    let timer = null;
    this.nameInput.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.navigate({name: this.nameInput.value.trim()}), 300);
    });
    this.selInfo = h("span", {class: "muted"});
    this.selButtons = h("span", {class: "toolbar"});
    this.toolbar = h("div", {class: "toolbar"}, this.chips, this.tagInput, this.tagList, this.nameInput,
                     h("span", {class: "spacer"}), this.selInfo, this.selButtons);
    this.thead = h("thead");
    this.tbody = h("tbody");
    this.table = h("table", {class: "grid tasks"}, this.thead, this.tbody);
    this.emptyNote = h("div", {class: "empty", hidden: true});
    this.pager = h("div", {class: "pager"});
    this.root.append(this.toolbar, this.table, this.emptyNote, this.pager);

    this.tbody.addEventListener("click", ev => this.onClick(ev));
    this.tbody.addEventListener("dblclick", ev => {
      const tr = ev.target.closest("tr.task-row");
      if (tr && !ev.target.closest("a, button, input")) location.hash = `#/task/${tr.dataset.id}`;
    });
    this.tbody.addEventListener("contextmenu", ev => {
      const tr = ev.target.closest("tr.task-row");
      if (!tr) return;
      ev.preventDefault();
      if (!this.selected.has(tr.dataset.id)) this.select([tr.dataset.id]);
      openMenu(ev.clientX, ev.clientY, this.selectedTasks());
    });
    this.syncControls();
  }

  syncControls() {
    const st = new Set(this.statuses);
    for (const label of this.chips.children) {
      const on = st.has(label.dataset.status);
      label.classList.toggle("on", on);
      label.firstChild.checked = on;
    }
    if (document.activeElement !== this.tagInput) this.tagInput.value = this.q.get("tag") || "";
    if (document.activeElement !== this.nameInput) this.nameInput.value = this.q.get("name") || "";
  }

  onClick(ev) {
    const tr = ev.target.closest("tr.task-row");
    if (!tr) return;
    const id = tr.dataset.id;
    const more = ev.target.closest("button.more-btn");
    if (more) {
      if (!this.selected.has(id)) this.select([id]);
      const r = more.getBoundingClientRect();
      openMenu(r.left, r.bottom + 2, this.selectedTasks());
      ev.stopPropagation();
      return;
    }
    if (ev.target.closest("input[type=checkbox]")) {
      const next = new Set(this.selected);
      if (ev.target.checked) next.add(id); else next.delete(id);
      this.anchor = id;
      this.select([...next]);
      return;
    }
    if (ev.target.closest("a")) return;
    if (ev.shiftKey && this.anchor && this.order.includes(this.anchor)) {
      const a = this.order.indexOf(this.anchor), b = this.order.indexOf(id);
      this.select(this.order.slice(Math.min(a, b), Math.max(a, b) + 1));
    } else if (ev.ctrlKey || ev.metaKey) {
      const next = new Set(this.selected);
      if (next.has(id)) next.delete(id); else next.add(id);
      this.anchor = id;
      this.select([...next]);
    } else {
      this.anchor = id;
      this.select(this.selected.size === 1 && this.selected.has(id) ? [] : [id]);
    }
  }

  select(ids) {
    this.selected = new Set(ids);
    for (const [id, tr] of this.rows) {
      const on = this.selected.has(id);
      tr.classList.toggle("selected", on);
      const box = tr.querySelector("td.check input");
      if (box) box.checked = on;
    }
    this.drawSelection();
  }

  selectedTasks() {
    return this.order.filter(id => this.selected.has(id)).map(id => this.tasks.get(id));
  }

  drawSelection() {
    const tasks = this.selectedTasks();
    this.selInfo.textContent = tasks.length ? `${tasks.length} selected` : "";
    this.selButtons.textContent = "";
    if (!tasks.length) return;
    const btn = (label, reason, fn, cls) => h("button", {type: "button", class: cls || null, title: reason || null,
      "aria-disabled": reason ? "true" : null, onclick: () => { if (!reason) fn(); }}, label);
    this.selButtons.append(
      btn("Enqueue…", reasonFor("enqueue", tasks, true), () => enqueueDialog(tasks)),
      btn("Abort", reasonFor("abort", tasks, true), () => immediate("abort", tasks)),
      btn("Delete…", reasonFor("delete", tasks, true), () => deleteDialog(tasks), "danger"),
      btn("Compare", tasks.length >= 2 ? null : "Select two or more tasks to compare",
          () => { location.hash = `#/compare/${tasks.map(t => t.id).join(",")}`; }),
      btn("Clear", null, () => this.select([])));
  }

  query() {
    const q = new URLSearchParams();
    for (const k of ["project", "tag", "name", "sort", "desc", "page", "per_page"]) if (this.q.get(k)) q.set(k, this.q.get(k));
    for (const s of this.statuses) q.append("status", s);
    return q;
  }

  async refresh() {
    const seq = this.seq = (this.seq || 0) + 1;
    const data = await api("/api/tasks?" + this.query());
    if (seq === this.seq) this.draw(data);  // an answer to an older query (filters changed since): drop it
  }

  columns(data) {
    const cols = [
      {key: "check", label: "", cls: "check"},
      {key: "id", label: "ID", sort: "id"},
      {key: "name", label: "Name", sort: "name", cls: "name"},
    ];
    if (!this.project) cols.push({key: "project", label: "Project", sort: "project"});
    cols.push({key: "status", label: "Status", sort: "status"}, {key: "type", label: "Type", sort: "type"},
              {key: "queue", label: "Queue / worker", sort: "queue"}, {key: "started", label: "Started", sort: "started"},
              {key: "duration", label: "Duration", sort: "duration", cls: "num"}, {key: "parent", label: "Parent"},
              {key: "tags", label: "Tags"});
    for (const p of data.param_columns) cols.push({key: "param:" + p, label: p, cls: "param", param: p});
    cols.push({key: "more", label: "", cls: "more"});
    return cols;
  }

  drawHead(cols, data) {
    const sort = this.q.get("sort") || "created";
    const desc = (this.q.get("desc") || "1") !== "0";
    const sig = JSON.stringify([cols.map(c => c.key), sort, desc, data.param_columns_hidden]);
    if (sig === this.headSig) return;
    this.headSig = sig;
    this.thead.textContent = "";
    const tr = h("tr");
    for (const c of cols) {
      const th = h("th", {class: [c.cls, c.sort ? "sortable" : null, c.sort === sort ? "sorted" : null,
                                   c.param ? "param" : null].filter(Boolean).join(" ") || null,
                           title: c.param ? `parameter ${c.param} (differs between the listed tasks)` : null},
                   c.label, c.sort === sort ? (desc ? " ▾" : " ▴") : "");
      if (c.key === "check") {
        const all = h("input", {type: "checkbox", title: "Select all on this page"});
        all.addEventListener("change", () => this.select(all.checked ? this.order : []));
        th.append(all);
      }
      if (c.sort) th.addEventListener("click", () => {
        const nextDesc = c.sort === sort ? !desc : SORT_DEFAULT_DESC.has(c.sort);
        this.navigate({sort: c.sort, desc: nextDesc ? "1" : "0"}, false);
      });
      tr.append(th);
    }
    if (data.param_columns_hidden) {
      tr.lastChild.title = `${data.param_columns_hidden} more differing parameters not shown`;
    }
    this.thead.append(tr);
  }

  cell(c, t, now) {
    switch (c.key) {
      case "check": return h("td", {class: "check"}, h("input", {type: "checkbox", checked: this.selected.has(t.id),
                                                                  "aria-label": `select ${t.name}`}));
      case "id": return h("td", {class: "mono", title: t.id}, short(t.id));
      case "name": return h("td", {class: "name"}, taskLink(t.id, t.name), t.comment ? null : null);
      case "project": return h("td", {text: t.project});
      case "status": return h("td", null, badge(t.status, t.status_reason));
      case "type": return h("td", {text: t.type});
      case "queue": return h("td", {title: t.worker ? "worker" : t.queue ? "queue" : null},
                             t.worker || (t.queue ? `⇢ ${t.queue}` : ""));
      case "started": return h("td", {title: fmtTime(t.started)}, fmtTime(t.started, false));
      case "duration": return h("td", {class: "num"}, fmtDuration(duration(t, now)));
      case "parent": return h("td", null, t.parent ? taskLink(t.parent, t.parent_name || short(t.parent)) : "");
      case "tags": return h("td", null, (t.tags || []).map(x => h("a", {class: "tag", text: x, title: `only tasks tagged ${x}`,
                                                                          href: hashFor({...Object.fromEntries(this.q), tag: x, page: null})})));
      case "more": return h("td", {class: "more"}, h("button", {type: "button", class: "more-btn", title: "Actions",
                                                                "aria-label": `actions for ${t.name}`}, "⋯"));
      default: {
        const has = c.param in t.params;
        return h("td", {class: "param", title: c.param}, has ? fmtValue(t.params[c.param]) : "");
      }
    }
  }

  draw(data) {
    const cols = this.columns(data);
    this.drawHead(cols, data);
    const colSig = cols.map(c => c.key).join("|");
    const seen = new Set();
    this.order = data.tasks.map(t => t.id);
    for (const t of data.tasks) {
      seen.add(t.id);
      this.tasks.set(t.id, t);
      const shown = {...t, duration: fmtDuration(duration(t, data.now))};
      const sig = colSig + JSON.stringify(shown);
      let tr = this.rows.get(t.id);
      if (!tr) {
        tr = h("tr", {class: "task-row", dataset: {id: t.id}});
        this.rows.set(t.id, tr);
      }
      if (this.sigs.get(t.id) !== sig) {
        tr.textContent = "";
        for (const c of cols) tr.append(this.cell(c, t, data.now));
        tr.dataset.status = t.status;
        this.sigs.set(t.id, sig);
      }
      tr.classList.toggle("selected", this.selected.has(t.id));
      this.tbody.append(tr);  // moves it into order
    }
    for (const [id, tr] of this.rows) {
      if (!seen.has(id)) {
        tr.remove();
        this.rows.delete(id);
        this.sigs.delete(id);
        this.tasks.delete(id);
      }
    }
    const before = this.selected.size;
    this.selected = new Set([...this.selected].filter(id => seen.has(id)));
    this.drawSelection();
    if (before !== this.selected.size) this.select([...this.selected]);

    this.emptyNote.hidden = data.tasks.length > 0;
    this.emptyNote.textContent = data.total || this.q.toString() ? "No task matches these filters." :
      "No tasks yet: run a script that calls Task.init(...), and it appears here.";
    this.tagList.textContent = "";
    this.tagList.append(...S.tags.map(x => h("option", {value: x})));
    this.drawPager(data);
  }

  drawPager(data) {
    const first = data.total ? (data.page - 1) * data.per_page + 1 : 0;
    const last = Math.min(data.total, data.page * data.per_page);
    const pages = Math.max(1, Math.ceil(data.total / data.per_page));
    const sig = JSON.stringify([first, last, data.total, data.page, data.per_page]);
    if (this.pagerSig === sig) return;
    this.pagerSig = sig;
    const size = h("select", {title: "Tasks per page"},
      S.meta.page_sizes.map(n => h("option", {value: String(n), selected: n === data.per_page ? true : null}, `${n} / page`)));
    size.addEventListener("change", () => this.navigate({per_page: size.value}));
    this.pager.textContent = "";
    this.pager.append(
      h("button", {type: "button", disabled: data.page <= 1,
                   onclick: () => this.navigate({page: String(data.page - 1)}, true)}, "‹ Prev"),
      h("span", {class: "muted"}, `${first}–${last} of ${data.total}` + (pages > 1 ? ` · page ${data.page} of ${pages}` : "")),
      h("button", {type: "button", disabled: data.page >= pages,
                   onclick: () => this.navigate({page: String(data.page + 1)}, true)}, "Next ›"),
      size);
  }
}

// ------------------------------------------------------------------ the task page
class TaskView {
  constructor(root, id, tab) {
    this.root = root;
    this.id = id;
    this.tab = tab;
    this.d = null;
    this.headSig = "";
    this.head = h("div", {class: "task-head"});
    this.tabs = h("nav", {class: "tabs"});
    this.body = h("div", {class: "tab-body"});
    root.append(this.head, this.tabs, this.body);
    this.load();
  }

  async load() {
    try {
      this.d = await api(`/api/tasks/${this.id}`);
    } catch (e) {
      this.gone(e);
      return;
    }
    this.id = this.d.id;
    this.drawHead();
    renderProjects();
    this.showTab(this.tab);
  }

  gone(e) {
    this.root.textContent = "";
    this.root.append(h("p", {class: "empty"}, e.status === 404 ? `Task ${this.id} is not in the store (deleted?). ` : e.message,
                       h("a", {href: "#/"}, "Back to the task table")));
    this.dead = true;
  }

  /** The task as table rows have it (for the shared menu and dialogs). */
  asRow() { return {...this.d, parent_name: this.d.parent_task ? this.d.parent_task.name : null}; }

  drawHead() {
    const d = this.d;
    const sig = JSON.stringify([d.name, d.status, d.status_reason, d.allowed, d.project, d.tags, d.type, d.parent_task]);
    if (sig === this.headSig) return;
    this.headSig = sig;
    const t = this.asRow();
    const btn = (label, op, fn, multiOk) => {
      const reason = reasonFor(op, [t], multiOk);
      return h("button", {type: "button", title: reason || null, "aria-disabled": reason ? "true" : null,
                          dataset: {action: op}, class: op === "delete" ? "danger" : null,
                          onclick: () => { if (!reason) fn(); }}, label);
    };
    this.head.textContent = "";
    this.head.append(
      h("div", {class: "crumbs"}, h("a", {href: hashFor({project: d.project})}, d.project), " / "),
      h("h1", null, d.name, " ", badge(d.status, d.status_reason)),
      h("div", {class: "sub"}, h("span", {class: "mono", title: "task id"}, d.id), h("span", {text: d.type}),
        d.parent_task ? h("span", null, "parent ", taskLink(d.parent_task.id, d.parent_task.name || short(d.parent_task.id))) : null,
        (d.tags || []).length ? h("span", null, d.tags.map(x => h("span", {class: "tag", text: x}))) : null),
      h("div", {class: "actions"},
        btn("Clone…", "clone", () => cloneDialog(t)), btn("Reset…", "reset", () => resetDialog(t)),
        btn("Enqueue…", "enqueue", () => enqueueDialog([t])), btn("Dequeue", "dequeue", () => immediate("dequeue", [t])),
        btn("Abort", "abort", () => immediate("abort", [t])), btn("Publish", "publish", () => immediate("publish", [t])),
        btn("Delete…", "delete", () => deleteDialog([t]))));
  }

  showTab(tab) {
    if (!TABS.some(([k]) => k === tab)) tab = "execution";
    this.tab = tab;
    this.tabs.textContent = "";
    for (const [key, label] of TABS) {
      let extra = "";
      if (key === "artifacts" && this.d.artifacts.length) extra = ` (${this.d.artifacts.length})`;
      if (key === "configuration" && this.d.parameters.length) extra = ` (${this.d.parameters.length})`;
      this.tabs.append(h("a", {href: `#/task/${this.id}/${key}`, class: key === tab ? "current" : null,
                               dataset: {tab: key}}, label + extra));
    }
    this.console = null;
    this.dirty = false;
    this.drawn = this.tabSignature();
    const draw = {execution: this.drawExecution, configuration: this.drawConfiguration, artifacts: this.drawArtifacts,
                  console: this.drawConsole, scalars: this.drawScalars, info: this.drawInfo}[tab];
    // Draw off-screen, then swap: a redraw (new scalars, a new status) does not flash an empty tab.
    const next = h("div");
    const mine = this.drawing = {};
    Promise.resolve(draw.call(this, next)).then(() => {
      if (this.drawing !== mine) return;
      this.body.replaceChildren(...next.childNodes);
      if (this.console && this.console.follow.checked) this.console.pre.scrollTop = this.console.pre.scrollHeight;
    }).catch(e => showError(e.message));
  }

  /** What the current tab shows from the task's row: it is redrawn when this changes. */
  tabSignature() {
    const d = this.d;
    switch (this.tab) {
      case "execution": return JSON.stringify([d.status]);
      case "configuration": return JSON.stringify([d.status, d.parameters, d.configurations]);
      case "artifacts": return JSON.stringify(d.artifacts);
      case "scalars": return JSON.stringify([d.scalar_count, d.status]);
      case "console": return "";
      default: return JSON.stringify({...d, last_update: null});
    }
  }

  async refresh() {
    if (this.dead || !this.d) return;
    try {
      this.d = await api(`/api/tasks/${this.id}`);
    } catch (e) {
      if (e.status === 404) { this.gone(e); return; }
      throw e;
    }
    this.drawHead();
    if (this.tab === "console") {
      await this.pollConsole();
      return;
    }
    const sig = this.tabSignature();
    if (sig !== this.drawn && !(this.tab === "configuration" && this.dirty)) this.showTab(this.tab);
  }

  // ---------------------------------------------------------------- Execution
  async drawExecution(body) {
    const x = await api(`/api/tasks/${this.id}/execution`);
    const s = x.script || {};
    const row = (k, v) => (v === null || v === undefined || v === "") ? null : h("tr", null, h("th", {text: k}), h("td", null, v));
    const kind = {git: "git repository", files: "script files stored whole (not in a git repository)",
                  none: "not recorded (interactive session)"}[s.kind] || s.kind || "not recorded";
    body.append(h("table", {class: "kv"},
      row("Code", kind),
      row("Repository", s.repository ? h("span", {class: "mono", text: s.repository}) : null),
      row("Local path", s.local_path && s.local_path !== s.repository ? h("span", {class: "mono", text: s.local_path}) : null),
      row("Branch", s.branch),
      row("Commit", s.commit ? h("span", {class: "mono", text: s.commit}) : null),
      row("Entry point", s.module ? h("span", {class: "mono", text: `-m ${s.module}`}) : s.entry_point ? h("span", {class: "mono", text: s.entry_point}) : null),
      row("Working directory", s.working_dir ? h("span", {class: "mono", text: s.working_dir}) : null),
      row("Arguments", s.argv && s.argv.length ? h("span", {class: "mono", text: s.argv.join(" ")}) : null),
      row("Stored files", s.files && s.files.length ? h("span", {class: "mono", text: s.files.join(", ")}) : null)));
    if (x.code_error) body.append(h("div", {class: "error", text: x.code_error}));
    if (s.kind === "git") {
      body.append(h("h2", null, "Uncommitted changes", x.diff_size ? h("span", {class: "muted"}, ` · ${fmtSize(x.diff_size)}`) : null));
      if (x.diff) {
        body.append(renderDiff(x.diff));
        if (x.diff_truncated) body.append(h("p", {class: "muted", text: "The diff is cut here: see 'localtask diff' for all of it."}));
      } else {
        body.append(h("p", {class: "muted", text: "None: the commit alone is the code."}));
      }
    }
    const env = x.environment || {};
    body.append(h("h2", {text: "Environment"}), h("table", {class: "kv"},
      row("Python", [env.implementation, env.python].filter(Boolean).join(" ")),
      row("Platform", [env.platform, env.machine].filter(Boolean).join(" ")),
      row("Interpreter", env.executable ? h("span", {class: "mono", text: env.executable}) : null),
      row("Container", env.container)));
    body.append(h("h2", null, `Packages (${x.packages.length})`));
    if (x.packages.length) {
      body.append(h("table", {class: "grid packages"},
        h("thead", null, h("tr", null, h("th", {text: "Package"}), h("th", {text: "Version"}), h("th", {text: "Source"}))),
        h("tbody", null, x.packages.map(p => h("tr", null, h("td", {text: p.name}), h("td", {class: "mono", text: p.version || ""}),
          h("td", {class: "mono muted", text: p.editable ? `editable ${p.path || p.url || ""}` :
                                              p.vcs ? `${p.vcs} ${p.url}@${p.commit || ""}` : (p.path || p.url || "")}))))));
    } else {
      body.append(h("p", {class: "muted", text: "No packages recorded."}));
    }
  }

  // ---------------------------------------------------------------- Configuration
  drawConfiguration(body) {
    const d = this.d;
    const editable = d.editable;
    if (!editable) body.append(h("div", {class: "readonly-note"}, "Read-only: ", d.edit_reason));
    const controls = [];
    const count = h("span", {class: "muted"});
    const save = h("button", {type: "button", class: "primary", disabled: true, dataset: {role: "save-params"}}, "Save parameters");
    const revert = h("button", {type: "button", disabled: true}, "Revert");
    const update = () => {
      const changed = controls.filter(c => c.changed());
      for (const c of controls) c.tr.classList.toggle("changed", c.changed());
      this.dirty = changed.length > 0;
      save.disabled = revert.disabled = !changed.length;
      count.textContent = changed.length ? `${changed.length} changed` : "";
    };
    const sections = new Map();
    for (const p of d.parameters) {
      if (!sections.has(p.section)) sections.set(p.section, []);
      sections.get(p.section).push(p);
    }
    if (!d.parameters.length) body.append(h("p", {class: "muted", text: "No parameters."}));
    const tbody = h("tbody");
    for (const [section, params] of sections) {
      tbody.append(h("tr", {class: "section-row"}, h("th", {colspan: 4, text: section})));
      for (const p of params) {
        const c = paramControl(p, editable, update);
        controls.push(c);
        c.tr = h("tr", {dataset: {key: p.key}}, h("td", {class: "pname mono", text: p.name}), h("td", {class: "field"}, c.input),
                 h("td", {class: "type", text: p.type}), h("td", {class: "desc", text: p.description || ""}));
        tbody.append(c.tr);
      }
    }
    if (d.parameters.length) {
      body.append(h("table", {class: "grid params"}, h("thead", null, h("tr", null,
        ["Parameter", "Value", "Type", "Description"].map(x => h("th", {text: x})))), tbody));
    }
    if (editable && d.parameters.length) {
      save.addEventListener("click", async () => {
        const values = {};
        for (const c of controls.filter(x => x.changed())) {
          try { values[c.p.key] = c.read(true); } catch (e) { c.input.classList.add("invalid"); showError(e.message); return; }
        }
        save.disabled = true;
        try {
          const res = await api(`/api/tasks/${this.id}/parameters`, {body: {values}});
          this.d.parameters = res.parameters;
          this.dirty = false;
          notify(`Saved ${Object.keys(values).length} parameter(s)`);
          this.showTab("configuration");
        } catch (e) {
          showError(e.message);
          save.disabled = false;
        }
      });
      revert.addEventListener("click", () => { this.dirty = false; this.showTab("configuration"); });
      body.append(h("div", {class: "save-bar"}, save, revert, count));
    }
    body.append(h("h2", {text: "Configuration objects"}));
    if (!d.configurations.length) body.append(h("p", {class: "muted", text: "None."}));
    for (const c of d.configurations) {
      let text = c.text;
      if (c.kind === "dict") { try { text = JSON.stringify(JSON.parse(c.text), null, 2); } catch (e) { /* keep */ } }
      const area = h("textarea", {class: "config-text", readonly: !editable, value: text, dataset: {config: c.name},
                                  rows: Math.min(24, Math.max(4, text.split("\n").length + 1))});
      body.append(h("h3", null, c.name, h("span", {class: "muted"}, ` · ${c.kind}`), c.description ? h("span", {class: "muted"}, ` · ${c.description}`) : null), area);
      if (editable) {
        const b = h("button", {type: "button", disabled: true}, `Save ${c.name}`);
        area.addEventListener("input", () => { b.disabled = area.value === text; this.dirty = !b.disabled; });
        b.addEventListener("click", async () => {
          try {
            await api(`/api/tasks/${this.id}/configuration`, {body: {name: c.name, text: area.value}});
            notify(`Saved configuration ${c.name}`);
            this.dirty = false;
            this.d = await api(`/api/tasks/${this.id}`);
            this.showTab("configuration");
          } catch (e) { showError(e.message); }
        });
        body.append(h("div", {class: "save-bar"}, b));
      }
    }
  }

  // ---------------------------------------------------------------- Artifacts
  drawArtifacts(body) {
    const arts = this.d.artifacts;
    if (!arts.length) { body.append(h("p", {class: "muted", text: "No artifacts."})); return; }
    body.append(h("table", {class: "grid artifacts"},
      h("thead", null, h("tr", null, ["Name", "Type", "Size", "SHA-256", "Created", "Metadata"].map(x => h("th", {text: x})))),
      h("tbody", null, arts.map(a => h("tr", {dataset: {artifact: a.name}},
        h("td", null, h("a", {href: `/api/tasks/${this.id}/artifacts/${encodeURIComponent(a.name)}`, download: a.filename,
                              title: `download ${a.filename}`}, a.name)),
        h("td", {text: a.type}), h("td", {class: "num", text: fmtSize(a.size)}),
        h("td", {class: "mono", title: a.sha256, text: a.sha256.slice(0, 12)}), h("td", {text: fmtTime(a.created)}),
        h("td", {class: "mono", text: Object.keys(a.metadata || {}).length ? JSON.stringify(a.metadata) : ""}))))));
  }

  // ---------------------------------------------------------------- Console
  async drawConsole(body) {
    const pre = h("pre", {class: "console", "aria-label": "console log"});
    const follow = h("input", {type: "checkbox", checked: true});
    const note = h("span", {class: "muted"});
    body.append(h("div", {class: "toolbar"}, h("label", {class: "check-field"}, follow, " Follow"), note), pre);
    this.console = {pre, follow, note, offset: -256 * 1024, busy: false, first: true};
    await this.pollConsole();
  }

  async pollConsole() {
    const c = this.console;
    if (!c || c.busy) return;
    c.busy = true;
    try {
      for (let round = 0; round < 16; round++) {
        const r = await api(`/api/tasks/${this.id}/console?offset=${c.offset}`);
        if (c !== this.console) return;
        if (c.offset >= 0 && r.start < c.offset) {  // the log was deleted (reset): start again
          c.pre.textContent = "";
        }
        if (c.first && r.start > 0) c.note.textContent = `showing the end (from byte ${r.start})`;
        if (r.text) {
          const atEnd = c.pre.scrollTop + c.pre.clientHeight >= c.pre.scrollHeight - 30;
          c.pre.append(r.text);
          if (c.follow.checked && (atEnd || c.first)) c.pre.scrollTop = c.pre.scrollHeight;
        }
        if (c.first && !r.text && !r.size) c.pre.textContent = "";
        c.first = false;
        c.offset = r.offset;
        if (!r.more) break;
      }
      if (!c.pre.textContent) c.note.textContent = RUNNING.has(this.d.status) ? "waiting for output…" : "no console output";
      else if (c.note.textContent.startsWith("waiting") || c.note.textContent.startsWith("no console")) c.note.textContent = "";
    } finally {
      c.busy = false;
    }
  }

  // ---------------------------------------------------------------- Scalars
  async drawScalars(body) {
    const r = await api(`/api/tasks/${this.id}/scalars`);
    const titles = Object.keys(r.scalars).sort();
    if (!titles.length) { body.append(h("p", {class: "muted", text: "No scalars reported."})); return; }
    const grid = h("div", {class: "plots"});
    body.append(grid);
    for (const title of titles) {
      const card = h("div", {class: "plot-card", dataset: {title}});
      grid.append(card);
      LinePlot.render(card, {title, lines: Object.entries(r.scalars[title]).map(([name, s]) => ({name, x: s.x, y: s.y}))});
    }
  }

  // ---------------------------------------------------------------- Info
  drawInfo(body) {
    const d = this.d;
    const row = (k, v) => (v === null || v === undefined || v === "") ? null : h("tr", null, h("th", {text: k}), h("td", null, v));
    body.append(h("table", {class: "kv info"},
      row("Status", h("span", null, badge(d.status))),
      row("Reason", d.status_reason ? h("div", {class: "reason", text: d.status_reason}) : null),
      row("ID", h("span", {class: "mono", text: d.id})),
      row("Name", d.name),
      row("Project", h("a", {href: hashFor({project: d.project})}, d.project)),
      row("Type", d.type),
      row("Tags", (d.tags || []).length ? d.tags.map(x => h("span", {class: "tag", text: x})) : null),
      row("Description", d.comment),
      row("Created", fmtTime(d.created)),
      row("Started", fmtTime(d.started)),
      row("Completed", fmtTime(d.completed)),
      row("Duration", fmtDuration(duration(d, Date.now() / 1000))),
      row("Last update", fmtTime(d.last_update)),
      row("Queue", d.queue),
      row("Worker", d.worker),
      row("Host", d.host),
      row("Process id", d.pid ? String(d.pid) : null),
      row("Parent", d.parent_task ? h("span", null, taskLink(d.parent_task.id, d.parent_task.name || d.parent_task.id),
                                       d.parent_task.missing ? " (not in the store)" : "") : null),
      row("Console log", fmtSize(d.console_size)),
      row("Scalars", String(d.scalar_count))));
    body.append(h("h2", {text: `Children (${d.children.length})`}));
    if (!d.children.length) body.append(h("p", {class: "muted", text: "No task has this one as its parent."}));
    else body.append(h("table", {class: "grid children"}, h("tbody", null, d.children.map(c => h("tr", null,
      h("td", {class: "mono"}, short(c.id)), h("td", null, taskLink(c.id, c.name)), h("td", null, badge(c.status)),
      h("td", {text: c.project}), h("td", {text: fmtTime(c.created)}))))));
  }
}

/** A field for one parameter, by its type: {input, changed(), read(strict)}. */
function paramControl(p, editable, onChange) {
  let input;
  const common = {name: p.key, readonly: !editable, "aria-label": p.key};
  if (p.type === "bool") {
    input = h("input", {type: "checkbox", checked: !!p.value, disabled: !editable, name: p.key, "aria-label": p.key});
  } else if (p.type === "list" || p.type === "dict") {
    input = h("textarea", {...common, rows: Math.min(6, Math.max(1, Math.ceil(p.text.length / 60))), value: p.text});
  } else if (p.type === "int") {
    input = h("input", {...common, type: "number", step: "1", value: p.text});
  } else if (p.type === "float" && typeof p.value === "number") {
    input = h("input", {...common, type: "number", step: "any", value: p.text});
  } else if (p.type === "str") {
    input = h("input", {...common, type: "text", value: p.value});
  } else {
    input = h("input", {...common, type: "text", value: p.type === "none" ? "" : p.text, placeholder: p.type === "none" ? "None" : null});
  }
  const read = strict => {
    if (p.type === "bool") return input.checked;
    const v = input.value;
    if (strict && (p.type === "list" || p.type === "dict")) {
      let parsed;
      try { parsed = JSON.parse(v); } catch (e) { throw new Error(`${p.key}: not valid JSON (${e.message})`); }
      const kind = Array.isArray(parsed) ? "list" : parsed !== null && typeof parsed === "object" ? "dict" : typeof parsed;
      if (kind !== p.type) throw new Error(`${p.key} is a ${p.type}: give a JSON ${p.type === "list" ? "array [...]" : "object {...}"}`);
    }
    if (strict && p.type === "int" && !/^\s*-?\d+\s*$/.test(v)) throw new Error(`${p.key} is an int: ${JSON.stringify(v)} is not a whole number`);
    return v;
  };
  const original = read(false);
  const c = {p, input, read, changed: () => read(false) !== original};
  input.addEventListener(p.type === "bool" ? "change" : "input", () => { input.classList.remove("invalid"); onChange(); });
  return c;
}

function renderDiff(text) {
  const pre = h("pre", {class: "diff"});
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const frag = document.createDocumentFragment();
  for (const line of lines) {
    let cls = null;
    if (line.startsWith("diff --git") || line.startsWith("+++ ") || line.startsWith("--- ")) cls = "file";
    else if (line.startsWith("@@")) cls = "hunk";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    frag.append(h("span", {class: cls}, line));
  }
  pre.append(frag);
  return pre;
}

// ------------------------------------------------------------------ compare
class CompareView {
  constructor(root, ids) {
    this.root = root;
    this.ids = ids.filter(Boolean);
    this.load().catch(e => { root.append(h("p", {class: "empty", text: e.message})); });
  }

  async load() {
    const c = await api(`/api/compare?ids=${this.ids.join(",")}`);
    const label = t => `${t.name} (${short(t.id)})`;
    const only = h("input", {type: "checkbox"});
    const table = h("table", {class: "grid compare"},
      h("thead", null, h("tr", null, h("th", {text: "Parameter"}),
        c.tasks.map(t => h("th", null, taskLink(t.id, label(t)), " ", badge(t.status))))),
      h("tbody", null, c.keys.map(k => h("tr", {class: c.differing.includes(k) ? "differs" : null, dataset: {key: k}},
        h("td", {class: "key mono", text: k}),
        c.values[k].map((v, i) => c.present[k][i] ? h("td", {class: "val", text: fmtValue(v)})
                                                  : h("td", {class: "val absent", text: "—"}))))));
    only.addEventListener("change", () => {
      for (const tr of table.tBodies[0].rows) tr.hidden = only.checked && !tr.classList.contains("differs");
    });
    this.root.append(h("h1", {text: `Compare ${c.tasks.length} tasks`}),
      h("div", {class: "toolbar"}, h("label", {class: "check-field"}, only, " Only differences"),
        h("span", {class: "muted", text: `${c.differing.length} of ${c.keys.length} parameters differ`})),
      c.keys.length ? table : h("p", {class: "muted", text: "These tasks have no parameters."}));
    const titles = [...new Set(c.tasks.flatMap(t => Object.keys(c.scalars[t.id] || {})))].sort();
    this.root.append(h("h2", {text: "Scalars"}));
    if (!titles.length) { this.root.append(h("p", {class: "muted", text: "No scalars reported."})); return; }
    const grid = h("div", {class: "plots"});
    this.root.append(grid);
    for (const title of titles) {
      const lines = [];
      const seriesIndex = new Map();
      c.tasks.forEach((t, i) => {
        for (const [series, s] of Object.entries((c.scalars[t.id] || {})[title] || {})) {
          if (!seriesIndex.has(series)) seriesIndex.set(series, seriesIndex.size);
          const dash = ["", "6 3", "2 2", "8 3 2 3"][seriesIndex.get(series) % 4];
          lines.push({name: `${series} · ${label(t)}`, x: s.x, y: s.y,
                      color: LinePlot.COLORS[i % LinePlot.COLORS.length], dash: dash || null});
        }
      });
      const card = h("div", {class: "plot-card", dataset: {title}});
      grid.append(card);
      LinePlot.render(card, {title, lines});
    }
  }
}

// ------------------------------------------------------------------ routing and polling
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

async function tick(force) {
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
      const res = await fetch("/api/session", {credentials: "same-origin"});
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
