"""The local model registry (OutputModel / InputModel / Model) and StorageManager, on real
stores, real files and real subprocesses."""
from __future__ import annotations

import hashlib
import sqlite3
import tarfile
import zipfile
from pathlib import Path

import pytest

from localtask import InputModel, LocaltaskError, Model, OutputModel, StorageManager, Store, Task
from localtask.store import DB_NAME, SCHEMA_VERSION

from conftest import run_script, task_id_of, write_script

TRAIN = """
from pathlib import Path
from localtask import Task, OutputModel

task = Task.init(project_name="zoo", task_name="train")
Path("weights.bin").write_bytes(b"\\x00weights\\x01" * 100)
model = OutputModel(task=task, framework="pytorch", name="cat-dog", tags=["v1"],
                    label_enumeration={"background": 0, "cat": 1, "dog": 2})
model.update_design(config_dict={"layers": [64, 32], "dropout": 0.25})
model.update_weights(weights_filename="weights.bin", iteration=7)
model.publish()
print("TASK_ID=" + task.id)
print("MODEL_ID=" + model.id)
"""

USE = """
from localtask import Task, InputModel, Model

task = Task.init(project_name="zoo", task_name="evaluate")
found = Model.query_models(project_name="zoo", model_name="cat-dog", only_published=True)
assert len(found) == 1, found
model = InputModel(name="cat-dog", project="zoo", tags=["v1"], only_published=True)
task.connect(model)
with open(model.get_local_copy(), "rb") as fh:
    print("WEIGHTS=" + fh.read().hex())
print("LABELS=" + repr(sorted(model.labels.items())))
print("CONFIG=" + repr(model.config_dict))
print("TASK_ID=" + task.id)
"""


def test_model_made_in_one_process_is_found_and_read_in_another(tmp_path, localtask_home):
    train = run_script(write_script(tmp_path / "train" / "train.py", TRAIN), home=localtask_home)
    train_id = task_id_of(train)
    model_id = train.stdout.split("MODEL_ID=")[1].split()[0]
    use = run_script(write_script(tmp_path / "use" / "use.py", USE), home=localtask_home)
    use_id = task_id_of(use)
    weights = b"\x00weights\x01" * 100
    assert f"WEIGHTS={weights.hex()}" in use.stdout
    assert "LABELS=[('background', 0), ('cat', 1), ('dog', 2)]" in use.stdout
    assert "CONFIG={'layers': [64, 32], 'dropout': 0.25}" in use.stdout

    model = Model(model_id)
    assert model.name == "cat-dog" and model.project == "zoo" and model.framework == "pytorch"
    assert model.published and model.tags == ["v1"] and model.iteration == 7 and model.task == train_id
    stored = Path(model.get_weights())
    assert stored.parent == Path(localtask_home) / "models" / model_id
    assert stored.read_bytes() == weights
    assert Store.open(localtask_home).get_model(model_id)["sha256"] == hashlib.sha256(weights).hexdigest()
    assert model.url == stored.as_uri()
    assert [m.id for m in Task.get_task(train_id).models["output"]] == [model_id]
    assert [m.id for m in Task.get_task(use_id).models["input"]] == [model_id]
    # the weights are the store's copy: the file the script gave may go
    (tmp_path / "train" / "weights.bin").unlink()
    assert Path(InputModel(model_id).get_weights()).read_bytes() == weights


def test_clearml_model_reporting_example_runs_with_only_the_import_changed(tmp_path, localtask_home):
    # examples/reporting/model_reporting.py of ClearML, `from clearml` -> `from localtask`
    script = write_script(tmp_path / "ex" / "model_reporting.py", """
        from localtask import Task, OutputModel

        task = Task.init(project_name="examples", task_name="Model reporting example")

        output_model = OutputModel(task=task)

        labels = {"background": 0, "cat": 1, "dog": 2}
        output_model.update_labels(labels)

        model_url = "https://github.com/ultralytics/yolov5/releases/download/v6.2/yolov5x6.pt"
        output_model.update_weights(register_uri=model_url)

        print("Model registration completed")
        print("TASK_ID=" + task.id)
    """)
    proc = run_script(script, home=localtask_home)
    task_id = task_id_of(proc)
    assert "Model registration completed" in proc.stdout
    (model,) = Task.get_task(task_id).models["output"]
    assert model.url == "https://github.com/ultralytics/yolov5/releases/download/v6.2/yolov5x6.pt"
    assert model.labels == {"background": 0, "cat": 1, "dog": 2}
    assert model.name == "Model reporting example" and model.project == "examples"
    assert model.get_weights() is None  # registered, never downloaded
    with pytest.raises(LocaltaskError, match="local-only"):
        model.get_weights(raise_on_error=True)


