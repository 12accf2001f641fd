"""ClearML-style scripts, with only the import changed, through record -> clone -> worker: the
Task API calls (issue 10 item 3), the artifact kinds (item 5) and the automation pattern of
ClearML's ``manual_random_param_search_example`` (clone a template by name, set bare parameter
names, enqueue), and ClearML's ``model_reporting_plots`` example (a model's reports). Each
re-run must give what the recorded run gave; an edit must show."""
from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

from localtask import Store, Task

from conftest import run_script
from helpers_worker import clone_and_enqueue, make_repo, recorded_id, results, run_to_completion

pytest.importorskip("numpy")
pytest.importorskip("pandas")
pytest.importorskip("PIL")

pytestmark = pytest.mark.slow

TASK_API = """\
import argparse
import pandas as pd
from localtask import Task, Logger
from localtask.task_parameters import TaskParameters, param, percent_param


class Training(TaskParameters):
    epochs = param(type=int, default=3, desc="passes over the data")
    keep = percent_param(default=0.5)


class Optimiser:
    def __init__(self):
        self.name = "sgd"
        self.momentum = 0.9


task = Task.init(project_name="api", task_name="every call")
training = task.connect(Training(), name="Training")
optimiser = task.connect(Optimiser(), name="Optimiser")
args = argparse.Namespace(batch=32, shuffle=True)
task.connect(args, name="Loader")
task.set_user_properties(owner="lab", dataset={"value": "mnist", "description": "which data"})
table = pd.DataFrame({"epoch": [], "loss": []})
task.register_artifact("progress", table)
for epoch in range(training.epochs):
    loss = round(1.0 / (epoch + 1) * training.keep * optimiser.momentum, 6)
    table.loc[epoch] = [epoch, loss]
    Logger.current_logger().report_scalar("loss", optimiser.name, value=loss, iteration=epoch)
task.logger.report_single_value("batch", args.batch)
print("RESULT epochs", training.epochs, "keep", training.keep, "optimiser", optimiser.name)
print("RESULT registered", sorted(task.get_registered_artifacts()))
print("RESULT properties", sorted(task.get_user_properties(value_only=True).items()))
print("RESULT last", task.get_last_iteration())
print("RESULT locally", Task.running_locally())
print("TASK_ID=" + task.id)
"""

ARTIFACTS = """\
from pathlib import Path
import numpy as np
import pandas as pd
from PIL import Image
from localtask import Task

task = Task.init(project_name="api", task_name="artifact kinds")
size = task.connect({"size": 4})["size"]
out = Path("out"); out.mkdir(exist_ok=True)
for i in range(size):
    (out / f"part{i}.txt").write_text("part %d of %d" % (i, size))
(out / "skip.bin").write_bytes(b"not matched")
task.upload_artifact("image", Image.new("RGB", (size, 2), (10, 20, 30)))
task.upload_artifact("array", np.arange(size * 3).reshape(size, 3))
task.upload_artifact("frame", pd.DataFrame({"a": range(size), "b": [x / 2 for x in range(size)]}))
task.upload_artifact("folder", out)
task.upload_artifact("texts", str(out / "*.txt"))
task.upload_artifact("settings", {"size": size})
got = Task.get_task(task.id).artifacts
print("RESULT image", type(got["image"].get()).__module__.split(".")[0], got["image"].get().size)
print("RESULT array", got["array"].get().shape, int(got["array"].get().sum()))
print("RESULT frame", list(got["frame"].get().columns), float(got["frame"].get()["b"].sum()))
print("RESULT folder", sorted(p.name for p in Path(got["folder"].get_local_copy()).rglob("*") if p.is_file()))
print("RESULT texts", sorted(p.name for p in Path(got["texts"].get_local_copy()).rglob("*") if p.is_file()))
print("RESULT settings", got["settings"].get())
print("TASK_ID=" + task.id)
"""

