/* A task's Plots tab (every reported plot by title; tables as tables, matplotlib figures as
   images) and its Debug samples tab (images and media by title/series, an iteration slider). */
import {h} from "./dom.js";
import {api, fileUrl} from "./api.js";
import {renderFigure} from "./charts.js";

const sampleUrl = (id, name) => fileUrl(`/api/tasks/${id}/samples/${encodeURIComponent(name)}`);

function tableOf(t) {
  return h("div", {class: "table-scroll report-table"}, h("table", {class: "grid"},
    h("thead", null, h("tr", null, t.columns.map(c => h("th", {text: String(c)})))),
    h("tbody", null, t.rows.map(r => h("tr", null, r.map(v => h("td", {text: v === null ? "" : String(v)})))))));
}

export async function drawPlots(body, id) {
  const r = await api(`/api/tasks/${id}/plots`);
  if (!r.plots.length) { body.append(h("p", {class: "muted", text: "No plots reported."})); return; }
  const byTitle = new Map();
  for (const p of r.plots) {
    if (!byTitle.has(p.title)) byTitle.set(p.title, []);
    byTitle.get(p.title).push(p);
  }
  for (const [title, plots] of byTitle) {
    body.append(h("h2", {class: "plot-title", text: title}));
    const grid = h("div", {class: "plots"});
    body.append(grid);
    for (const p of plots) {
      const card = h("div", {class: "plot-card", dataset: {title: p.title, series: p.series, kind: p.kind}},
                     h("div", {class: "plot-head muted", text: `${p.series} · iteration ${p.iteration}`}));
      grid.append(card);
      const layout = p.figure.layout || {};
      if (layout.localtask_table) card.append(tableOf(layout.localtask_table));
      else if (layout.localtask_image) card.append(h("img", {class: "report-image", alt: `${p.title} / ${p.series}`,
                                                            src: sampleUrl(id, layout.localtask_image.sample)}));
      else await renderFigure(card, p.figure);
    }
  }
}

const code = text => h("code", {text});
// How to save each library's html with its scripts inside (keys: what its CDN's host names contain).
const SELF_CONTAINED = {
  bokeh: () => ["bokeh: ", code("save(..., resources=INLINE)"), " (", code("from bokeh.resources import INLINE"), ")"],
  plot: () => ["plotly: ", code("fig.write_html(..., include_plotlyjs=True)")],
};

/** What an html sample loads from elsewhere, which the page does not fetch, and how to save it whole. */
function outsideNote(outside) {
  const {hosts = [], files = []} = outside || {};
  if (!hosts.length && !files.length) return null;
  const refs = [...hosts, ...files].join(" ");
  const libs = Object.keys(SELF_CONTAINED).filter(key => refs.includes(key));
  const fixes = (libs.length ? libs : Object.keys(SELF_CONTAINED)).map(key => SELF_CONTAINED[key]());
  return h("p", {class: "sample-note"},
    hosts.length ? `It loads scripts from the internet (${hosts.join(", ")}), which this page does not fetch. ` : "",
    files.length ? `It loads ${files.join(", ")} from files beside it, which were not reported with it. ` : "",
    "To see it here, save it self-contained: ", fixes.flatMap((fix, i) => i ? ["; ", ...fix] : fix), ".");
}

/** An html sample: its own scripts run in a sandbox of an opaque origin (localtask/html_samples.py). */
function htmlSample(s, src, label) {
  return h("div", {class: "html-sample"}, outsideNote(s.outside),
    h("iframe", {src, class: "report-html", title: label, sandbox: "allow-scripts"}),
    h("a", {href: src, target: "_blank", rel: "noopener", class: "sample-open"}, "open the file"));
}

function media(id, s) {
  const src = sampleUrl(id, s.filename);
  const label = `${s.title} / ${s.series} @ ${s.iteration}`;
  if (s.url !== undefined) return h("a", {href: s.url || "#", target: "_blank", rel: "noopener noreferrer",
                                         class: "sample-link"}, s.url || "(link unreadable)");
  if (s.mime.startsWith("image/")) return h("img", {class: "report-image", src, alt: label});
  if (s.mime.startsWith("audio/")) return h("audio", {controls: true, src});
  if (s.mime.startsWith("video/")) return h("video", {controls: true, src, class: "report-video"});
  if (s.mime === "text/html") return htmlSample(s, src, label);
  return h("a", {href: src, target: "_blank", rel: "noopener"}, `open ${s.filename} (${s.mime})`);
}

export async function drawSamples(body, id) {
  const r = await api(`/api/tasks/${id}/samples`);
  if (!r.samples.length) { body.append(h("p", {class: "muted", text: "No debug samples reported."})); return; }
  const groups = new Map();
  for (const s of r.samples) {
    const key = `${s.title}\u0000${s.series}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  const grid = h("div", {class: "plots samples"});
  body.append(grid);
  for (const list of groups.values()) {
    list.sort((a, b) => a.iteration - b.iteration);
    const first = list[list.length - 1];
    const view = h("div", {class: "sample-view"});
    const caption = h("div", {class: "muted sample-iteration"});
    const show = i => {
      view.replaceChildren(media(id, list[i]));
      caption.textContent = `iteration ${list[i].iteration} (${i + 1} of ${list.length})`;
    };
    const slider = h("input", {type: "range", min: 0, max: list.length - 1, value: list.length - 1,
                               class: "sample-slider", "aria-label": `iteration of ${first.title} / ${first.series}`});
    slider.addEventListener("input", () => show(Number(slider.value)));
    grid.append(h("div", {class: "plot-card sample-card", dataset: {title: first.title, series: first.series}},
      h("div", {class: "plot-head", text: `${first.title} / ${first.series}`}),
      list.length > 1 ? slider : null, caption, view));
    show(list.length - 1);
  }
}
