"""Typed parameters: encoding, coercion of edits, and the Task calls that read and write them."""
from __future__ import annotations

import argparse
import json
import math

import pytest

from localtask import IllegalTransitionError, ParameterError, Task
from localtask import params as P

from conftest import run_python, run_script, task_id_of, write_script

# value, expected type name; every one must come back with the same type and value.
ROUND_TRIP = [
    (0, "int"), (-7, "int"), (2**62 + 1, "int"), (10**30, "int"),
    (0.1, "float"), (2.0, "float"), (-0.0, "float"), (1e-300, "float"), (1.7976931348623157e308, "float"),
    (True, "bool"), (False, "bool"),
    (None, "none"),
    ("", "str"), ("plain", "str"), ("123", "str"), ("true", "str"), ("null", "str"), ("1.5", "str"),
    ("[1, 2]", "str"), ("héllo ✓ 日本語 🚀", "str"), ("line\nbreak\ttab \"quoted\"", "str"),
    ([], "list"), ([1, "a", None, 2.5, [True]], "list"),
    ({}, "dict"), ({"a": {"b": [1, 2]}, "ü": None, "x": 1.0}, "dict"),
]
SPECIAL_FLOATS = [math.nan, math.inf, -math.inf]


def same(a, b) -> bool:
    """Equal values of exactly the same types, recursively (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def draft(name: str = "base", params: dict | None = None) -> Task:
    """A draft (status created) made by recording a run and cloning it."""
    source = Task.init(project_name="proj", task_name=name)
    if params:
        source.connect(params)
    source.close()
    return Task.clone(source, name=name + "-draft")


# ------------------------------------------------------------------ the params module
@pytest.mark.parametrize("value, kind", ROUND_TRIP + [(v, "float") for v in SPECIAL_FLOATS])
def test_encode_decode_round_trip(value, kind):
    text, got_kind = P.encode(value)
    assert got_kind == kind
    assert same(P.decode(text, got_kind), value)


def test_tuples_and_sets_keep_their_type_as_sorted_json_lists():
    assert P.encode((1, 2)) == ("[1, 2]", "tuple")
    assert P.encode({3, 1, 2}) == ("[1, 2, 3]", "set")
    assert P.encode({"t": (1, 2)}) == ('{"t": [1, 2]}', "dict")  # nested: JSON, as before


@pytest.mark.parametrize("kind, text, expected", [
    ("int", "7", 7), ("int", " -3 ", -3),
    ("float", "0.5", 0.5), ("float", "3", 3.0), ("float", "nan", math.nan), ("float", "-inf", -math.inf),
    ("bool", "true", True), ("bool", "False", False), ("bool", "1", True), ("bool", "no", False),
    ("str", "123", "123"), ("str", "", ""),
    ("list", '["a", 1]', ["a", 1]), ("dict", '{"k": [1]}', {"k": [1]}),
    ("none", "null", None), ("none", "5", 5), ("none", "word", "word"),
])
def test_coerce_parses_strings_as_the_stored_type(kind, text, expected):
    encoded, new_kind = P.coerce(text, kind, "General/x")
    assert same(P.decode(encoded, new_kind), expected)


@pytest.mark.parametrize("kind, value", [
    ("int", "abc"), ("int", "1.5"), ("int", 1.5), ("int", [1]), ("float", "fast"), ("float", True),
    ("bool", "maybe"), ("bool", 2), ("list", '{"a": 1}'), ("list", "not json"), ("dict", "[1]"),
    ("str", 5), ("dict", 3.0),
])
def test_coerce_refuses_the_wrong_type(kind, value):
    with pytest.raises(ParameterError) as info:
        P.coerce(value, kind, "General/x")
    assert "General/x" in str(info.value)
    assert f"of type {kind}" in str(info.value)


def test_coerce_accepts_int_for_float_and_anything_for_new_or_none():
    assert P.coerce(3, "float", "x") == ("3.0", "float")
    assert P.coerce([1], None, "x") == ("[1]", "list")
    assert P.coerce(None, "int", "x") == ("null", "none")
    assert P.coerce(2.5, "none", "x") == ("2.5", "float")


@pytest.mark.parametrize("full, expected", [
    ("Args/lr", ("Args", "lr")), ("lr", ("General", "lr")), ("A/b/c", ("A", "b/c")),
    ("Sécti on/ünï", ("Sécti on", "ünï")),
])
def test_split_name(full, expected):
    assert P.split_name(full) == expected


@pytest.mark.parametrize("full", ["/lr", "Args/", " Args/lr", "Args/lr ", "Args/l\x00r", "A/" + "x" * 256, 5])
def test_bad_names_are_refused(full):
    with pytest.raises(ParameterError):
        P.split_name(full)


# ------------------------------------------------------------------ through a task and the store
def test_parameter_types_round_trip_through_the_store(localtask_home):
    values = {f"p{i}": v for i, (v, _) in enumerate(ROUND_TRIP)}
    values.update({"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "tuple": (1, "a")})
    task = Task.init(project_name="proj", task_name="types")
    task.connect(values, name="Typed")
    task.close()
    fresh = Task.get_task(task.id)  # a new object: everything comes from the database
    stored = fresh.get_parameters_as_dict()["Typed"]
    assert stored.keys() == values.keys()
    for key, value in values.items():
        assert same(stored[key], value), (key, stored[key], value)
    kinds = {r["name"]: r["type"] for r in task._store.get_parameters(task.id)}
    assert kinds["p4"] == "float" and kinds["p11"] == "none" and kinds["nan"] == "float"
    # And the same from another process.
    proc = run_python("-c", (
        "import sys, json; from localtask import Task; "
        "t = Task.get_task(sys.argv[1]); "
        "print(json.dumps({k: [type(v).__name__, repr(v)] for k, v in t.get_parameters().items()}))"),
        task.id, home=localtask_home)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["Typed/p4"] == ["float", "0.1"]
    assert seen["Typed/p5"] == ["float", "2.0"]
    assert seen["Typed/p0"] == ["int", "0"]
    assert seen["Typed/p14"] == ["str", "'123'"]
    assert seen["Typed/nan"] == ["float", "nan"]
    assert seen["Typed/ninf"] == ["float", "-inf"]
    assert seen["Typed/p11"] == ["NoneType", "None"]


def test_set_parameter_parses_strings_as_the_stored_type(localtask_home):
    task = draft(params={"lr": 0.1, "epochs": 3, "flag": False, "layers": [1], "name": "x",
                         "opt": None})
    task.set_parameter("General/lr", "0.5")
    task.set_parameter("General/epochs", "7")
    task.set_parameter("General/flag", "true")
    task.set_parameter("General/layers", "[64, 32]")
    task.set_parameter("General/name", "123")
    task.set_parameter("General/opt", "3")
    task.set_parameter("General/lr_int", 2)
    task.set_parameter("General/ratio", 1)  # new parameter: keeps the given type
    task.set_parameter("lr", 4)  # no section: General; an int for a float stays a float
    got = Task.get_task(task.id).get_parameters()
    assert same(got["General/lr"], 4.0)
    assert same(got["General/epochs"], 7)
    assert same(got["General/flag"], True)
    assert same(got["General/layers"], [64, 32])
    assert same(got["General/name"], "123")
    assert same(got["General/opt"], 3)
    assert same(got["General/ratio"], 1)


@pytest.mark.parametrize("name, value", [
    ("General/epochs", "three"), ("General/epochs", 2.5), ("General/flag", "perhaps"),
    ("General/layers", "{}"), ("General/lr", "fast"),
])
def test_wrong_type_raises_and_changes_nothing(localtask_home, name, value):
    task = draft(params={"lr": 0.1, "epochs": 3, "flag": False, "layers": [1]})
    before = task.get_parameters()
    with pytest.raises(ParameterError) as info:
        task.set_parameter(name, value)
    assert name in str(info.value)
    assert task.get_parameters() == before


def test_set_parameters_with_one_bad_value_changes_nothing(localtask_home):
    task = draft(params={"lr": 0.1, "epochs": 3})
    with pytest.raises(ParameterError):
        task.update_parameters({"General/lr": 0.9, "General/epochs": "many"})
    with pytest.raises(ParameterError):
        task.set_parameters({"General/lr": 0.9, "General/epochs": "many"})
    assert task.get_parameters() == {"General/lr": 0.1, "General/epochs": 3}


def test_set_parameters_replaces_all_and_update_parameters_merges(localtask_home):
    task = draft(params={"a": 1, "b": 2})
    task.update_parameters({"Args/x": "y"})
    assert task.get_parameters() == {"General/a": 1, "General/b": 2, "Args/x": "y"}
    task.update_parameters({"General/b": "20"}, **{"Extra/new": [1]})
    assert task.get_parameters() == {"General/a": 1, "General/b": 20, "Args/x": "y", "Extra/new": [1]}
    task.set_parameters({"General/a": 5, "Other/z": None})
    assert task.get_parameters() == {"General/a": 5, "Other/z": None}
    task.delete_parameter("Other/z")
    assert task.get_parameters() == {"General/a": 5}


def test_parameter_description_is_kept(localtask_home):
    task = draft(params={"lr": 0.1})
    task.set_parameter("General/lr", 0.2, description="learning rate")
    task.set_parameter("General/lr", 0.3)  # no description given: the old one stays
    rows = {r["name"]: r for r in task._store.get_parameters(task.id)}
    assert rows["lr"]["description"] == "learning rate"
    assert rows["lr"]["value"] == "0.3"


EDIT_FROM_OTHER_PROCESS = """
import sys
from localtask import LocaltaskError, Task

