/* The Execution tab's editor for a draft: code (repository, branch, commit, entry point, working
   directory, arguments, diff), packages, Python and container image. Only the changed fields are
   sent; the server checks each of them and changes nothing when one is refused. */
import {h} from "./dom.js";
import {api, showError, notify} from "./api.js";

const LINE_FIELDS = [
  ["repository", "Repository", "git URL or the path of a local clone"],
  ["branch", "Branch", "alone: the branch's head commit now"],
  ["commit", "Commit", "a commit id, a unique prefix or a tag"],
  ["entry_point", "Entry point", "relative to the repository root"],
  ["working_dir", "Working directory", "relative to the repository root"],
  ["argv", "Arguments", "shell-quoted, as on a command line"],
  ["python", "Python", "3.X: the worker finds that interpreter"],
  ["image", "Container image", "empty: none; needs a worker with --container"],
  ["image_arguments", "Container arguments", "extra arguments of the container run"],
];

function quoteArg(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'"'"'`)}'`;
}

function packageLine(p) {
  if (p.requirement) return p.requirement;
  if (p.editable && p.path) return `-e ${p.path}`;
  if (p.path) return p.path;
  return p.version ? `${p.name}==${p.version}` : p.name;
}

/** The values the editor starts from, as text. */
function initial(x) {
  const s = x.script || {}, env = x.environment || {};
  return {
    repository: s.repository || "", branch: s.branch || "", commit: s.commit || "",
    entry_point: s.entry_point || "", working_dir: s.working_dir || "",
    argv: (s.argv || []).map(quoteArg).join(" "), python: env.python || "", image: env.image || "",
    image_arguments: env.image_arguments || "",
    packages: (x.packages || []).map(packageLine).join("\n"), diff: x.diff_truncated ? null : (x.diff || ""),
  };
}

/** Append the editor to ``body``; ``onDirty(bool)`` says whether it holds unsaved changes,
    ``onSaved()`` (which may return a promise) redraws after a save. */
export function drawExecutionEditor(body, taskId, x, onDirty, onSaved) {
  const start = initial(x);
  const controls = {};
  const save = h("button", {type: "button", class: "primary", disabled: true, dataset: {role: "save-execution"}},
                 "Save execution");
  const revert = h("button", {type: "button", disabled: true}, "Revert");
  const count = h("span", {class: "muted"});
  const changed = () => Object.keys(controls).filter(k => controls[k].value !== start[k]);
  const update = () => {
    const keys = changed();
    for (const [k, c] of Object.entries(controls)) c.classList.toggle("changed", keys.includes(k));
    save.disabled = revert.disabled = !keys.length;
    count.textContent = keys.length ? `${keys.length} changed` : "";
    onDirty(keys.length > 0);
  };
  const rows = [];
  for (const [key, label, hint] of LINE_FIELDS) {
    controls[key] = h("input", {type: "text", name: key, value: start[key], "aria-label": label,
                                placeholder: hint, class: "mono", oninput: update});
    rows.push(h("tr", null, h("th", {text: label}), h("td", {class: "field"}, controls[key]),
                h("td", {class: "muted", text: hint})));
  }
  body.append(h("h2", {text: "Edit (draft)"}), h("table", {class: "kv execution-edit"}, rows));
  controls.packages = h("textarea", {class: "config-text mono", name: "packages", value: start.packages,
                                     "aria-label": "Packages", rows: 8, oninput: update});
  body.append(h("h3", null, "Packages", h("span", {class: "muted"}, " · one requirement per line (name==1.2, name>=1)")),
              controls.packages);
  if (start.diff !== null) {
    controls.diff = h("textarea", {class: "config-text mono", name: "diff", value: start.diff,
                                   "aria-label": "Uncommitted diff", rows: 8, oninput: update});
    body.append(h("h3", null, "Uncommitted diff", h("span", {class: "muted"}, " · a git patch against the commit; empty: none")),
                controls.diff);
  }
  save.addEventListener("click", async () => {
    const send = {};
    for (const k of changed()) {
      const v = controls[k].value;
      send[k] = k === "packages" ? v.split("\n") : v;
    }
    save.disabled = true;
    try {
      const res = await api(`/api/tasks/${taskId}/execution`, {body: send});
      onDirty(false);
      // Say it is saved once the tab shows the saved values, not while the old form is still up.
      await onSaved();
      notify(res.changed.length ? `Saved: ${res.changed.join(", ")}` : "Nothing changed");
    } catch (e) {
      showError(e.message);
      save.disabled = false;
    }
  });
  revert.addEventListener("click", () => {
    for (const [k, c] of Object.entries(controls)) c.value = start[k];
    update();
  });
  body.append(h("div", {class: "save-bar"}, save, revert, count));
}
