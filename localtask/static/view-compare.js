/* Compare tasks: parameters side by side, scalars overlaid. */
import {h, short, fmtValue, badge, taskLink} from "./dom.js";
import {api} from "./api.js";
import {LinePlot} from "./plot.js";

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
