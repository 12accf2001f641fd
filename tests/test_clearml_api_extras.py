"""ClearML calls that real scripts make beyond the common ones, on a real store and real
processes: the random seed (and its re-run by a worker), model design and labels, progress,
rename and projects, reported values, logger settings, and the abort callback under a worker."""
from __future__ import annotations

import logging
import time

import pytest

from localtask import Logger, OutputModel, Store, Task
from localtask.exceptions import LocaltaskError, ParameterError

from conftest import run_script
from helpers_worker import WorkerThread, clone_and_enqueue, make_repo, recorded_id, results, run_to_completion


def test_labels_and_model_design_are_kept_on_the_task_cloned_and_taken_by_its_output_models(localtask_home):
    task = Task.init(project_name="p", task_name="design")
    labels = task.connect_label_enumeration({"background": 0, "person": 1})
    assert labels == {"background": 0, "person": 1} == task.get_labels_enumeration()
    with pytest.raises(ParameterError):
        task.set_model_label_enumeration({"x": "one"})
    task.set_model_config(config_dict={"layers": 3})
    assert task.get_model_config_dict() == {"layers": 3}
    assert '"layers": 3' in task.get_model_config_text()
    model = OutputModel(task=task, name="net")
    assert model.labels == {"background": 0, "person": 1} and model.config_dict == {"layers": 3}
    own = OutputModel(task=task, name="own", label_enumeration={"cat": 7}, config_text="n=1")
    assert own.labels == {"cat": 7} and own.config_text == "n=1"
    assert task.output_models_id == {"net": model.id, "own": own.id} and task.input_models_id == {}
    assert [m.id for m in task.get_models()["output"]] == [model.id, own.id]
    task.set_model_config(config_text='{"layers": 4}')
    assert task.get_model_config_dict() == {"layers": 4}
    task.close()
    clone = Task.clone(task)
    assert clone.get_labels_enumeration() == {"background": 0, "person": 1}
    assert clone.get_model_config_text() == '{"layers": 4}'


def test_progress_names_projects_types_and_lookups(localtask_home):
    task = Task.init(project_name="p", task_name="first")
    assert task.get_progress() is None
    task.set_progress(40)
    task.set_progress(140)  # out of range: a warning, as ClearML, and ignored
    assert task.get_progress() == 40 and Store.open(localtask_home).get_task(task.id)["runtime"]["progress"] == 40
    task.rename("second")
    task.move_to_project(new_project_name="q")
    assert (task.name, task.project, task.get_project_id()) == ("second", "q", "q")
    task.set_project(project_name="r")
    task.set_task_type(Task.TaskTypes.testing)
    assert task.task_type == "testing" and task.task_id == task.id
    with pytest.raises(LocaltaskError, match="use one of"):
        task.set_task_type("nonsense")
    assert {"id": "r", "name": "r", "tasks": 1} in Task.get_projects()
    assert task.is_current_task() and task.is_main_task()
    assert Task.get_by_name("second") == task and Task.get_all(name="seco") == [task]
    assert not Task.is_offline() and task.get_offline_mode_folder() is None
    task.close()
    assert task.last_worker is None and task.get_executed_queue() is None
    clone = Task.clone(task)
    assert clone.get_progress() is None and not clone.is_current_task()
    Task.enqueue(clone, queue_name="later")
    assert Task.get_num_enqueued_tasks("later") == 1 and clone.get_executed_queue() == "later"


def test_parameters_as_dict_replace_all_and_reported_values(localtask_home):
    task = Task.init(project_name="p", task_name="params")
    task.connect({"lr": 0.1, "old": 1})
    task.set_parameters_as_dict({"General": {"lr": 0.5}, "Data": {"rows": 10}})
    assert task.get_parameters_as_dict() == {"General": {"lr": 0.5}, "Data": {"rows": 10}}
    logger = task.get_logger()
    task.set_initial_iteration(100)
    assert task.get_initial_iteration() == 100
    logger.report_scalar("loss", "train", 0.5, iteration=1)
    logger.report_single_value("acc", 0.9)
    Logger.set_reporting_nan_value(-1.0)
    try:
        logger.report_scalar("loss", "train", float("nan"), iteration=2)
    finally:
        from localtask import logger as logger_mod

        logger_mod._REPLACE.clear()
    assert task.get_reported_single_value("acc") == 0.9 and task.get_reported_single_value("no") is None
    assert task.get_reported_single_values() == {"acc": 0.9}
    assert task.get_all_reported_scalars()["loss"]["train"] == {"x": [101, 102], "y": [0.5, -1.0]}
    assert task.get_all_reported_scalars()["Summary"]["acc"] == {"x": [0], "y": [0.9]}
    task.close()


