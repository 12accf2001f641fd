"""Hydra / OmegaConf apps through record -> clone with an edit -> worker (issue 15 item 2): the
overrides are ``Hydra/...`` parameters, the composed config the ``OmegaConf`` configuration
object; an edited override or an edited whole config is what the re-run app gets, the same as
a direct run given that value on the command line; each multirun job is a task."""
from __future__ import annotations

import pytest

from localtask import Store, Task

from helpers_worker import (clone_and_enqueue, make_repo, recorded_id, results, run_burst_worker, run_script,
                            run_to_completion)

pytest.importorskip("hydra")

APP = """\
import hydra
from omegaconf import OmegaConf
from localtask import Task


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg):
    task = Task.init(project_name="hydra", task_name="app")
    print("RESULT", OmegaConf.to_container(cfg, resolve=True))
    print("TASK_ID=" + task.id)


if __name__ == "__main__":
    main()
"""
FILES = {
    "app.py": APP,
    "conf/config.yaml": "defaults:\n  - db: mysql\n  - _self_\nlr: 0.01\nepochs: 2\nname: run-${db.driver}\n",
    "conf/db/mysql.yaml": "driver: mysql\nport: 3306\n",
    "conf/db/postgres.yaml": "driver: postgres\nport: 5432\n",
    ".gitignore": "outputs/\nmultirun/\n",
}


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "src", FILES)


def test_task_init_before_the_hydra_app_runs_records_it_too(localtask_home, repo):
    app = repo / "first.py"
    app.write_text(APP.replace('from localtask import Task\n', 'from localtask import Task\n\n'
                               'TASK = Task.init(project_name="hydra", task_name="first")\n')
                   .replace('    task = Task.init(project_name="hydra", task_name="app")\n', '    task = TASK\n'))
    task = Task.get_task(recorded_id(run_script(app, "epochs=4", home=localtask_home)))
    assert task.get_parameters() == {"Hydra/epochs": "4"}
    assert "epochs: 4" in task.get_configuration_object("OmegaConf")


def test_hydra_records_overrides_and_the_composed_config(localtask_home, repo):
    proc = run_script(repo / "app.py", "lr=0.1", "db=postgres", home=localtask_home)
    task = Task.get_task(recorded_id(proc))
    assert task.get_parameters() == {"Hydra/lr": "0.1", "Hydra/db": "postgres"}
    config = task.get_configuration_object("OmegaConf")
    assert "lr: 0.1" in config and "driver: postgres" in config and "name: run-${db.driver}" in config
    assert "--help" not in str(task.get_parameters()) and "LazyCompletionHelp" not in proc.stderr


def test_hydras_run_folders_are_never_part_of_the_recorded_diff(localtask_home, tmp_path):
    files = {k: v for k, v in FILES.items() if k != ".gitignore"}
    repo = make_repo(tmp_path / "plain", files)
    run_script(repo / "app.py", "lr=0.2", home=localtask_home)  # leaves outputs/<date>/<time>/ behind
    second = Task.get_task(recorded_id(run_script(repo / "app.py", "lr=0.3", home=localtask_home)))
    assert (repo / "outputs").is_dir()
    assert "outputs/" not in second.get_diff().decode(), second.get_script().get("diff_files")
    assert second.get_diff() == b""


@pytest.mark.slow
def test_an_edited_override_is_what_the_rerun_app_composes(localtask_home, repo):
    source = recorded_id(run_script(repo / "app.py", "lr=0.1", "db=mysql", home=localtask_home))
    clone = clone_and_enqueue(source, {"Hydra/lr": "0.5", "Hydra/db": "postgres"})
    _, log = run_to_completion(localtask_home, clone.id)
    direct = run_script(repo / "app.py", "lr=0.5", "db=postgres", home=localtask_home)
    assert results(log) == results(direct.stdout)
    assert "'driver': 'postgres'" in results(log)[0] and "'lr': 0.5" in results(log)[0]
    assert Task.get_task(clone.id).get_parameters() == {"Hydra/lr": "0.5", "Hydra/db": "postgres"}