def test_output_model_in_process_design_publish_and_query(tmp_path, localtask_home):
    task = Task.init(project_name="p", task_name="t")
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"123")
    model = OutputModel(task=task, config_text="layers: 3", framework="keras")
    assert model.name == "t" and not model.published and model.get_weights() is None
    model.update_weights(weights, target_filename="best.pt")
    assert Path(model.get_weights()).name == "best.pt" and weights.exists()
    assert model.config_text == "layers: 3" and model.config_dict is None
    assert Model.query_models(project_name="p", only_published=True) == []
    with pytest.raises(LocaltaskError, match="No model matches"):
        InputModel(name="t", only_published=True)
    model.publish()
    assert [m.id for m in Model.query_models(project_name="p", only_published=True)] == [model.id]
    second = OutputModel(task=task, name="other", tags=["a", "b"])
    assert [m.id for m in Model.query_models(tags=["a"])] == [second.id]
    assert len(Model.query_models(project_name="p", max_results=1)) == 1
    assert {m.id for m in task.models["output"]} == {model.id, second.id}
    with pytest.raises(LocaltaskError, match="No model with id"):
        Model("nope")
    with pytest.raises(LocaltaskError, match="local-only"):
        model.update_weights(weights, upload_uri="s3://bucket/models")


def test_import_model_copies_a_local_file_and_records_a_remote_url(tmp_path, localtask_home):
    weights = tmp_path / "w.onnx"
    weights.write_bytes(b"onnx")
    local = InputModel.import_model(weights.as_uri(), name="imp", project="q", framework="onnx",
                                    label_enumeration={"x": 1}, config_text="a=1",
                                    create_as_published=True)
    assert Path(local.get_local_copy()).read_bytes() == b"onnx"
    assert local.published and local.labels == {"x": 1} and local.framework == "onnx"
    remote = InputModel.import_model("https://example.com/w.pt", name="rem")
    assert remote.url == "https://example.com/w.pt" and remote.get_local_copy() is None


def test_deleting_a_task_keeps_its_models(localtask_home):
    store = Store.open(localtask_home)
    task = Task.init(project_name="p", task_name="t")
    model = OutputModel(task=task)
    task.close()
    store.delete_task(task.id)
    assert store.get_task_models(task.id) == []
    assert Model(model.id).task == task.id


def test_a_v2_store_is_migrated_to_the_current_schema_keeping_its_tasks(tmp_path):
    home = tmp_path / "old-store"
    store = Store(home)
    store.insert_task({"id": "a" * 32, "project": "p", "name": "old", "status": "completed",
                       "created": 1.0, "last_update": 1.0})
    store.close()
    conn = sqlite3.connect(home / DB_NAME)
    conn.executescript("DROP TABLE task_models; DROP TABLE models; ALTER TABLE tasks DROP COLUMN run_end; "
                       "ALTER TABLE tasks DROP COLUMN pid_ns; ALTER TABLE tasks DROP COLUMN runtime; DROP TABLE verdicts; "
                       "PRAGMA user_version = 2;")
    conn.close()
    migrated = Store(home)
    assert migrated.one("PRAGMA user_version")["user_version"] == SCHEMA_VERSION == 7
    assert migrated.get_task("a" * 32)["run_end"] is None and migrated.get_task("a" * 32)["pid_ns"] is None
    assert migrated.get_task("a" * 32)["runtime"] == {}
    assert migrated.get_task("a" * 32)["name"] == "old"
    migrated.add_model({"id": "m1", "name": "new", "task_id": "a" * 32})
    assert migrated.get_model("m1")["name"] == "new"


