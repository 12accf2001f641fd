/* The projects sidebar. */
import {$, h, hashFor} from "./dom.js";
import {S, api} from "./api.js";
import {TableView} from "./view-tasks.js";
import {TaskView} from "./view-task.js";

export async function loadProjects() {
  const p = await api("/api/projects");
  S.projects = p.projects;
  S.tags = p.tags;
  S.total = p.total;
  renderProjects();
}

export function renderProjects() {
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
