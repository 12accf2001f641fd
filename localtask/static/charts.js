/* Charts with plotly.js: the bundle inside the installed plotly Python package, served by the
   page (/static/plotly.min.js); nothing is fetched from the internet.

   loadPlotly() -> Promise<Plotly | null>         (null: plotly not installed; a note is shown)
   renderFigure(container, figure)                a reported plotly figure {data, layout}
   renderScalars(container, title, series, opts)  series {name: {x, y, t}}; opts {log, smooth, axis}
*/
import {h} from "./dom.js";

let loading = null;

export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) loading = new Promise(resolve => {
    const tag = document.createElement("script");
    tag.src = "/static/plotly.min.js";
    tag.onload = () => resolve(window.Plotly || null);
    tag.onerror = () => resolve(null);
    document.head.append(tag);
  });
  return loading;
}

const CONFIG = {displaylogo: false, responsive: true, showLink: false, showSendToCloud: false,
                modeBarButtonsToRemove: ["sendDataToCloud"]};

/** Fit every chart under ``root`` to its box (charts drawn off-screen, then shown, start narrow). */
export function fitCharts(root) {
  if (!window.Plotly) return;
  for (const el of root.querySelectorAll(".js-plotly-plot")) {
    if (el.offsetParent === null) continue;  // not displayed (another tab by now)
    Promise.resolve(window.Plotly.Plots.resize(el)).catch(() => {});
  }
}

export function missingNote(container) {
  container.append(h("p", {class: "muted chart-missing"},
    "Charts need plotly: pip install 'localtask[ui]' and restart localtask ui."));
}

// plotly's default eye is (1.25, 1.25, 1.25), looking at the box's centre; seen from this farther
// one, aimed a little below and to the right of the centre, the box with its tick labels and axis
// titles fits a scene as narrow as the narrowest card (420 px, a colour bar beside it) with room left.
const EYE = {x: 1.85, y: 1.85, z: 1.25};
const CENTER = {x: 0.1, y: -0.1, z: -0.2};
const GL3D = new Set(["scatter3d", "surface", "mesh3d", "cone", "streamtube", "volume", "isosurface"]);

/** The layout the page draws ``figure`` with (the stored figure is left as it is). plotly draws a
 * 3D scene's axis titles inside the scene's own canvas, so a title projected past its edge is cut
 * off: a 3D figure gets a taller plot, no outer margins and, unless it sets its own camera eye,
 * the camera above. */
function layoutOf(figure) {
  const stored = figure.layout || {};
  const scenes = new Set((figure.data || []).filter(t => GL3D.has(t.type)).map(t => t.scene || "scene"));
  if (!scenes.size) return {autosize: true, height: 320, margin: {l: 50, r: 20, t: 40, b: 40}, ...stored};
  const layout = {autosize: true, height: 420, margin: {l: 0, r: 0, t: 40, b: 0}, ...stored};
  for (const key of scenes) {
    const scene = layout[key] || {};
    if (!(scene.camera && scene.camera.eye)) {
      layout[key] = {...scene, camera: {center: CENTER, ...scene.camera, eye: EYE}};
    }
  }
  return layout;
}

export async function renderFigure(container, figure) {
  const Plotly = await loadPlotly();
  if (!Plotly) { missingNote(container); return null; }
  const node = h("div", {class: "chart"});
  container.append(node);
  const layout = layoutOf(figure);
  delete layout.localtask_table;
  delete layout.localtask_image;
  delete layout.localtask_source;
  await Plotly.newPlot(node, figure.data || [], layout, CONFIG);
  followSize(node);
  return node;
}

/** Redraw a chart whenever its box changes size: a chart drawn in a hidden tab starts at
 * plotly's default width and would overflow its card once shown. */
function followSize(node) {
  if (!window.ResizeObserver) return;
  new ResizeObserver(() => {
    const want = node.clientWidth, have = node._fullLayout ? node._fullLayout.width : 0;
    if (node.offsetParent === null || !want || Math.abs(want - have) < 2) return;
    Promise.resolve(window.Plotly.Plots.resize(node)).catch(() => {});
  }).observe(node);
}

/** Exponential moving average, debiased as TensorBoard's smoothing (weight in [0, 1)). */
export function smooth(values, weight) {
  if (!weight) return values;
  let last = 0, n = 0;
  return values.map(v => {
    if (v === null || !isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    n += 1;
    return last / (1 - Math.pow(weight, n));
  });
}

const AXES = {iteration: "Iteration", wall: "Wall time", relative: "Time from start (s)"};

export async function renderScalars(container, title, series, opts = {}) {
  const Plotly = await loadPlotly();
  if (!Plotly) { missingNote(container); return null; }
  const axis = opts.axis || "iteration";
  const weight = Number(opts.smooth || 0);
  const start = Math.min(...Object.values(series).flatMap(s => (s.t || []).slice(0, 1)));
  const traces = [];
  Object.entries(series).forEach(([name, s], i) => {
    const x = axis === "iteration" ? s.x : axis === "wall" ? (s.t || []).map(t => new Date(t * 1000))
                                                            : (s.t || []).map(t => t - start);
    const color = `hsl(${(i * 67) % 360}, 65%, 45%)`;
    if (weight) traces.push({x, y: s.y, name: `${name} (raw)`, mode: "lines", showlegend: false,
                             hoverinfo: "skip", line: {color, width: 1}, opacity: 0.25});
    traces.push({x, y: smooth(s.y, weight), name, mode: "lines", line: {color, width: 1.8}});
  });
  const node = h("div", {class: "chart", dataset: {title}});
  container.append(node);
  await Plotly.newPlot(node, traces, {
    title: {text: title, font: {size: 13}}, autosize: true, height: 300, hovermode: "x unified",
    margin: {l: 55, r: 15, t: 36, b: 40}, legend: {orientation: "h"},
    xaxis: {title: {text: AXES[axis]}}, yaxis: {type: opts.log ? "log" : "linear"},
  }, CONFIG);
  followSize(node);
  return node;
}
