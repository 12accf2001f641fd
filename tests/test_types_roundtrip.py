"""Parameter types beyond JSON's (tuple, set, frozenset, Enum, datetime, date, Path) and
TaskParameters, through connect, the store, a clone, a CLI edit and a worker's re-run."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import textwrap
from enum import Enum, IntEnum
from pathlib import Path

import pytest

from helpers_worker import LOCALTASK_CLI, child_env, make_repo, recorded_id, results, run_script, run_to_completion
from localtask import ParameterError, Store, Task
from localtask import params as P
from localtask.task_parameters import TaskParameters, param, percent_param, range_validator


class Color(Enum):
    RED = "red"
    GREEN = "green"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Training(TaskParameters):
    iterations = param(type=int, default=100, desc="number of iterations", range=(0, 10_000))
    keep = percent_param(default=0.5, desc="share of the data kept")
    name = param(type=str, default="base")
    shape = param(default=(3, 4))


WHEN = datetime.datetime(2024, 5, 1, 12, 30, 15, 250, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
VALUES = {
    "pair": (1, "a"),
    "empty_tuple": (),
    "tags": {"b", "a", "c"},
    "frozen": frozenset({3, 1}),
    "pairs": {(1, 2), (0, 5)},
    "color": Color.GREEN,
    "level": Level.HIGH,
    "when": WHEN,
    "naive": datetime.datetime(2020, 1, 2, 3, 4, 5),
    "day": datetime.date(2023, 12, 31),
    "out": Path("/data/runs/ü"),
    "rel": Path("relative/dir"),
    "nested": {"t": (1, 2), "l": [1, (2, 3)]},  # nested: JSON lists, as before
}


def exactly(a, b) -> bool:
    return type(a) is type(b) and a == b


# ------------------------------------------------------------------ the params module
@pytest.mark.parametrize("key", sorted(VALUES))
def test_encode_decode_keeps_the_type(key):
    value = VALUES[key]
    text, kind = P.encode(value, f"General/{key}")
    back = P.decode(text, kind)
    if key == "nested":
        assert kind == "dict" and back == {"t": [1, 2], "l": [1, [2, 3]]}
    else:
        assert exactly(back, value), (text, kind, back)
    json.loads(text)  # the stored text is plain JSON, naming no Python type


def test_stored_forms_are_readable_json():
    assert P.encode({3, 1, 2}) == ("[1, 2, 3]", "set")
    assert P.encode(Color.RED) == ('"RED"', f"enum:{__name__}:Color")
    assert P.encode(datetime.date(2024, 1, 2)) == ('"2024-01-02"', "date")
    assert P.encode(Path("/a/b")) == ('"/a/b"', "path")
    assert P.encode(Level.LOW)[1] == f"enum:{__name__}:Level"  # an IntEnum is no int here


class Opaque:
    def __repr__(self):
        return "<Opaque at 0x1234>"


@pytest.mark.parametrize("value, where", [
    (Opaque(), ""), ({"inner": [1, Opaque()]}, "['inner'][1]"), ((1, Opaque()), "[1]"),
    (object(), ""), (b"bytes", ""), (1 + 2j, ""),
])
def test_a_custom_object_is_refused_naming_parameter_and_type(localtask_home, value, where):
    task = Task.init(project_name="proj", task_name="refuse")
    with pytest.raises(ParameterError) as info:
        task.connect({"lr": 0.1, "thing": value}, name="Model")
    message = str(info.value)
    assert "Model/thing" in message and where in message
    assert type(value if not where else Opaque()).__name__ in message
    assert "0x1234" not in message
    assert task.get_parameters() == {}  # nothing stored, not even lr
    with pytest.raises(ParameterError, match="Obj/thing"):
        task.connect(type("Holder", (), {"thing": value})(), name="Obj")
    task.close()


def test_an_enum_defined_in_a_function_is_refused(localtask_home):
    class Local(Enum):
        A = 1

    task = Task.init(project_name="proj", task_name="local-enum")
    with pytest.raises(ParameterError, match="General/e.*module level"):
        task.connect({"e": Local.A})
    task.close()


def test_an_enum_not_importable_at_decode_time_is_a_clear_error():
    with pytest.raises(ParameterError, match="enum no_such_module_xyz:Color.*cannot be imported"):
        P.decode('"RED"', "enum:no_such_module_xyz:Color", "General/color")
    with pytest.raises(ParameterError, match="has no member 'BLUE'.*RED, GREEN"):
        P.decode('"BLUE"', f"enum:{__name__}:Color", "General/color")


@pytest.mark.parametrize("kind, text, expected", [
    ("tuple", "[1, 2]", (1, 2)), ("tuple", "(1, 'a')", (1, "a")), ("tuple", "[]", ()),
    ("set", "[2, 1, 2]", {1, 2}), ("set", "{'x', 'y'}", {"x", "y"}), ("frozenset", "[1]", frozenset({1})),
    ("set", "[[1, 2]]", {(1, 2)}),
    ("datetime", "2025-02-03T04:05:06", datetime.datetime(2025, 2, 3, 4, 5, 6)),
    ("datetime", "2025-02-03 04:05:06+01:00",
     datetime.datetime(2025, 2, 3, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))),
    ("date", "2025-02-03", datetime.date(2025, 2, 3)),
    ("path", "/tmp/x y", Path("/tmp/x y")),
    (f"enum:{__name__}:Color", "RED", Color.RED), (f"enum:{__name__}:Color", "Color.GREEN", Color.GREEN),
    (f"enum:{__name__}:Color", "green", Color.GREEN), (f"enum:{__name__}:Level", "2", Level.HIGH),
])
def test_text_is_parsed_as_the_recorded_type(kind, text, expected):
    encoded, new_kind = P.coerce(text, kind, "General/x")
    assert new_kind == kind
    assert exactly(P.decode(encoded, kind), expected)


@pytest.mark.parametrize("kind, value", [
    ("tuple", "not a tuple"), ("tuple", "5"), ("set", '{"a": 1}'), ("datetime", "yesterday"),
    ("date", "2025-13-01"), ("date", datetime.datetime(2025, 1, 1)), ("path", ""), ("path", 5),
    (f"enum:{__name__}:Color", "BLUE"), (f"enum:{__name__}:Color", Level.LOW), ("tuple", Opaque()),
])
def test_text_that_does_not_parse_as_the_recorded_type_is_refused(kind, value):
    with pytest.raises(ParameterError, match="General/x"):
        P.coerce(value, kind, "General/x")


def test_sequences_are_converted_to_the_recorded_kind():
    assert P.coerce([1, 2], "tuple", "x") == ("[1, 2]", "tuple")
    assert P.coerce((2, 1), "set", "x") == ("[1, 2]", "set")
    assert P.coerce({1}, "list", "x") == ("[1]", "list")


# ------------------------------------------------------------------ through a task, the store, a clone
def test_types_round_trip_through_store_and_clone(localtask_home):
    task = Task.init(project_name="proj", task_name="types")
    connected = task.connect(dict(VALUES), name="Typed")
    assert exactly(connected["pair"], (1, "a"))
    task.close()
    clone = Task.clone(task.id)
    for source in (Task.get_task(task.id), Task.get_task(clone.id)):
        stored = source.get_parameters_as_dict()["Typed"]
        for key, value in VALUES.items():
            if key != "nested":
                assert exactly(stored[key], value), (key, stored[key])
    kinds = {r["name"]: r["type"] for r in Store.open(localtask_home).get_parameters(clone.id)}
    assert kinds["pair"] == "tuple" and kinds["tags"] == "set" and kinds["day"] == "date"
    assert kinds["color"] == f"enum:{__name__}:Color"


def test_parameter_edits_keep_the_types(localtask_home):
    task = Task.init(project_name="proj", task_name="edit")
    task.connect({"pair": (1, 2), "when": WHEN, "out": Path("/a"), "color": Color.RED})
    task.close()
    clone = Task.clone(task.id)
    clone.update_parameters({"General/pair": "(5, 6, 7)", "General/when": "2030-01-01T00:00:00",
                             "General/out": "/b/c", "General/color": Color.GREEN})
    assert clone.get_parameters() == {"General/pair": (5, 6, 7), "General/when": datetime.datetime(2030, 1, 1),
                                      "General/out": Path("/b/c"), "General/color": Color.GREEN}
    with pytest.raises(ParameterError, match="General/color.*enum"):
        clone.set_parameter("General/color", "PURPLE")
    assert clone.get_parameter("General/color") is Color.GREEN


def write_kinds_module(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lt_kinds.py").write_text(textwrap.dedent("""
        from enum import Enum

        class Mode(Enum):
            FAST = "fast"
            SAFE = "safe"
        """))
    return folder


def cli_with_path(home: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = child_env(home)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([*LOCALTASK_CLI, "--home", str(home), *args], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def test_cli_edit_parses_text_by_the_recorded_type(localtask_home, tmp_path, monkeypatch):
    mods = write_kinds_module(tmp_path / "mods")
    monkeypatch.syspath_prepend(str(mods))
    import lt_kinds

    task = Task.init(project_name="proj", task_name="cli-edit")
    task.connect({"shape": (3, 4), "tags": {"a"}, "day": datetime.date(2024, 1, 1), "out": Path("/x"),
                  "mode": lt_kinds.Mode.FAST, "stamp": WHEN})
    task.close()
    clone = Task.clone(task.id)
    done = cli_with_path(localtask_home, "params", clone.id, "--set", "General/shape=[5, 6]",
                         "--set", "General/tags={'b', 'c'}", "--set", "General/day=2025-06-07",
                         "--set", "General/out=/y/z", "--set", "General/mode=SAFE",
                         "--set", "General/stamp=2025-06-07T08:09:10+00:00", pythonpath=mods)
    assert done.returncode == 0, done.stderr
    assert "General/shape = [5, 6] (tuple)" in done.stdout
    got = Task.get_task(clone.id).get_parameters()
    assert exactly(got["General/shape"], (5, 6))
    assert exactly(got["General/tags"], {"b", "c"})
    assert exactly(got["General/day"], datetime.date(2025, 6, 7))
    assert exactly(got["General/out"], Path("/y/z"))
    assert got["General/mode"] is lt_kinds.Mode.SAFE
    assert got["General/stamp"] == datetime.datetime(2025, 6, 7, 8, 9, 10, tzinfo=datetime.timezone.utc)

    # Away from the script's modules (the API here, with the module gone) a member name is
    # taken as it is: the run that reads it back checks it.
    monkeypatch.delitem(sys.modules, "lt_kinds")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(mods)])
    Task.get_task(clone.id).update_parameters({"General/mode": "FAST"})
    with pytest.raises(ParameterError, match="enum lt_kinds:Mode.*cannot be imported.*PYTHONPATH"):
        Task.get_task(clone.id).get_parameters()
    monkeypatch.syspath_prepend(str(mods))
    assert Task.get_task(clone.id).get_parameter("General/mode").name == "FAST"
    for bad in ("General/day=someday", "General/shape=oops", "General/mode=not a name"):
        refused = cli_with_path(localtask_home, "params", clone.id, "--set", bad, pythonpath=mods)
        assert refused.returncode != 0
        assert bad.split("=")[0] in refused.stderr, refused.stderr
    assert exactly(Task.get_task(clone.id).get_parameter("General/day"), datetime.date(2025, 6, 7))


# ------------------------------------------------------------------ TaskParameters, objects, Namespace
def test_task_parameters_fields_defaults_and_validation():
    p = Training(iterations=7)
    assert p.to_dict() == {"iterations": 7, "keep": 0.5, "name": "base", "shape": (3, 4)}
    assert Training(1, 0.25).keep == 0.25
    with pytest.raises(ValueError, match="iterations must be in range"):
        Training(iterations=-1)
    with pytest.raises(TypeError, match="keep must be of type float"):
        Training(keep="half")
    with pytest.raises(ValueError, match="keep must be in range"):
        p.keep = 1.5
    with pytest.raises(TypeError, match="no parameter 'iters'"):
        Training(iters=3)
    with pytest.raises(ValueError, match="Unknown key bogus"):
        p.update_from_dict({"bogus": 1})
    p.update_from_dict({"iterations": 9, "keep": 1})
    assert p.iterations == 9 and p.keep == 1

    class Required(TaskParameters):
        seed = param(type=int, validator=range_validator(0, None))
        extra = param(factory=list)

    with pytest.raises(TypeError, match="needs a value for 'seed'"):
        Required()
    a, b = Required(seed=1), Required(seed=2)
    a.extra.append(1)
    assert b.extra == [] and a != b and Required(1) == Required(seed=1)

    class More(Training):  # fields are inherited
        depth = param(type=int, default=2)

    assert list(More().to_dict()) == ["iterations", "keep", "name", "shape", "depth"]


def test_connect_task_parameters_records_section_and_descriptions(localtask_home):
    task = Task.init(project_name="proj", task_name="task-params")
    params = Training(iterations=5)
    assert params.connect(task) is params
    other = task.connect(Training(name="second"), name="Second")
    assert other.name == "second"
    got = task.get_parameters_as_dict()
    assert got["General"] == {"iterations": 5, "keep": 0.5, "name": "base", "shape": (3, 4)}
    assert got["Second"]["name"] == "second"
    rows = {(r["section"], r["name"]): r for r in task._store.get_parameters(task.id)}
    assert rows[("General", "iterations")]["description"] == "number of iterations"
    assert rows[("General", "iterations")]["type"] == "int"
    assert rows[("General", "shape")]["type"] == "tuple"
    task.close()


def test_connect_plain_object_and_namespace_with_new_types(localtask_home):
    class Config:
        mode = Color.RED  # a class-level default is an attribute too
        rate = 0.1

        def __init__(self):
            self.out = Path("/out")
            self.days = (datetime.date(2024, 1, 1),)
            self._hidden = object()

        @property
        def derived(self):
            return object()

        def method(self):
            return 1

    task = Task.init(project_name="proj", task_name="objects")
    cfg = task.connect(Config(), name="Cfg")
    ns = task.connect(argparse.Namespace(seed=(1, 2), when=datetime.date(2024, 2, 2)))
    assert cfg.mode is Color.RED and ns.seed == (1, 2)
    assert task.get_parameters_as_dict() == {
        "Cfg": {"mode": Color.RED, "rate": 0.1, "out": Path("/out"), "days": ("2024-01-01",)},
        "Args": {"seed": (1, 2), "when": datetime.date(2024, 2, 2)},
    }
    task.close()


def test_argparse_values_of_other_types_are_still_recorded_as_text(localtask_home, tmp_path):
    script = tmp_path / "args.py"
    script.write_text(textwrap.dedent("""
        import argparse
        from fractions import Fraction
        from localtask import Task

        task = Task.init(project_name="proj", task_name="args")
        print("TASK_ID=" + task.id)
        parser = argparse.ArgumentParser()
        parser.add_argument("--ratio", type=Fraction, default=Fraction(1, 3))
        parser.add_argument("--pair", type=int, nargs=2, default=(1, 2))
        args = parser.parse_args()
        print("RESULT", repr(args.ratio))
        """))
    proc = run_script(script, home=localtask_home)
    task_id = recorded_id(proc)
    assert results(proc.stdout) == ["Fraction(1, 3)"]
    assert Task.get_task(task_id).get_parameters() == {"Args/ratio": "1/3", "Args/pair": (1, 2)}


# ------------------------------------------------------------------ end to end: clone, edit, re-run
E2E_MODULE = """
    from enum import Enum

    class Optimizer(Enum):
        SGD = "sgd"
        ADAM = "adam"
    """

E2E_SCRIPT = """
    import datetime, os
    from pathlib import Path
    from localtask import Task
    from localtask.task_parameters import TaskParameters, param, percent_param
    from kinds import Optimizer

    class Training(TaskParameters):
        iterations = param(type=int, default=10, desc="iterations", range=(1, 1000))
        keep = percent_param(default=0.5)
        shape = param(default=(2, 2))

    task = Task.init(project_name="e2e-types", task_name="types")
    print("TASK_ID=" + task.id)
    rerun = bool(os.environ.get("LOCALTASK_TASK_ID"))
    cfg = {"shape": (28, 28), "tags": {"a", "b"}, "frozen": frozenset({1}), "opt": Optimizer.SGD,
           "day": datetime.date(2024, 1, 1), "stamp": datetime.datetime(2024, 1, 1, 8, 0),
           "out": Path("runs/base"), "nested": {"k": [1, 2]}}
    task.connect(cfg)
    training = Training()
    assert task.connect(training, name="Training") is training
    expected_types = {"shape": tuple, "tags": set, "frozen": frozenset, "opt": Optimizer,
                      "day": datetime.date, "stamp": datetime.datetime, "out": Path, "nested": dict}
    for key, kind in expected_types.items():
        assert isinstance(cfg[key], kind) and (type(cfg[key]) is kind or kind in (Optimizer, Path)), (key, cfg[key])
    assert type(training.shape) is tuple and type(training.keep) is float and type(training.iterations) is int
    for key in sorted(cfg):
        print("RESULT", key, repr(cfg[key]))
    print("RESULT training", training.iterations, training.keep, training.shape)
    print("RESULT rerun", rerun)
    """


def test_end_to_end_types_survive_clone_edit_and_worker_rerun(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"job.py": E2E_SCRIPT, "kinds.py": E2E_MODULE})
    direct = run_script(repo / "job.py", home=localtask_home)
    source_id = recorded_id(direct)
    assert "RESULT opt <Optimizer.SGD: 'sgd'>" in direct.stdout
    clone = Task.clone(source_id)
    # the CLI edits the draft as a user would: from elsewhere, without the enum's module
    edit = cli_with_path(localtask_home, "params", clone.id, "--set", "General/opt=ADAM",
                         "--set", "General/shape=[32, 32]", "--set", "General/day=2025-03-04",
                         "--set", "General/tags=[\"c\"]", "--set", "General/out=runs/edited",
                         "--set", "Training/iterations=250", "--set", "Training/keep=1")
    assert edit.returncode == 0, edit.stderr
    clone.update_parameters({"General/stamp": datetime.datetime(2030, 5, 6, 7, 8, 9)})
    Task.enqueue(clone)
    row, log = run_to_completion(localtask_home, clone.id)
    assert results(log) == [
        "day datetime.date(2025, 3, 4)",
        "frozen frozenset({1})",
        "nested {'k': [1, 2]}",
        "opt <Optimizer.ADAM: 'adam'>",
        "out PosixPath('runs/edited')" if os.name != "nt" else "out WindowsPath('runs/edited')",
        "shape (32, 32)",
        "stamp datetime.datetime(2030, 5, 6, 7, 8, 9)",
        "tags {'c'}",
        "training 250 1.0 (2, 2)",
        "rerun True",
    ]
    # the re-run recorded the same types back
    kinds = {(r["section"], r["name"]): r["type"] for r in Store.open(localtask_home).get_parameters(clone.id)}
    assert kinds[("General", "opt")] == "enum:kinds:Optimizer"
    assert kinds[("Training", "shape")] == "tuple" and kinds[("Training", "keep")] == "float"


def test_end_to_end_an_out_of_range_edit_fails_the_rerun_clearly(localtask_home, tmp_path):
    repo = make_repo(tmp_path / "src", {"job.py": E2E_SCRIPT, "kinds.py": E2E_MODULE})
    clone = Task.clone(recorded_id(run_script(repo / "job.py", home=localtask_home)))
    clone.update_parameters({"Training/iterations": 5000, "General/opt": "SGD"})
    Task.enqueue(clone)
    from helpers_worker import run_burst_worker

    run_burst_worker(localtask_home)
    row = Store.open(localtask_home).get_task(clone.id)
    assert row["status"] == "failed"
    assert "iterations must be in range [1, 1000]" in row["status_reason"]




def test_the_web_page_can_show_the_new_types(localtask_home):
    from localtask import ui

    task = Task.init(project_name="proj", task_name="ui-types")
    task.connect({"day": datetime.date(2024, 1, 1), "tags": {"a"}, "out": Path("/o"), "color": Color.RED})
    task.close()
    rows = Store.open(localtask_home).get_parameters(task.id)
    body = json.loads(ui._json(ui.parameter_rows(rows)).body)
    assert {r["name"]: r["value"] for r in body} == {"day": "2024-01-01", "tags": ["a"], "out": "/o",
                                                     "color": "RED"}


def test_plain_is_the_json_view_for_display():
    views = {key: P.plain(*P.encode(value)) for key, value in VALUES.items()}
    json.dumps(views)
    assert views["tags"] == ["a", "b", "c"] and views["color"] == "GREEN" and views["day"] == "2023-12-31"
    assert P.plain(*P.encode(1.0)) == 1.0 and type(P.plain("2", "float")) is float