# examples/reporting/model_reporting_plots.py of ClearML, `from clearml` -> `from localtask`, with
# the epoch count as a parameter so an edit can show
MODEL_REPORTS = """\
from localtask import Task, OutputModel
from localtask.utilities.plotly_reporter import SeriesInfo
import pandas as pd
import numpy as np

task = Task.init(project_name="examples", task_name="Model reporting plots example")
epochs = task.connect({"epochs": 8})["epochs"]
output_model = OutputModel(task=task)
output_model.update_labels({"background": 0, "cat": 1, "dog": 2})
output_model.update_weights(register_uri="https://github.com/ultralytics/yolov5/releases/download/v6.2/yolov5x6.pt")
output_model.report_scalar("Reported Metrics", "Val - mAP@50", 72.7, 0)
output_model.report_single_value("Total epochs", epochs)
df = pd.DataFrame({"Model": ["YOLOv5n", "YOLOv5s"], "size (pixels)": [640, 640],
                   "Val - mAP@50-95": [28.0, 37.4]})
output_model.report_table(title="Summary Table", series="Comparison", iteration=0, table_plot=df)
output_model.report_line_plot(
    title="Accuracy",
    series=[SeriesInfo(name="Validation", data=np.array([[i, round(0.3 + 0.07 * i, 3)] for i in range(epochs)]))],
    xaxis="Iteration", yaxis="Validation Accuracy")
print("Model registration completed")
print("TASK_ID=" + task.id)
"""

# the Task and Logger calls ClearML scripts make around the training loop
EXTRAS = """\
import logging, random
from localtask import Task, OutputModel

Task.set_random_seed(7)
Task.ignore_requirements("pytest")
task = Task.init(project_name="extras", task_name="every extra call")
task.set_progress(10)
labels = task.connect_label_enumeration({"background": 0, "cat": 1})
task.set_model_config(config_dict={"layers": 2})
params = task.connect({"steps": 3})
logger = task.get_logger()
logger.set_flush_period(0.5)
logger.set_default_upload_destination("s3://bucket/samples")
task.set_initial_iteration(100)
for step in range(params["steps"]):
    logger.report_scalar("loss", "train", round(random.random(), 6), step)
with logger.capture_logging():
    logging.getLogger("train").warning("RESULT logged through capture_logging")
logger.report_single_value("draw", round(random.random(), 6))
model = OutputModel(task=task)
task.set_progress(100)
print("RESULT seed", Task.get_random_seed(), "labels", sorted(labels.items()), "model labels",
      sorted(model.labels.items()), "design", model.config_dict)
print("RESULT upload", logger.get_default_upload_destination(), "flush", logger.get_flush_period())
print("RESULT initial", task.get_initial_iteration(), "single", task.get_reported_single_values())
print("RESULT models", len(task.output_models_id), "is current", task.is_current_task())
print("TASK_ID=" + task.id)
"""

TEMPLATE = """\
from localtask import Task

task = Task.init(project_name="examples", task_name="HP template")
args = task.connect({"batch_size": 128, "layer_1": 128, "epochs": 1})
task.get_logger().report_scalar("score", "value", value=args["batch_size"] + args["layer_1"] / 1000,
                                iteration=0)
print("RESULT", args["batch_size"], args["layer_1"], args["epochs"])
print("TASK_ID=" + task.id)
"""

SEARCH = """\
from random import Random
from localtask import Task

task = Task.init(project_name="examples", task_name="random search", task_type=Task.TaskTypes.optimizer)
params = task.connect({"runs": 3, "template": "HP template", "queue": "default", "seed": 7})
rng = Random(params["seed"])
template = Task.get_task(project_name="examples", task_name=params["template"])
for i in range(params["runs"]):
    child = Task.clone(source_task=template, name=template.name + " %d" % i, parent=template.id)
    values = child.get_parameters()
    values["batch_size"] = rng.choice([64, 96, 160])   # a bare name: ClearML puts it in General
    values["layer_1"] = rng.randrange(32, 512)
    child.set_parameters(values)
    Task.enqueue(child.id, queue_name=params["queue"])
    print("RESULT child", child.id, values["batch_size"], values["layer_1"])
print("TASK_ID=" + task.id)
"""


