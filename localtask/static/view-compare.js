/* Compare tasks: parameters side by side, scalars overlaid. */
import {h, short, fmtValue, badge, taskLink} from "./dom.js";
import {api} from "./api.js";
import {renderScalars, renderFigure} from "./charts.js";

export class CompareView {
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
    if (!titles.length) this.root.append(h("p", {class: "muted", text: "No scalars reported."}));
    const grid = h("div", {class: "plots"});
    this.root.append(grid);
    for (const title of titles) {
      const series = {};
      for (const t of c.tasks) {
        for (const [name, s] of Object.entries((c.scalars[t.id] || {})[title] || {})) series[`${name} · ${label(t)}`] = s;
      }
      const card = h("div", {class: "plot-card", dataset: {title}});
      grid.append(card);
      await renderScalars(card, title, series);
    }
    // reported plots side by side: one row per plot, one column per task
    const plots = await Promise.all(c.tasks.map(t => api(`/api/tasks/${t.id}/plots`).then(r => r.plots)));
    const keys = [...new Set(plots.flat().map(p => `${p.title} / ${p.series}`))].sort();
    if (!keys.length) return;
    this.root.append(h("h2", {text: "Plots"}));
    for (const key of keys) {
      const row = h("div", {class: "plots compare-plots", dataset: {plot: key}});
      this.root.append(h("h3", {class: "plot-title", text: key}), row);
      for (let i = 0; i < c.tasks.length; i++) {
        const p = plots[i].find(x => `${x.title} / ${x.series}` === key);
        const card = h("div", {class: "plot-card"}, h("div", {class: "plot-head muted", text: label(c.tasks[i])}));
        row.append(card);
        if (!p) card.append(h("p", {class: "muted", text: "not reported"}));
        else if ((p.figure.layout || {}).localtask_table || (p.figure.layout || {}).localtask_image) {
          card.append(h("a", {href: `#/task/${c.tasks[i].id}/plots`}, "see it in the task's Plots tab"));
        } else await renderFigure(card, p.figure);
      }
    }
  }
}