def test_storage_manager_local_paths_file_urls_and_archives(tmp_path, localtask_home):
    src = tmp_path / "data.txt"
    src.write_text("hello")
    assert StorageManager.get_local_copy(str(src)) == str(src)
    assert StorageManager.get_local_copy(src.as_uri()) == str(src)
    assert StorageManager.get_local_copy(str(tmp_path / "missing")) is None

    archive = tmp_path / "ds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ds/a.txt", "A")
        zf.writestr("ds/b/c.txt", "C")
    folder = Path(StorageManager.get_local_copy(archive.as_uri()))
    assert folder.is_dir() and folder.is_relative_to(Path(localtask_home) / "cache")
    assert (folder / "ds" / "b" / "c.txt").read_text() == "C"
    assert StorageManager.get_local_copy(str(archive), extract_archive=False) == str(archive)
    tgz = tmp_path / "t.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(src, arcname="inner.txt")
    assert (Path(StorageManager.get_local_copy(str(tgz))) / "inner.txt").read_text() == "hello"

    dest = tmp_path / "bucket"
    url = StorageManager.upload_file(str(src), dest.as_uri() + "/sub/")
    assert url == (dest / "sub" / "data.txt").as_uri()
    assert (dest / "sub" / "data.txt").read_text() == "hello"
    StorageManager.upload_file(str(src), str(dest / "renamed.txt"))
    assert sorted(StorageManager.list(dest.as_uri())) == ["renamed.txt", "sub/data.txt"]
    StorageManager.upload_folder(str(folder), str(tmp_path / "up"), match_wildcard="*.txt")
    assert (tmp_path / "up" / "ds" / "a.txt").read_text() == "A"
    down = Path(StorageManager.download_folder(str(tmp_path / "up"), str(tmp_path / "down")))
    assert (down / "ds" / "b" / "c.txt").read_text() == "C"


@pytest.mark.parametrize("url", ["s3://bucket/key.pt", "gs://b/k", "https://example.com/x.zip"])
def test_storage_manager_refuses_remote_urls(tmp_path, localtask_home, url):
    with pytest.raises(LocaltaskError, match="local-only"):
        StorageManager.get_local_copy(url)
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(LocaltaskError, match="local-only"):
        StorageManager.upload_file(str(src), url)


def test_a_model_without_a_running_task_refuses_reports_and_series_info_checks_its_rows(localtask_home):
    from localtask.utilities.plotly_reporter import SeriesInfo

    model = InputModel.import_model(weights_url="https://models.example/w.pt", name="loose")
    with pytest.raises(LocaltaskError, match="no running task to keep its reports: call Task.init"):
        model.report_scalar("loss", "val", 1.0, 0)
    with pytest.raises(LocaltaskError, match="OutputModel needs a task: give task=..., or call Task.init"):
        OutputModel(name="orphan")
    assert [m.name for m in Model.query_models()] == ["loose"]  # nothing registered by the refusal
    with pytest.raises(ValueError, match="rows of two values"):
        SeriesInfo("bad", [[0, 1, 2]])
    with pytest.raises(ValueError, match="2 labels for 1 rows"):
        SeriesInfo("bad", [[0, 1]], labels=["a", "b"])


def test_a_loaded_model_reports_under_the_running_task_with_its_name_in_the_title(localtask_home):
    from localtask.utilities.plotly_reporter import SeriesInfo

    model = InputModel.import_model(weights_url="https://models.example/w.pt", name="backbone")
    task = Task.init(project_name="proj", task_name="evaluate")
    try:
        model.report_scalar("loss", "val", 0.5, 2)
        model.report_line_plot("curve", [SeriesInfo("val", [[0, 1.0], [1, 0.5]], labels=["a", "b"])],
                               xaxis="x", yaxis="y")
        model.report_histogram("hist", "counts", [1, 2, 3])
    finally:
        task.close()
    assert task.get_reported_scalars()["Model backbone / loss"] == {"val": {"x": [2], "y": [0.5]}}
    plots = {p["title"]: p for p in task.get_reported_plots()}
    assert set(plots) == {"Model backbone / curve", "Model backbone / hist"}
    assert plots["Model backbone / curve"]["figure"]["data"][0]["text"] == ["a", "b"]
