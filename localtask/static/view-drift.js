/* The Execution tab's environment drift: the verdict of the worker that last ran the task
   (localtask/drift.py): what differed from the record, or that nothing did. */
import {h, fmtTime} from "./dom.js";

const STATES = {other_version: "other version", missing: "missing", extra: "imported, not recorded",
                provided: "provided by the worker"};

export function drawDrift(body, drift) {
  body.append(h("h2", {text: "Environment drift"}));
  if (!drift) {
    body.append(h("p", {class: "muted", dataset: {role: "drift"},
                        text: "No verdict: no worker has run this task since it was recorded, cloned or reset."}));
    return;
  }
  const who = `worker ${drift.worker || "?"}, --env ${drift.env || "?"}, ${fmtTime(drift.checked)}`;
  if (drift.error) {
    body.append(h("p", {class: "drift-verdict", dataset: {role: "drift"}, text: `Not compared (${drift.error}); ${who}`}));
    return;
  }
  const counts = drift.counts || {};
  const parts = [["other_version", "at another version"], ["missing", "missing"], ["extra", "imported but not recorded"]]
    .filter(([k]) => counts[k]).map(([k, label]) => `${counts[k]} ${label}`);
  const py = drift.python || {}, plat = drift.platform || {};
  if (py.state === "other_version" || py.state === "other_implementation") parts.push(`Python ${py.recorded} → ${py.running}`);
  if (plat.state === "other") parts.push(`platform ${plat.recorded} → ${plat.running}`);
  const text = drift.differs ? `Differs from the record: ${parts.join(", ")}` : `As recorded: ${counts.same || 0} packages the same`;
  body.append(h("p", {class: `drift-verdict ${drift.differs ? "differs" : "same"}`, dataset: {role: "drift"}}, text,
                h("span", {class: "muted", text: ` · ${who}`})));
  const rows = [
    ["Python", py.recorded, py.running, (py.state || "").replace("_", " ")],
    ["Platform", plat.recorded, plat.running, plat.state],
    ...(drift.packages || []).map(p => [p.name, p.recorded, p.running, STATES[p.state] || p.state, p.state]),
  ];
  body.append(h("table", {class: "grid drift"},
    h("thead", null, h("tr", null, h("th", {text: ""}), h("th", {text: "Recorded"}), h("th", {text: "Ran with"}), h("th", {text: ""}))),
    h("tbody", null, rows.map(([name, rec, run, label, state]) => h("tr", null,
      h("td", {text: name}), h("td", {class: "mono", text: rec || "—"}), h("td", {class: "mono", text: run || "—"}),
      h("td", {class: `state-${state || ""}`, text: label || ""}))))));
}