@pytest.mark.slow
def test_an_edited_whole_config_is_what_the_rerun_app_gets(localtask_home, repo):
    source = recorded_id(run_script(repo / "app.py", "lr=0.1", home=localtask_home))
    clone = Task.clone(source)
    text = clone.get_configuration_object("OmegaConf")
    clone.set_configuration_object("OmegaConf", config_text=text.replace("epochs: 2", "epochs: 7"))
    Task.enqueue(clone, queue_name="default")
    _, log = run_to_completion(localtask_home, clone.id)
    direct = run_script(repo / "app.py", "lr=0.1", "epochs=7", home=localtask_home)
    assert results(log) == results(direct.stdout)
    assert "'epochs': 7" in results(log)[0]
    # an unedited clone composes from its overrides, as recorded
    same = clone_and_enqueue(source)
    _, log = run_to_completion(localtask_home, same.id)
    assert "'epochs': 2" in results(log)[0]
    # ClearML's switch: the stored config is the job's, whatever the overrides say
    clearml = clone_and_enqueue(source, {"Hydra/lr": "0.9", "Hydra/_allow_omegaconf_edit_": "true"})
    _, log = run_to_completion(localtask_home, clearml.id)
    assert "'lr': 0.1" in results(log)[0]


@pytest.mark.slow
def test_each_multirun_job_is_a_task_and_a_clone_of_one_reruns_that_job(localtask_home, repo):
    proc = run_script(repo / "app.py", "-m", "lr=0.1,0.2", home=localtask_home)
    assert proc.returncode == 0, proc.stderr
    store = Store.open(localtask_home)
    tasks = store.find_tasks(project="hydra")
    assert len(tasks) == 2 and {t["status"] for t in tasks} == {"completed"}
    by_lr = {Task.get_task(t["id"]).get_parameters()["Hydra/lr"]: t["id"] for t in tasks}
    assert set(by_lr) == {"0.1", "0.2"}

    clone = clone_and_enqueue(by_lr["0.2"], {"Hydra/lr": "0.3"})
    _, log = run_to_completion(localtask_home, clone.id)
    direct = run_script(repo / "app.py", "lr=0.3", home=localtask_home)
    assert len(results(log)) == 1 and results(log) == results(direct.stdout)


@pytest.mark.slow
def test_an_edited_config_that_is_not_yaml_fails_the_rerun_with_a_clear_reason(localtask_home, repo):
    source = recorded_id(run_script(repo / "app.py", home=localtask_home))
    clone = Task.clone(source)
    clone.set_configuration_object("OmegaConf", config_text="lr: [unclosed\n")
    Task.enqueue(clone, queue_name="default")
    run_burst_worker(localtask_home)
    row = Store.open(localtask_home).get_task(clone.id)
    assert row["status"] == "failed"
    assert "ParameterError: The configuration object OmegaConf of task" in row["status_reason"]
    assert "fix its YAML" in row["status_reason"]


def test_with_the_hooks_off_hydras_own_parser_is_recorded_as_plain_args(localtask_home, repo):
    """The reported failure: Hydra's parser has help objects that are not text (LazyCompletionHelp)."""
    proc = run_script(repo / "app.py", "lr=0.1", home=localtask_home, LOCALTASK_NO_FRAMEWORKS="1")
    task = Task.get_task(recorded_id(proc))
    assert task.get_status() == "completed"
    assert task.get_parameters()["Args/overrides"] == ["lr=0.1"]
    helps = {r["name"]: r["description"] for r in task._store.get_parameters(task.id)}
    assert helps["overrides"].startswith("Any key=value arguments")


@pytest.mark.slow
def test_a_config_saved_unchanged_leaves_the_edited_overrides_in_charge(localtask_home, repo):
    """As the page saves a configuration: its text again, no description given."""
    source = recorded_id(run_script(repo / "app.py", "lr=0.1", home=localtask_home))
    clone = Task.clone(source)
    clone.set_configuration_object("OmegaConf", config_text=clone.get_configuration_object("OmegaConf"))
    clone.update_parameters({"Hydra/lr": "0.4"})
    Task.enqueue(clone, queue_name="default")
    _, log = run_to_completion(localtask_home, clone.id)
    assert "'lr': 0.4" in results(log)[0]
