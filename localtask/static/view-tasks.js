/* The task table: filters, selection, sorting, paging. */
import {h, short, fmtTime, fmtDuration, duration, fmtValue, badge, taskLink, hashFor} from "./dom.js";
import {S, api, showError} from "./api.js";
import {reasonFor, openMenu, enqueueDialog, immediate, deleteDialog} from "./dialogs.js";

const SORT_DEFAULT_DESC = new Set(["created", "started", "completed", "duration", "last_update"]);

export class TableView {
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
    this.archivedBox = h("input", {type: "checkbox", name: "archived"});
    this.archivedBox.addEventListener("change", () => this.navigate({archived: this.archivedBox.checked ? "1" : null}));
    this.archivedLabel = h("label", {class: "check-field", title: "Also list archived tasks"}, this.archivedBox, " archived");
    this.selInfo = h("span", {class: "muted"});
    this.selButtons = h("span", {class: "toolbar"});
    this.toolbar = h("div", {class: "toolbar"}, this.chips, this.tagInput, this.tagList, this.nameInput,
                     this.archivedLabel, h("span", {class: "spacer"}), this.selInfo, this.selButtons);
    this.thead = h("thead");
    this.tbody = h("tbody");
    this.table = h("table", {class: "grid tasks"}, this.thead, this.tbody);
    this.emptyNote = h("div", {class: "empty", hidden: true});
    this.pager = h("div", {class: "pager"});
    // the table scrolls in its own box: wide parameter columns scroll sideways under a visible
    // scrollbar while the toolbar and the pager stay put; the header sticks to the box's top
    this.scroller = h("div", {class: "table-scroll"}, this.table);
    this.root.append(this.toolbar, this.scroller, this.emptyNote, this.pager);

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
    this.archivedBox.checked = this.q.get("archived") === "1";
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
    for (const k of ["project", "tag", "name", "sort", "desc", "page", "per_page", "archived"]) if (this.q.get(k)) q.set(k, this.q.get(k));
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
                           title: c.param ? `parameter ${c.param} (differs between the listed tasks)` :
                                  c.label || null},
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
      case "name": return h("td", {class: "name", title: t.name}, taskLink(t.id, t.name));
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
        const text = has ? fmtValue(t.params[c.param]) : "";
        return h("td", {class: "param", title: has ? `${c.param} = ${text}` : c.param}, text);
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