def test_task_api_script_reruns_identically_and_an_edit_of_a_task_parameters_field_shows(
        localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"job.py": TASK_API})
    direct = run_script(repo / "job.py", home=localtask_home)
    source = Task.get_task(recorded_id(direct))
    want = results(direct.stdout)
    assert "epochs 3 keep 0.5 optimiser sgd" in want and "locally True" in want

    same = clone_and_enqueue(source.id)
    _, log = run_to_completion(localtask_home, same.id)
    rerun = Task.get_task(same.id)
    assert results(log) == [line.replace("locally True", "locally False") for line in want]
    assert rerun.get_parameters() == source.get_parameters()
    assert rerun.get_user_properties() == source.get_user_properties()
    assert rerun.get_last_scalar_metrics() == source.get_last_scalar_metrics()
    assert rerun.get_single_values() == source.get_single_values() == {"batch": 32.0}
    assert rerun.artifacts["progress"].get().equals(source.artifacts["progress"].get())
    assert len(source.artifacts["progress"].get()) == 3  # the latest content, stored at close

    edited = clone_and_enqueue(source.id, {"Training/epochs": 5, "Optimiser/name": "adam",
                                           "Loader/batch": 8})
    _, log = run_to_completion(localtask_home, edited.id)
    assert "epochs 5 keep 0.5 optimiser adam" in results(log)
    got = Task.get_task(edited.id)
    assert got.get_single_values() == {"batch": 8.0}
    assert list(got.get_last_scalar_metrics()["loss"]) == ["adam"]
    assert len(got.artifacts["progress"].get()) == 5


def _artifact_digests(task: Task) -> dict[str, tuple[str, object]]:
    """{name: (kind, content)}: the sha256 of a file, the member names of a zip (whose bytes
    hold file times)."""
    out: dict[str, tuple[str, object]] = {}
    for name, art in task.artifacts.items():
        if zipfile.is_zipfile(art.path):
            with zipfile.ZipFile(art.path) as z:
                out[name] = (art.type, sorted(z.namelist()))
        else:
            out[name] = (art.type, hashlib.sha256(art.path.read_bytes()).hexdigest())
    return out


def test_artifact_kinds_script_reruns_with_the_same_kinds_and_contents(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"job.py": ARTIFACTS})
    direct = run_script(repo / "job.py", home=localtask_home)
    source = Task.get_task(recorded_id(direct))
    want = results(direct.stdout)
    assert "image PIL (4, 2)" in want and "array (4, 3) 66" in want
    assert "texts ['part0.txt', 'part1.txt', 'part2.txt', 'part3.txt']" in want

    same = clone_and_enqueue(source.id)
    _, log = run_to_completion(localtask_home, same.id)
    assert results(log) == want
    original, rerun = _artifact_digests(source), _artifact_digests(Task.get_task(same.id))
    assert set(original) == {"image", "array", "frame", "folder", "texts", "settings"}
    assert rerun == original  # files byte-identical (the gzip of a frame has no time), zips the same members
    assert original["folder"][0] == "folder" and original["image"][0] != original["array"][0]

    edited = clone_and_enqueue(source.id, {"General/size": 2})
    _, log = run_to_completion(localtask_home, edited.id)
    assert "image PIL (2, 2)" in results(log) and "array (2, 3) 15" in results(log)
    assert "texts ['part0.txt', 'part1.txt']" in results(log)