task = Task.get_task(sys.argv[1])
try:
    task.set_parameter("General/lr", 0.5)
except LocaltaskError as exc:
    print(type(exc).__name__ + ": " + str(exc))
    sys.exit(7)
print("edited")
"""


def test_editing_a_non_draft_from_another_process_is_refused(localtask_home, tmp_path):
    editor = write_script(tmp_path / "edit.py", EDIT_FROM_OTHER_PROCESS)
    running = Task.init(project_name="proj", task_name="running")
    running.connect({"lr": 0.1})
    proc = run_script(editor, running.id, home=localtask_home)
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert (f"IllegalTransitionError: Cannot edit task {running.id}: it is in_progress "
            "(allowed from: created)") in proc.stdout
    running.connect({"lr": 0.2})  # the process that runs the task may still write
    assert running.get_parameters() == {"General/lr": 0.2}
    running.close()

    proc = run_script(editor, running.id, home=localtask_home)
    assert proc.returncode == 7
    assert f"Cannot edit task {running.id}: it is completed" in proc.stdout
    with pytest.raises(IllegalTransitionError):
        Task.get_task(running.id).set_parameter("General/lr", 0.5)
    with pytest.raises(IllegalTransitionError):
        Task.get_task(running.id).set_configuration_object("cfg", "text")
    assert Task.get_task(running.id).get_parameters() == {"General/lr": 0.2}

    clone = Task.clone(running)
    proc = run_script(editor, clone.id, home=localtask_home)
    assert proc.returncode == 0 and "edited" in proc.stdout
    assert clone.get_parameters() == {"General/lr": 0.5}


def test_connect_returns_a_mapping_that_writes_through(localtask_home):
    task = Task.init(project_name="proj", task_name="connect")
    original = {"lr": 0.1, "layers": [1, 2]}
    cfg = task.connect(original)
    assert cfg == {"lr": 0.1, "layers": [1, 2]}
    cfg["lr"] = 0.01
    cfg["new"] = "added"
    cfg.update(batch=32)
    cfg.setdefault("seed", 7)
    del cfg["layers"]
    expected = {"General/lr": 0.01, "General/new": "added", "General/batch": 32, "General/seed": 7}
    assert Task.get_task(task.id).get_parameters() == expected
    assert original == {"lr": 0.01, "new": "added", "batch": 32, "seed": 7}
    task.close()


def test_connect_namespace_and_object(localtask_home):
    task = Task.init(project_name="proj", task_name="objects")

    class Config:
        def __init__(self):
            self.depth = 4
            self.rate = 0.5
            self._private = "hidden"

        def method(self):
            return 1

    cfg = task.connect(Config(), name="Model")
    ns = task.connect(argparse.Namespace(seed=1, mode="fast"))
    assert cfg.depth == 4 and ns.mode == "fast"
    params = task.get_parameters()
    assert params == {"Model/depth": 4, "Model/rate": 0.5, "Args/seed": 1, "Args/mode": "fast"}
    with pytest.raises(ParameterError):
        task.connect(42)
    task.close()


ARGPARSE_SCRIPT = """
import argparse
from localtask import Task

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1, help="learning rate")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--flag", action="store_true")
parser.add_argument("--name", default="model")
parser.add_argument("--layers", type=int, nargs="+", default=[8])
parser.add_argument("--optional", default=None)
{order}
print("TASK_ID=" + task.id)
print("lr", args.lr, "layers", args.layers)
"""
BEFORE = 'args = parser.parse_args()\ntask = Task.init(project_name="proj", task_name="args")'
AFTER = 'task = Task.init(project_name="proj", task_name="args")\nargs = parser.parse_args()'


@pytest.mark.parametrize("order", [BEFORE, AFTER], ids=["parse-before-init", "parse-after-init"])
def test_argparse_arguments_are_captured_with_types(localtask_home, tmp_path, order):
    script = write_script(tmp_path / "train.py", ARGPARSE_SCRIPT.format(order=order))
    proc = run_script(script, "--lr", "0.5", "--layers", "64", "32", "--flag", home=localtask_home)
    task = Task.get_task(task_id_of(proc))
    assert "lr 0.5 layers [64, 32]" in proc.stdout
    params = task.get_parameters()
    assert {k: v for k, v in params.items() if k.startswith("Args/")} == params
    assert same(params["Args/lr"], 0.5)
    assert same(params["Args/epochs"], 3)
    assert same(params["Args/flag"], True)
    assert same(params["Args/name"], "model")
    assert same(params["Args/layers"], [64, 32])
    assert same(params["Args/optional"], None)
    assert len(params) == 6
    helps = {r["name"]: r["description"] for r in task._store.get_parameters(task.id)}
    assert helps["lr"] == "learning rate"


def test_argparse_capture_can_be_turned_off(localtask_home, tmp_path):
    script = write_script(tmp_path / "train.py", """
        import argparse
        from localtask import Task
        task = Task.init(project_name="proj", task_name="noargs", auto_connect_arg_parser=False)
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        parser.parse_args()
        print("TASK_ID=" + task.id)
    """)
    task = Task.get_task(task_id_of(run_script(script, home=localtask_home)))
    assert task.get_parameters() == {}


def test_connect_configuration_dict_and_file(localtask_home, tmp_path):
    task = Task.init(project_name="proj", task_name="configs")
    config = {"model": {"depth": 4, "act": "relu"}, "lrs": [0.1, 0.01], "ü": None}
    returned = task.connect_configuration(config, name="model config", description="the model")
    assert returned is config
    yaml_text = "model:\n  depth: 4  # ünïcode comment\n  act: relu\n"
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    returned_path = task.connect_configuration(path, name="yaml")
    assert returned_path == path
    task.connect_configuration(str(path))  # default name: General
    task.close()
    fresh = Task.get_task(task.id)
    assert fresh.get_configuration_object_as_dict("model config") == config
    assert fresh.get_configuration_object("yaml") == yaml_text
    assert fresh.get_configuration_object_as_dict("yaml") is None
    assert fresh.get_configuration_objects() == {
        "General": yaml_text, "model config": json.dumps(config, ensure_ascii=False), "yaml": yaml_text}
    with pytest.raises(ParameterError, match="Cannot read configuration file"):
        Task.clone(fresh).connect_configuration(tmp_path / "missing.yaml", name="x")