def test_logger_settings(localtask_home, caplog):
    task = Task.init(project_name="p", task_name="logger")
    logger = task.get_logger()
    assert logger.get_default_upload_destination().startswith(str(Store.open(localtask_home).home))
    logger.set_default_upload_destination("/tmp/samples")
    assert logger.get_default_upload_destination() == "/tmp/samples"
    with caplog.at_level(logging.WARNING, logger="localtask.logger"):
        logger.set_default_upload_destination("s3://bucket/debug")
    assert logger.get_default_upload_destination() == "s3://bucket/debug"
    assert "s3://bucket/debug" in caplog.text and "stored in" in caplog.text
    logger.set_flush_period(0.2)
    assert logger.get_flush_period() == 0.2
    for bad in (0, -1, "x", float("inf")):
        with pytest.raises(LocaltaskError):
            logger.set_flush_period(bad)
    logger.report_scalar("a", "b", 1.0, 0)
    time.sleep(0.6)  # written by the background flusher at its new period
    assert Store.open(localtask_home).get_scalars(task.id)
    assert logger.get_default_debug_sample_history() == 100
    logger.set_default_debug_sample_history(5)
    assert logger.get_default_debug_sample_history() == 5
    task.output_uri = "gs://bucket/models"
    assert task.output_uri == "gs://bucket/models"
    Logger.tensorboard_auto_group_scalars(True)
    Logger.tensorboard_single_series_per_graph(True)
    with logger.capture_logging():
        logging.getLogger("script").warning("seen in the console")
    task.close()
    assert "seen in the console" in Store.open(localtask_home).console_path(task.id).read_text()


SEEDED = """\
import random
import sys
from localtask import Task

Task.set_random_seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1337)
task = Task.init(project_name="seed", task_name="seeded")
print("TASK_ID=" + task.id)
assert "numpy" not in sys.modules  # localtask did not import it
import numpy
print("RESULT random", random.random())
print("RESULT numpy", numpy.random.rand())
print("RESULT seed", task.get_random_seed())
"""


@pytest.mark.slow
def test_random_seed_seeds_random_and_later_numpy_and_a_worker_rerun_uses_the_recorded_seed(
        localtask_home, tmp_path):
    pytest.importorskip("numpy")
    import random

    import numpy

    repo = make_repo(tmp_path / "src", {"job.py": SEEDED})
    direct = run_script(repo / "job.py", home=localtask_home)
    source_id = recorded_id(direct)
    random.seed(1337)
    numpy.random.seed(1337)
    want = [f"random {random.random()}", f"numpy {numpy.random.rand()}", "seed 1337"]
    assert results(direct.stdout) == want
    assert Store.open(localtask_home).get_task(source_id)["runtime"]["random_seed"] == 1337
    other = run_script(repo / "job.py", "7", home=localtask_home)
    assert results(other.stdout) != want and "seed 7" in results(other.stdout)

    clone = clone_and_enqueue(source_id)
    _, log = run_to_completion(localtask_home, clone.id)
    assert results(log) == want


ABORTABLE = """\
import time
from localtask import Task

task = Task.init(project_name="abort", task_name="abortable")
logger = task.get_logger()

def saved():
    logger.report_text("CALLBACK saved a checkpoint")
    task.upload_artifact("checkpoint", {"step": 1})

task.register_abort_callback(saved, callback_execution_timeout=5)
task.set_progress(10)
while True:
    time.sleep(0.1)
"""


@pytest.mark.slow
def test_abort_callback_runs_when_the_worker_aborts_the_run(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"job.py": ABORTABLE})
    store = Store.open(localtask_home)
    draft = Task.create(project_name="abort", task_name="abortable", repo=str(repo), script="job.py",
                        packages=[], home=localtask_home)
    Task.enqueue(draft, queue_name="default")
    runner = WorkerThread(localtask_home).start()
    deadline = time.monotonic() + 60
    while Task.get_task(draft.id).get_progress() != 10:
        assert time.monotonic() < deadline, store.get_task(draft.id)
        time.sleep(0.1)
    Task.get_task(draft.id).mark_stop_request()
    runner.join(60)
    row = store.get_task(draft.id)
    assert row["status"] == "stopped"
    assert "CALLBACK saved a checkpoint" in store.console_path(draft.id).read_text()
    assert Task.get_task(draft.id).artifacts["checkpoint"].get() == {"step": 1}
