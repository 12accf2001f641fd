/* Actions on tasks: the context menu, the clone/reset/enqueue/delete dialogs. */
import {$, h, short} from "./dom.js";
import {S, api, ApiError, showError, notify} from "./api.js";
import {loadProjects} from "./view-projects.js";
import {TaskView} from "./view-task.js";
import {tick} from "./app.js";

const DONE = {clone: "Cloned", reset: "Reset", enqueue: "Enqueued", dequeue: "Dequeued", abort: "Aborted",
              publish: "Published", delete: "Deleted"};

/** null when `op` may be applied to all `tasks`, else why not (from the server's status rules). */
export function reasonFor(op, tasks, multi) {
  if (!tasks.length) return "Select a task first";
  if (!multi && tasks.length !== 1) return "Select a single task for this action";
  const bad = tasks.filter(t => t.allowed && t.allowed[op]);
  if (!bad.length) return null;
  return bad.map(t => t.allowed[op]).join("\n");
}

export async function runAction(op, tasks, body) {
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

export function refreshSoon() {
  setTimeout(() => { tick(true); loadProjects().catch(() => {}); }, 0);
}

export async function immediate(op, tasks) {
  try {
    const res = await runAction(op, tasks);
    if (op === "abort" && res && res.status === "in_progress") notify("Abort requested: the worker stops the task");
  } catch (e) {
    showError(e.message);
  }
}

export function closeMenu() {
  const m = $("#menu");
  m.hidden = true;
  m.textContent = "";
}

export function openMenu(x, y, tasks) {
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

export function field(label, control, hint) {
  return h("label", {class: "field"}, h("span", {text: label}), control, hint ? h("span", {class: "hint", text: hint}) : null);
}

export function dialog({title, fields, ok, okClass, onOk}) {
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

export function cloneDialog(t) {
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

export function resetDialog(t) {
  const del = h("input", {type: "checkbox", name: "delete_artifacts"});
  dialog({
    title: `Reset ${t.name}`, ok: "Reset",
    fields: [h("div", {class: "hint", text: "The task becomes a draft again: its console log, scalars and run times " +
                                             "are deleted; its code, environment and parameters are kept."}),
             h("label", {class: "check-field"}, del, "Also delete artifacts")],
    onOk: () => runAction("reset", [t], {delete_artifacts: del.checked}),
  });
}

export async function enqueueDialog(tasks) {
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

export function deleteDialog(tasks) {
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