def test_random_search_clones_a_template_by_name_and_each_child_runs_its_sample(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"template.py": TEMPLATE, "search.py": SEARCH})
    template = Task.get_task(recorded_id(run_script(repo / "template.py", home=localtask_home)))
    search = run_script(repo / "search.py", home=localtask_home)
    recorded_id(search)
    children = [line.split()[1:] for line in results(search.stdout) if line.startswith("child ")]
    assert len(children) == 3

    run_to_completion(localtask_home, children[-1][0])  # the burst worker runs all three
    store = Store.open(localtask_home)
    for child_id, batch, layer in children:
        child = Task.get_task(child_id)
        assert child.get_status() == "completed" and store.get_task(child_id)["parent"] == template.id
        assert child.get_parameters()["General/batch_size"] == int(batch)
        assert "batch_size" not in child.get_parameters()
        log = store.console_path(child_id).read_text()
        assert f"RESULT {batch} {layer} 1" in log
        score = child.get_last_scalar_metrics()["score"]["value"]["last"]
        assert score == pytest.approx(int(batch) + int(layer) / 1000)


def _model_reports(task: Task) -> tuple:
    plots = sorted((p["title"], p["series"], p["kind"], json.dumps(p["figure"], sort_keys=True))
                   for p in task.get_reported_plots())
    return task.get_reported_scalars(), task.get_single_values(), plots


def test_clearml_model_reporting_plots_example_reruns_with_the_same_model_reports(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"model_reporting_plots.py": MODEL_REPORTS})
    direct = run_script(repo / "model_reporting_plots.py", home=localtask_home)
    source = Task.get_task(recorded_id(direct))
    scalars, values, plots = _model_reports(source)
    # OutputModel's default name is the task's, so its reports are titled "Model / <title>"
    assert scalars["Model / Reported Metrics"]["Val - mAP@50"] == {"x": [0], "y": [72.7]}
    assert values == {"Model / Total epochs": 8.0}
    assert [(t, s, k) for t, s, k, _ in plots] == [("Model / Accuracy", "Validation", "line"),
                                                   ("Model / Summary Table", "Comparison", "table")]
    model = source.models["output"][0]
    assert model.labels == {"background": 0, "cat": 1, "dog": 2} and model.url.endswith("yolov5x6.pt")

    same = clone_and_enqueue(source.id)
    _, log = run_to_completion(localtask_home, same.id)
    assert "Model registration completed" in log
    assert _model_reports(Task.get_task(same.id)) == (scalars, values, plots)

    edited = clone_and_enqueue(source.id, {"General/epochs": 3})
    run_to_completion(localtask_home, edited.id)
    rerun = Task.get_task(edited.id)
    assert rerun.get_single_values() == {"Model / Total epochs": 3.0}
    line = next(p for p in rerun.get_reported_plots() if p["kind"] == "line")
    assert line["figure"]["data"][0]["x"] == [0, 1, 2]


def test_clearml_extras_script_reruns_identically_through_clone_and_worker(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"extras.py": EXTRAS})
    direct = run_script(repo / "extras.py", home=localtask_home)
    source = Task.get_task(recorded_id(direct))
    want = results(direct.stdout)
    assert "RESULT logged through capture_logging" in direct.stdout + direct.stderr
    assert want[0] == ("seed 7 labels [('background', 0), ('cat', 1)] model labels "
                       "[('background', 0), ('cat', 1)] design {'layers': 2}")
    assert "upload s3://bucket/samples flush 0.5" in want
    assert source.get_reported_scalars()["loss"]["train"]["x"] == [100, 101, 102]  # the initial iteration
    assert "pytest" not in {p["name"] for p in source.get_environment()["packages"]}

    same = clone_and_enqueue(source.id)
    _, log = run_to_completion(localtask_home, same.id)
    assert [line for line in results(log) if "capture_logging" not in line] == want
    rerun = Task.get_task(same.id)
    assert rerun.get_reported_scalars() == source.get_reported_scalars()  # the same seeded draws
    assert rerun.get_single_values() == source.get_single_values()
    assert rerun.get_labels_enumeration() == {"background": 0, "cat": 1}
