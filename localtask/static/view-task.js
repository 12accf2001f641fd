/* The task page: header with actions, and its tabs (execution, configuration, artifacts,
   console, scalars, plots, debug samples, info). */
import {h, short, fmtTime, fmtDuration, duration, fmtSize, badge, taskLink, hashFor, RUNNING} from "./dom.js";
import {api, showError, notify, fileUrl} from "./api.js";
import {reasonFor, cloneDialog, resetDialog, enqueueDialog, immediate, deleteDialog} from "./dialogs.js";
import {renderProjects} from "./view-projects.js";
import {renderScalars, fitCharts} from "./charts.js";
import {drawPlots, drawSamples} from "./view-plots.js";
import {drawDrift} from "./view-drift.js";
import {drawExecutionEditor} from "./execution-edit.js";

const TABS = [["execution", "Execution"], ["configuration", "Configuration"], ["artifacts", "Artifacts"],
              ["console", "Console"], ["scalars", "Scalars"], ["plots", "Plots"], ["samples", "Debug samples"],
              ["info", "Info"]];

export class TaskView {
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

  /** Draw ``tab``; the promise settles once it shows. */
  showTab(tab) {
    if (!TABS.some(([k]) => k === tab)) tab = "execution";
    this.tab = tab;
    this.tabs.textContent = "";
    for (const [key, label] of TABS) {
      let extra = "";
      if (key === "artifacts" && this.d.artifacts.length) extra = ` (${this.d.artifacts.length})`;
      if (key === "configuration" && this.d.parameters.length) extra = ` (${this.d.parameters.length})`;
      if (key === "plots" && this.d.plot_count) extra = ` (${this.d.plot_count})`;
      if (key === "samples" && this.d.sample_count) extra = ` (${this.d.sample_count})`;
      this.tabs.append(h("a", {href: `#/task/${this.id}/${key}`, class: key === tab ? "current" : null,
                               dataset: {tab: key}}, label + extra));
    }
    this.console = null;
    this.dirty = false;
    this.drawn = this.tabSignature();
    const draw = {execution: this.drawExecution, configuration: this.drawConfiguration, artifacts: this.drawArtifacts,
                  console: this.drawConsole, scalars: this.drawScalars, info: this.drawInfo,
                  plots: body => drawPlots(body, this.id), samples: body => drawSamples(body, this.id)}[tab];
    // Draw off-screen, then swap: a redraw (new scalars, a new status) does not flash an empty tab.
    const next = h("div");
    const mine = this.drawing = {};
    return Promise.resolve(draw.call(this, next)).then(() => {
      if (this.drawing !== mine) return;
      this.body.replaceChildren(...next.childNodes);
      fitCharts(this.body);
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
      case "plots": return JSON.stringify([d.plot_count, d.status]);
      case "samples": return JSON.stringify([d.sample_count, d.status]);
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
    if (sig !== this.drawn && !((this.tab === "configuration" || this.tab === "execution") && this.dirty)) this.showTab(this.tab);
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
      row("Container image", env.image ? h("span", {class: "mono", text: [env.image, env.image_arguments].filter(Boolean).join(" ")}) : null)));
    body.append(h("h2", null, `Packages (${x.packages.length})`));
    if (x.packages.length) {
      body.append(h("table", {class: "grid packages"},
        h("thead", null, h("tr", null, h("th", {text: "Package"}), h("th", {text: "Version"}), h("th", {text: "Source"}),
                           h("th", {text: "Required by"}))),
        h("tbody", null, x.packages.map(p => h("tr", null, h("td", {text: p.name}), h("td", {class: "mono", text: p.version || (p.requirement ? p.requirement.slice(p.name.length).trim() || "any" : "")}),
          h("td", {class: "mono muted", text: p.editable ? `editable ${p.path || p.url || ""}` :
                                              p.vcs ? `${p.vcs} ${p.url}@${p.commit || ""}` : (p.path || p.url || "")}),
          h("td", {class: "muted", text: (p.required_by || []).join(", ") || "imported"}))))));
    } else {
      body.append(h("p", {class: "muted", text: "No packages recorded."}));
    }
    drawDrift(body, x.drift);
    if (this.d.editable) {
      drawExecutionEditor(body, this.id, x, dirty => { this.dirty = dirty; }, () => this.showTab("execution"));
    } else {
      body.append(h("div", {class: "readonly-note"}, "Read-only: ", this.d.edit_reason));
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
          await this.showTab("configuration");
          notify(`Saved ${Object.keys(values).length} parameter(s)`);
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
            this.dirty = false;
            this.d = await api(`/api/tasks/${this.id}`);
            await this.showTab("configuration");
            notify(`Saved configuration ${c.name}`);
          } catch (e) { showError(e.message); }
        });
        body.append(h("div", {class: "save-bar"}, b));
      }
    }
  }

  // ---------------------------------------------------------------- Artifacts
  drawArtifacts(body) {
    const arts = this.d.artifacts;
    this.drawModels(body);
    body.append(h("h3", {text: "Artifacts"}));
    if (!arts.length) { body.append(h("p", {class: "muted", text: "No artifacts."})); return; }
    body.append(h("table", {class: "grid artifacts"},
      h("thead", null, h("tr", null, ["Name", "Type", "Size", "SHA-256", "Created", "Metadata"].map(x => h("th", {text: x})))),
      h("tbody", null, arts.map(a => h("tr", {dataset: {artifact: a.name}},
        h("td", null, h("a", {href: fileUrl(`/api/tasks/${this.id}/artifacts/${encodeURIComponent(a.name)}`), download: a.filename,
                              title: `download ${a.filename}`}, a.name)),
        h("td", {text: a.type}), h("td", {class: "num", text: fmtSize(a.size)}),
        h("td", {class: "mono", title: a.sha256, text: a.sha256.slice(0, 12)}), h("td", {text: fmtTime(a.created)}),
        h("td", {class: "mono", text: Object.keys(a.metadata || {}).length ? JSON.stringify(a.metadata) : ""}))))));
  }

  /** Input and output models (the local registry): name, framework, file, tags, published. */
  drawModels(body) {
    const models = this.d.models || {input: [], output: []};
    for (const [role, title] of [["input", "Input models"], ["output", "Output models"]]) {
      const rows = models[role] || [];
      if (!rows.length) continue;
      body.append(h("h3", {text: title}), h("table", {class: `grid models ${role}-models`},
        h("thead", null, h("tr", null, ["Name", "Model", "Framework", "File", "Size", "Tags", "Published"].map(x => h("th", {text: x})))),
        h("tbody", null, rows.map(m => h("tr", {dataset: {model: m.id}},
          h("td", {text: m.name}),
          h("td", {class: "mono", title: m.id, text: m.missing ? `${short(m.id)} (missing)` : `${m.model_name} · ${short(m.id)}`}),
          h("td", {text: m.framework || ""}), h("td", {class: "mono", text: m.file || "—"}),
          h("td", {class: "num", text: m.size ? fmtSize(m.size) : ""}), h("td", {text: (m.tags || []).join(", ")}),
          h("td", {text: m.published ? "yes" : "no"}))))));
    }
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
    // the view's choices outlive a redraw (new points arrive while the task runs)
    const o = this.scalarOptions = this.scalarOptions || {log: false, smooth: 0, axis: "iteration"};
    const log = h("input", {type: "checkbox", name: "log", checked: o.log});
    const smoothing = h("input", {type: "range", name: "smooth", min: 0, max: 0.99, step: 0.01, value: o.smooth});
    const smoothText = h("span", {class: "muted", text: String(o.smooth)});
    const axis = h("select", {name: "axis"}, [["iteration", "Iteration"], ["wall", "Wall time"], ["relative", "Relative time"]]
      .map(([v, label]) => h("option", {value: v, selected: v === o.axis}, label)));
    const grid = h("div", {class: "plots"});
    const draw = async () => {
      const next = h("div", {class: "plots"});
      for (const title of titles) {
        const card = h("div", {class: "plot-card", dataset: {title}});
        next.append(card);
        await renderScalars(card, title, r.scalars[title], o);
      }
      grid.replaceChildren(...next.childNodes);
      fitCharts(grid);
    };
    log.addEventListener("change", () => { o.log = log.checked; draw(); });
    smoothing.addEventListener("change", () => { o.smooth = Number(smoothing.value); smoothText.textContent = smoothing.value; draw(); });
    axis.addEventListener("change", () => { o.axis = axis.value; draw(); });
    body.append(h("div", {class: "scalar-tools"},
      h("label", null, log, " Log scale"),
      h("label", null, "Smoothing ", smoothing, " ", smoothText),
      h("label", null, "X axis ", axis)), grid);
    await draw();
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
      row("Scalars", String(d.scalar_count)),
      row("Plots", String(d.plot_count)),
      row("Debug samples", String(d.sample_count))));
    const values = Object.entries(d.single_values || {});
    if (values.length) {
      body.append(h("h2", {text: "Summary"}), h("table", {class: "kv single-values"},
        values.map(([k, v]) => h("tr", null, h("th", {text: k}), h("td", {text: v === null ? "–" : String(+v.toPrecision(8))})))));
    }
    if (d.reproduction) body.append(...reproductionSection(d.reproduction));
    if ((d.reproductions || []).length) {
      body.append(h("h2", {text: "Reproductions"}), h("table", {class: "grid reproductions"}, h("tbody", null,
        d.reproductions.map(r => h("tr", null, h("td", null, taskLink(r.task_id, short(r.task_id))),
          h("td", null, verdictBadge(r.verdict)), h("td", {text: fmtTime(r.created)}))))));
    }
    body.append(h("h2", {text: `Children (${d.children.length})`}));
    if (!d.children.length) body.append(h("p", {class: "muted", text: "No task has this one as its parent."}));
    else body.append(h("table", {class: "grid children"}, h("tbody", null, d.children.map(c => h("tr", null,
      h("td", {class: "mono"}, short(c.id)), h("td", null, taskLink(c.id, c.name)), h("td", null, badge(c.status)),
      h("td", {text: c.project}), h("td", {text: fmtTime(c.created)}))))));
  }
}

/** A verdict as a badge: identical (green), close (amber), differ (red), pending. */
function verdictBadge(verdict) {
  return h("span", {class: `verdict verdict-${verdict}`, text: verdict});
}

/** The Info tab's section for a reproduction: its original and one row per aspect. */
function reproductionSection(r) {
  const aspects = (r.details && r.details.aspects) || [];
  return [
    h("h2", null, "Reproduction of ", taskLink(r.reference_id, short(r.reference_id)), ": ", verdictBadge(r.verdict)),
    aspects.length ? h("table", {class: "grid verdict-table"}, h("tbody", null, aspects.map(a => h("tr", null,
      h("th", {text: a.aspect}), h("td", null, verdictBadge(a.verdict)),
      h("td", null, a.details.map(x => h("div", {class: "mono", text: x}))))))) :
      h("p", {class: "muted", text: "The verdict is made once the reproduction has run."}),
  ];
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
