/* A small SVG line plot for localtask's page: axes with round ticks, a legend, and a hover
   read-out of the nearest point of each line. No dependencies; nothing fetched at run time.

   LinePlot.render(container, {title, lines: [{name, x: [...], y: [...]}]}) -> svg element
*/
export const LinePlot = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7d8c",
                  "#57606a", "#e16f24", "#4d2d00"];
  const W = 640, H = 300, M = {left: 58, right: 14, top: 26, bottom: 34};

  function el(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  }

  function ticks(lo, hi, count, integer) {
    if (!(hi > lo)) { hi = lo + 1; lo = lo - (integer ? 0 : 1); }
    let step = niceStep(hi - lo, count);
    if (integer) step = Math.max(1, Math.round(step));
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return {lo: Math.min(lo, out[0] ?? lo), hi: Math.max(hi, out[out.length - 1] ?? hi), ticks: out};
  }

  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(6));
  }

  function render(container, spec) {
    const lines = (spec.lines || []).filter(l => l.x && l.x.length);
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img",
                           "aria-label": spec.title || "plot"});
    svg.appendChild(el("text", {x: M.left, y: 16, class: "plot-title"}, spec.title || ""));
    let xs = [], ys = [];
    for (const l of lines) {
      xs = xs.concat(l.x);
      ys = ys.concat(l.y.filter(v => v !== null && Number.isFinite(v)));
    }
    if (!xs.length || !ys.length) {
      svg.appendChild(el("text", {x: W / 2, y: H / 2, class: "plot-empty", "text-anchor": "middle"}, "no data"));
      container.appendChild(svg);
      return svg;
    }
    const allInt = xs.every(Number.isInteger);
    const xt = ticks(Math.min(...xs), Math.max(...xs), 6, allInt);
    let ylo = Math.min(...ys), yhi = Math.max(...ys);
    if (ylo === yhi) { const pad = Math.abs(ylo) * 0.1 || 1; ylo -= pad; yhi += pad; }
    const yt = ticks(ylo, yhi, 5, false);
    const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    const sx = v => M.left + (v - xt.lo) / (xt.hi - xt.lo) * pw;
    const sy = v => M.top + ph - (v - yt.lo) / (yt.hi - yt.lo) * ph;

    const grid = el("g", {class: "plot-grid"});
    for (const v of yt.ticks) {
      grid.appendChild(el("line", {x1: M.left, x2: M.left + pw, y1: sy(v), y2: sy(v)}));
      svg.appendChild(el("text", {x: M.left - 6, y: sy(v) + 4, "text-anchor": "end", class: "plot-tick"}, fmt(v)));
    }
    for (const v of xt.ticks) {
      grid.appendChild(el("line", {x1: sx(v), x2: sx(v), y1: M.top, y2: M.top + ph}));
      svg.appendChild(el("text", {x: sx(v), y: M.top + ph + 16, "text-anchor": "middle", class: "plot-tick"}, fmt(v)));
    }
    svg.insertBefore(grid, svg.firstChild);
    svg.appendChild(el("rect", {x: M.left, y: M.top, width: pw, height: ph, class: "plot-frame"}));
    svg.appendChild(el("text", {x: M.left + pw, y: H - 4, "text-anchor": "end", class: "plot-axis"},
                       spec.xLabel || "iteration"));

    lines.forEach((l, i) => {
      const color = l.color || COLORS[i % COLORS.length];
      l._color = color;
      let d = "", pen = false;
      for (let k = 0; k < l.x.length; k++) {
        const y = l.y[k];
        if (y === null || !Number.isFinite(y)) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${sx(l.x[k]).toFixed(1)},${sy(y).toFixed(1)}`;
        pen = true;
      }
      const attrs = {d, stroke: color, class: "plot-line", fill: "none"};
      if (l.dash) attrs["stroke-dasharray"] = l.dash;
      svg.appendChild(el("path", attrs));
      if (l.x.length === 1 && l.y[0] !== null) {
        svg.appendChild(el("circle", {cx: sx(l.x[0]), cy: sy(l.y[0]), r: 3, fill: color}));
      }
    });

    // legend, top right, one row per line, on a light backing so that it stays readable
    const legend = el("g", {class: "plot-legend"});
    const longest = Math.max(...lines.map(l => String(l.name).length));
    const lw = Math.min(pw * 0.7, 28 + longest * 5.7);
    const x0 = M.left + pw - lw - 4;
    legend.appendChild(el("rect", {x: x0 - 4, y: M.top + 2, width: lw + 6, height: lines.length * 14 + 6,
                                   class: "plot-legend-box"}));
    lines.forEach((l, i) => {
      const y = M.top + 14 + i * 14;
      const key = {x1: x0, x2: x0 + 16, y1: y - 4, y2: y - 4, stroke: l._color, "stroke-width": 2};
      if (l.dash) key["stroke-dasharray"] = l.dash;
      legend.appendChild(el("line", key));
      legend.appendChild(el("text", {x: x0 + 20, y, class: "plot-legend-text"}, l.name));
    });
    if (lines.length > 1 || lines[0].name) svg.appendChild(legend);

    // hover read-out
    const cursor = el("line", {y1: M.top, y2: M.top + ph, class: "plot-cursor", visibility: "hidden"});
    const tip = el("text", {class: "plot-tip", visibility: "hidden"});
    svg.appendChild(cursor);
    svg.appendChild(tip);
    const hit = el("rect", {x: M.left, y: M.top, width: pw, height: ph, fill: "transparent"});
    svg.appendChild(hit);
    hit.addEventListener("mousemove", ev => {
      const box = svg.getBoundingClientRect();
      const px = (ev.clientX - box.left) / box.width * W;
      const xv = xt.lo + (px - M.left) / pw * (xt.hi - xt.lo);
      let nearest = null;
      const parts = [];
      for (const l of lines) {
        let best = 0;
        for (let k = 1; k < l.x.length; k++) if (Math.abs(l.x[k] - xv) < Math.abs(l.x[best] - xv)) best = k;
        if (nearest === null || Math.abs(l.x[best] - xv) < Math.abs(nearest - xv)) nearest = l.x[best];
        parts.push([l, best]);
      }
      cursor.setAttribute("x1", sx(nearest));
      cursor.setAttribute("x2", sx(nearest));
      cursor.setAttribute("visibility", "visible");
      tip.textContent = "";
      tip.appendChild(el("tspan", {x: 0, dy: 0}, `x = ${fmt(nearest)}`));
      for (const [l, k] of parts) {
        if (l.x[k] !== nearest) continue;
        tip.appendChild(el("tspan", {x: 0, dy: 13, fill: l._color}, `${l.name}: ${fmt(l.y[k])}`));
      }
      const right = sx(nearest) > M.left + pw / 2;
      const tx = right ? sx(nearest) - 8 : sx(nearest) + 8;
      tip.setAttribute("transform", `translate(${tx},${M.top + 14})`);
      tip.setAttribute("text-anchor", right ? "end" : "start");
      for (const span of tip.childNodes) span.setAttribute("x", 0);
      tip.setAttribute("visibility", "visible");
    });
    hit.addEventListener("mouseleave", () => {
      cursor.setAttribute("visibility", "hidden");
      tip.setAttribute("visibility", "hidden");
    });
    container.appendChild(svg);
    return svg;
  }

  return {render, COLORS};
})();
