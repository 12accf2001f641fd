"""Bad input, property-based (issue 5, items 5 and 6), and the security promises.

Hypothesis feeds arbitrary task ids, names, project names, queue names, parameter names and
values (unicode, lone surrogates, NUL, huge, deeply nested, NaN, infinities), artifact names
(``../``, absolute, NUL, empty, ``.``/``..``, too long) and ``--set`` strings to the public API
and to the CLI. The contract: the input is accepted and reads back equal, or a clear
LocaltaskError is raised (CLI: ``Error: ...`` on stderr, exit 1; click's own usage errors exit 2),
never another exception or a traceback, and nothing is written outside the store.

Each test opens one real store (in a sentinel folder that also holds the working directory)
and reuses it for all its examples; every example makes its own draft task in it.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from localtask import Store, Task, TaskStatus
from localtask.cli import cli
from localtask.exceptions import (
    ArtifactError,
    LocaltaskError,
    ParameterError,
    QueueError,
    RunError,
    StoreError,
    TaskNotFoundError,
)
from localtask.runner import check_diff_paths
from localtask.store import DB_NAME, SCHEMA_VERSION
from localtask.task import new_id

from helpers_robust import check_store_consistent, sha256_file, temp_files, tree_listing
from helpers_worker import LOCALTASK_CLI, git, make_repo, recorded_id, run_burst_worker, write

#: more examples for a longer hunt: LOCALTASK_HYPOTHESIS_SCALE=10 python -m pytest tests/test_bad_input.py
SCALE = float(os.environ.get("LOCALTASK_HYPOTHESIS_SCALE", "1"))


def examples(n: int):
    """Hypothesis settings for ``n`` examples. One store per test is shared by its examples (the
    function-scoped fixtures are meant to be shared: a store per example would dominate the time)."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


# --------------------------------------------------------------------------- strategies
SPECIAL = st.sampled_from(["\x00", "/", "\\", ".", " ", "\n", "\t", "=", "'", '"', "%", "é", "😀",
                           "\u202e", "\ufeff", "\udcff", "\ud800", "\udfff"])
#: any code point, lone surrogates (what undecodable bytes become) often, separators often.
CHARS = st.one_of(st.characters(), st.characters(categories=["Cs"]), SPECIAL)
TEXT = st.text(CHARS, max_size=30)
NASTY = st.sampled_from([
    "", ".", "..", "../x", "../../etc/passwd", "/etc/passwd", "a/../../b", "a\x00b", "\x00", " ",
    "  padded  ", "~", "$HOME", "%s%n", "'; DROP TABLE tasks; --", "a" * 255, "a" * 256, "a" * 1001,
    "x" * 300_000, "é" * 70_000, "😀" * 300, "[" * 50_000 + "]" * 50_000, "\udcff" * 3,
])
ANY_TEXT = st.one_of(TEXT, NASTY)
#: ints SQLite cannot hold, and ints too long for str() (built lazily: their repr fails)
HUGE_INTS = st.one_of(st.sampled_from([2**63, -(2**63) - 1, 2**63 - 1, 10**30]),
                      st.builds(pow, st.sampled_from([10, -10]), st.just(5001)))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), HUGE_INTS,
                    st.floats(allow_nan=True, allow_infinity=True), ANY_TEXT)
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3)
                      | st.dictionaries(TEXT, kids, max_size=3), max_leaves=12)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


DEEP = st.integers(1, 5000).map(nested)


def depth(value: object) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
        elif isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
    return deepest


# --------------------------------------------------------------------------- oracles
def is_unicode(text: str) -> bool:
    return not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def valid_param_name(full: object) -> bool:
    """The documented rule: ``Section/name`` (no section: General), each part 1-255 characters of
    valid Unicode, no NUL, no leading or trailing space."""
    if not isinstance(full, str):
        return False
    section, sep, name = full.partition("/")
    if not sep:
        section, name = "General", full
    return all(0 < len(p) <= 255 and "\x00" not in p and p.strip() == p and is_unicode(p)
               for p in (section, name))


def full_param_name(full: str) -> str:
    return full if "/" in full else f"General/{full}"


def storable(value: object) -> bool:
    """Whether a parameter value can be kept: no lone surrogate anywhere, no int too long to
    write as text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return False
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            try:
                str(item)
            except ValueError:
                return False
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return True


def same(a: object, b: object) -> bool:
    """Equal values of the same types (bool is not int, int is not float); NaN equals NaN; dict
    keys in the same order. Iterative: accepted values may nest deeper than Python recurses."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if not ((math.isnan(x) and math.isnan(y)) or x == y):
                return False
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif x != y:
            return False
    return True


def valid_text(value: object, max_len: int = 1000) -> bool:
    return (isinstance(value, str) and bool(value.strip()) and "\x00" not in value
            and len(value) <= max_len and is_unicode(value))


QUEUE_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,99}")  # as docs and messages state it


# --------------------------------------------------------------------------- the sentinel store
@pytest.fixture
def box(tmp_path, monkeypatch):
    """``root/store`` (a real store), ``root/cwd`` (the working directory, holding payload
    files) and a neighbour file in ``root``: whatever happens, ``root`` outside the store must
    stay as it was."""
    root = tmp_path / "sentinel"
    cwd = root / "cwd"
    (cwd / "folder" / "sub").mkdir(parents=True)
    (cwd / "empty").mkdir()
    (cwd / "payload.txt").write_text("payload file\n")
    (cwd / "folder" / "sub" / "inner.txt").write_text("inner\n")
    (root / "neighbour.txt").write_text("must stay as it is\n")
    monkeypatch.chdir(cwd)
    home = root / "store"
    store = Store.open(home)
    source = draft(store, name="run", project="proj")
    ns = SimpleNamespace(root=root, cwd=cwd, home=home, store=store, source=source)
    ns.outside = lambda: tree_listing(root, skip=(home,))
    ns.before = ns.outside()
    yield ns
    assert ns.outside() == ns.before, "something was written outside the store"
    assert temp_files(home) == []
    check_store_consistent(home)


def draft(store: Store, name: str = "draft", project: str = "proj", **fields) -> Task:
    task_id = new_id()
    store.insert_task({"id": task_id, "project": project, "name": name, "status": "created", **fields})
    return Task.get_task(task_id, home=store.home)


# --------------------------------------------------------------------------- API: lookups
@examples(150)
@given(task_id=st.one_of(ANY_TEXT, st.integers(), st.floats(), st.binary(max_size=40),
                         st.sampled_from(["0", "0123", "0123456789ABCDEF", " 0123 ", "fedc", "f" * 33])))
def test_get_task_with_any_id_finds_the_one_task_or_raises_not_found(box, task_id):
    ids = [box.source.id]
    key = str(task_id).strip().lower()
    matches = [i for i in ids if re.fullmatch("[0-9a-f]{1,32}", key) and i.startswith(key)]
    try:
        task = Task.get_task(task_id=task_id, home=box.home)
    except TaskNotFoundError as exc:
        assert str(exc)
        assert not (task_id and matches)
    else:
        assert task_id and matches == [task.id]


@examples(120)
@given(project=st.one_of(st.none(), st.just("proj"), ANY_TEXT),
       name=st.one_of(st.none(), st.just("run"), ANY_TEXT),
       tags=st.one_of(st.none(), st.lists(ANY_TEXT, max_size=2)),
       status=st.one_of(st.none(), st.sampled_from([s.value for s in TaskStatus]), ANY_TEXT))
def test_lookups_by_name_project_tag_status_match_or_raise_localtask_errors(box, project, name, tags,
                                                                            status):
    texts = [t for t in (project, name, *(tags or [])) if isinstance(t, str)]
    # the one task is run/proj; a missing name or project matches any, both missing is an error
    should_find = bool(name or project) and name in ("run", None) and project in ("proj", None)
    try:
        found = Task.get_task(project_name=project, task_name=name, home=box.home)
    except TaskNotFoundError:
        assert not should_find
    except StoreError as exc:  # a lone surrogate cannot even be looked up in SQLite
        assert not all(is_unicode(t) for t in (project, name) if t), exc
    else:
        assert should_find and found.id == box.source.id
    try:
        tasks = Task.get_tasks(project_name=project, task_name=name, tags=tags, status=status,
                               home=box.home)
    except LocaltaskError as exc:
        bad_status = isinstance(status, str) and status not in [s.value for s in TaskStatus]
        assert bad_status or not all(is_unicode(t) for t in texts if t), exc
    else:
        for task in tasks:
            assert project is None or task.project == project
            assert not name or name.lower() in task.name.lower()


# --------------------------------------------------------------------------- API: parameters
@examples(200)
@given(params=st.dictionaries(st.one_of(ANY_TEXT, st.builds("{}/{}".format, TEXT, TEXT)),
                              st.one_of(VALUES, DEEP), max_size=3))
def test_set_parameters_round_trip_or_parameter_error(box, params):
    task = draft(box.store)
    task.set_parameters({"General/kept": 1})
    names_ok = all(valid_param_name(n) for n in params)
    deep = any(depth(v) > 200 for v in params.values())  # beyond this, refusing is fine too
    try:
        task.set_parameters(params)
    except ParameterError as exc:
        assert str(exc).startswith(("Invalid parameter", "Parameter "))
        assert not names_ok or not all(storable(v) for v in params.values()) or deep
        assert task.get_parameters() == {"General/kept": 1}  # refused as a whole
        return
    assert names_ok and all(storable(v) for v in params.values())
    expected = {}
    for full, value in params.items():
        expected[full_param_name(full)] = value
    got = task.get_parameters()
    assert sorted(got) == sorted(expected)
    for full, value in expected.items():
        assert same(got[full], value), (full, got[full], value)


@examples(150)
@given(section=st.one_of(st.none(), ANY_TEXT), values=st.dictionaries(ANY_TEXT, VALUES, min_size=1, max_size=3))
def test_connect_round_trip_or_parameter_error(box, section, values):
    task = draft(box.store)
    original = dict(values)
    section_ok = not section or (valid_param_name(f"{section}/x") and "/" not in section)  # none: General
    ok = section_ok and all(valid_param_name(f"S/{k}") for k in values) and all(
        storable(v) for v in values.values())
    try:
        connected = task.connect(values, name=section)
    except ParameterError:
        assert not ok
        assert task.get_parameters() == {}
        return
    assert ok
    stored = task.get_parameters_as_dict()[section or "General"]
    assert sorted(stored) == sorted(original)  # read back sorted by name
    assert all(same(stored[k], original[k]) for k in original)
    assert all(same(connected[k], original[k]) for k in original)


def parsed(kind: str, text: str):
    """What a string given for a parameter of type ``kind`` must become, or ParameterError."""
    if not is_unicode(text):
        return ParameterError
    try:
        if kind == "int":
            return int(text.strip())
        if kind == "float":
            return float(text.strip())
        if kind == "bool":
            low = text.strip().lower()
            if low in ("true", "1", "yes", "on", "y", "t"):
                return True
            if low in ("false", "0", "no", "off", "n", "f"):
                return False
            return ParameterError
        if kind in ("list", "dict"):
            value = json.loads(text)
            return value if type(value).__name__ == kind else ParameterError
        return text
    except (ValueError, RecursionError):
        return ParameterError


@examples(200)
@given(kind=st.sampled_from([("int", 3), ("float", 0.5), ("bool", True), ("list", [1]),
                             ("dict", {"a": 1}), ("str", "x")]),
       text=st.one_of(ANY_TEXT, st.integers().map(str), st.floats().map(str),
                      st.sampled_from(["nan", "-inf", "1e999", " 7 ", "1_000", "true", "No", "[1, [2]]",
                                       '{"a": NaN}', "null", "0x10", "١٢", "[" * 5000])))
def test_a_string_for_a_typed_parameter_is_parsed_as_its_type_or_refused(box, kind, text):
    kind, start = kind
    task = draft(box.store)
    task.set_parameter("General/p", start)
    expected = parsed(kind, text)
    try:
        task.set_parameter("General/p", text)
    except ParameterError:
        assert expected is ParameterError
        assert same(task.get_parameters()["General/p"], start)
        return
    assert expected is not ParameterError
    row = [r for r in box.store.get_parameters(task.id) if r["name"] == "p"][0]
    assert row["type"] == kind
    assert same(task.get_parameters()["General/p"], expected)


@examples(30)
@given(depth=st.integers(100, 20_000))
def test_deep_values_for_existing_parameters_are_refused_or_kept(box, depth):
    task = draft(box.store)
    task.set_parameters({"General/d": {"a": 1}, "General/l": [1]})
    for full, value in (("General/d", {"x": nested(depth)}), ("General/l", nested(depth))):
        try:
            task.set_parameter(full, value)
        except ParameterError as exc:
            assert "nested too deeply" in str(exc)
        else:
            assert same(task.get_parameters()[full], value)
    with pytest.raises(ParameterError, match="cannot be read as a list"):
        task.set_parameter("General/l", "[" * 50_000 + "]" * 50_000)


# --------------------------------------------------------------------------- API: queues
@examples(150)
@given(queue=st.one_of(ANY_TEXT, st.from_regex(QUEUE_RULE, fullmatch=True)),
       priority=st.one_of(st.integers(-5, 5), st.integers(), HUGE_INTS))
def test_enqueue_any_queue_name_and_priority(box, queue, priority):
    task = draft(box.store)
    valid = bool(QUEUE_RULE.fullmatch(queue)) and -(2**63) <= priority < 2**63
    try:
        Task.enqueue(task, queue_name=queue, priority=priority, home=box.home)
    except QueueError as exc:
        assert not valid, exc
        assert task.status == "created"
        assert [e for e in box.store.queue_entries() if e["task_id"] == task.id] == []
        return
    assert valid
    assert task.status == "queued"
    assert [(e["queue"], e["priority"]) for e in box.store.queue_entries() if e["task_id"] == task.id] == [
        (queue, priority)]
    Task.dequeue(task, home=box.home)
    assert task.status == "created"


# --------------------------------------------------------------------------- API: names
@examples(150)
@given(name=st.one_of(st.none(), ANY_TEXT), project=st.one_of(st.none(), ANY_TEXT),
       comment=st.one_of(st.none(), ANY_TEXT))
def test_clone_with_any_name_project_and_comment_round_trips_or_is_refused(box, name, project, comment):
    before = box.store.count_tasks()
    ok = ((name is None or valid_text(name)) and (project is None or valid_text(project))
          and (comment is None or is_unicode(comment)))
    try:
        clone = Task.clone(box.source, name=name, project=project, comment=comment, home=box.home)
    except LocaltaskError as exc:
        assert not ok, exc
        assert box.store.count_tasks() == before
        return
    assert ok
    assert clone.name == (name if name is not None else "Clone of run")
    assert clone.project == (project if project is not None else "proj")
    if comment is not None:
        assert clone.comment == comment
    found = Task.get_task(project_name=clone.project, task_name=clone.name, home=box.home)
    assert found.id == clone.id
    assert [t.id for t in Task.get_tasks(project_name=clone.project, home=box.home)][0] == clone.id


@examples(100)
@given(name=ANY_TEXT)
def test_set_name_round_trips_or_is_refused(box, name):
    task = draft(box.store, name="before")
    try:
        task.set_name(name)
    except LocaltaskError as exc:
        assert not valid_text(name), exc
        assert task.name == "before"
    else:
        assert valid_text(name) and task.name == name


# --------------------------------------------------------------------------- API: artifacts
ARTIFACT_NAMES = st.one_of(
    ANY_TEXT,
    st.sampled_from(["../evil", "../../evil", "a/../../evil", "/abs/evil", "/etc/passwd", "a\x00b", "",
                     ".", "..", ".hidden", "x" * 200, "x" * 201, "é" * 200, "ok-name", "metrics.json",
                     "é" * 115 + "x", "😀" * 62,  # 231 and 248 bytes: the file name just fits
                     "back\\slash", "~", "con", "a b", "\udcffname"]),
    st.builds(lambda n, rest: "../" * n + rest, st.integers(1, 4), TEXT),
    st.builds(lambda rest: str(Path("/tmp") / rest), TEXT),
)


def valid_artifact(name: object, payload: str) -> bool:
    if not (isinstance(name, str) and 0 < len(name) <= 200 and is_unicode(name)):
        return False
    if any(c in name for c in "/\\\x00") or name.startswith("."):
        return False
    suffix = {"dict": ".json", "text": ".txt", "file": ".txt", "folder": ".zip", "empty folder": ".zip",
              "object": ".pkl"}[payload]
    filename = name if payload == "file" and name.endswith(".txt") else name + suffix
    return len(filename.encode()) <= 255  # a longer file name is an OSError: ArtifactError too


@examples(200)
@given(name=ARTIFACT_NAMES, payload=st.sampled_from(["dict", "text", "file", "folder", "empty folder",
                                                     "object"]))
def test_artifact_names_land_inside_the_task_folder_or_are_refused(box, name, payload):
    task = draft(box.store)
    obj = {"dict": {"a": [1, 2]}, "text": "some text payload", "file": box.cwd / "payload.txt",
           "folder": box.cwd / "folder", "empty folder": box.cwd / "empty", "object": {1, 2, 3}}[payload]
    outside = box.outside()
    try:
        task.upload_artifact(name, obj)
    except ArtifactError as exc:
        assert str(exc)
        assert task.artifacts == {}
        accepted = False
    else:
        accepted = True
    assert box.outside() == outside, "an artifact wrote outside the store"
    assert temp_files(box.home) == []
    assert accepted == valid_artifact(name, payload)
    folder = (box.home / "tasks" / task.id / "artifacts").resolve()
    files = [p for p in (box.home / "tasks" / task.id).rglob("*") if p.is_file()]
    if not accepted:
        assert files == []
        return
    art = task.artifacts[name]
    assert Path(art.path).resolve().parent == folder
    assert files == [Path(art.path)]
    got = art.get()
    if payload == "file":
        assert Path(got).read_text() == "payload file\n"
    elif payload in ("folder", "empty folder"):  # extracted into the store's cache
        assert Path(got).resolve().is_relative_to(box.home.resolve())
        assert Path(got).name == name
        listing = sorted(p.relative_to(got).as_posix() for p in Path(got).rglob("*"))
        assert listing == ([] if payload == "empty folder" else ["sub", "sub/inner.txt"])
        assert task.artifacts[name].get() == got  # extracted once
    else:
        assert got == obj


@pytest.mark.parametrize("name", ["é" * 115 + "x", "😀" * 62, "x" * 200])
@pytest.mark.parametrize("folder", ["folder", "empty"])
def test_a_folder_artifact_with_the_longest_name_is_extracted(box, name, folder):
    """A folder artifact is extracted under its own name: the temporary folder must not be
    named after it (a name of 231 bytes plus a suffix is too long for the filesystem), and an
    empty folder extracts to an empty folder."""
    task = draft(box.store)
    task.upload_artifact(name, box.cwd / folder)
    got = Path(task.artifacts[name].get())
    assert got.is_dir() and got.name == name and got.resolve().is_relative_to(box.home.resolve())
    assert sorted(p.name for p in got.rglob("*")) == ([] if folder == "empty" else ["inner.txt", "sub"])


# --------------------------------------------------------------------------- API: scalars
@examples(100)
@given(title=ANY_TEXT, series=TEXT,
       value=st.one_of(st.floats(), st.integers(), HUGE_INTS, st.sampled_from(["1.5", "abc", None, [1]])),
       iteration=st.one_of(st.integers(), HUGE_INTS, st.sampled_from(["3", 1.5, None, "x"])))
def test_report_scalar_keeps_or_refuses_a_point_and_never_loses_the_batch(box, title, series, value, iteration):
    task = draft(box.store)
    logger = task.get_logger()
    try:
        logger.report_scalar("good", "s", 1.0, 0)
        try:
            float(value)
            it = int(iteration)
            ok = -(2**63) <= it < 2**63 and is_unicode(str(title)) and is_unicode(str(series))
        except (TypeError, ValueError, OverflowError):
            ok = False
        try:
            logger.report_scalar(title, series, value, iteration)
        except LocaltaskError:
            assert not ok
        else:
            assert ok
        logger.flush()
        scalars = task.get_reported_scalars()
        assert scalars["good"]["s"]["y"][0] == 1.0
        if ok:
            line = scalars[str(title)][str(series)]
            assert any(x == int(iteration) and same(y, float(value)) for x, y in zip(line["x"], line["y"]))
    finally:
        logger.close()


# --------------------------------------------------------------------------- CLI
def invoke(*args) -> "Result":
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_error(result, start: str = "", code: int = 1) -> None:
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, (result.exit_code, result.stdout[-500:], result.stderr[-500:])
    if code == 1:
        assert result.stderr.startswith("Error: " + start), result.stderr[:500]
        assert result.stdout == ""
    else:  # click's usage errors: a usage line, then "Error: ..."
        assert "Error: " + start in result.stderr, result.stderr[:500]


CLI_ID_COMMANDS = [["show"], ["show", "--json"], ["clone"], ["clone", "--queue", "q"], ["reset"],
                   ["reset", "--force"], ["enqueue"], ["dequeue"], ["abort"], ["publish"], ["delete", "--yes"],
                   ["params"], ["params", "--set", "General/lr=1"], ["log"], ["log", "--json"], ["diff"]]


@examples(150)
@given(command=st.sampled_from(CLI_ID_COMMANDS), task_id=ANY_TEXT)
def test_cli_any_task_id_is_an_error_line(box, command, task_id):
    key = task_id.strip().lower()
    assume(not (re.fullmatch("[0-9a-f]{1,32}", key) and box.source.id.startswith(key)))
    name, *options = command
    before = box.store.count_tasks()
    result = invoke("--home", box.home, name, *options, "--", task_id)
    assert_error(result)
    assert box.store.count_tasks() == before


@examples(150)
@given(item=st.one_of(ANY_TEXT, st.builds("{}={}".format, ANY_TEXT, ANY_TEXT),
                      st.builds("General/epochs={}".format, st.one_of(ANY_TEXT, st.integers().map(str)))))
def test_cli_params_set_any_string(box, item):
    task = draft(box.store)
    task.set_parameters({"General/epochs": 3})
    result = invoke("--home", box.home, "params", task.id, "--new", f"--set={item}")
    name, sep, value = item.partition("=")
    name = name.strip()
    if not sep or not name:
        assert_error(result, "Invalid value for '--set'", code=2)
        return
    full = full_param_name(name)
    if full == "General/epochs":
        expected = parsed("int", value)
    else:
        expected = value if valid_param_name(name) and is_unicode(value) else ParameterError
    if expected is ParameterError:
        assert_error(result)
        assert task.get_parameters() == {"General/epochs": 3}
        return
    assert result.exit_code == 0, (result.stderr[:500], result.exception)
    # (click's Result.stdout reads "\r\n" as "\n": compare the bytes)
    assert result.stdout_bytes.startswith(f"Set {full} = ".encode("utf-8", "surrogateescape"))
    assert same(task.get_parameters()[full], expected)


@examples(150)
@given(option=st.sampled_from(["--name", "--project", "--comment", "--queue", "--parent"]), value=ANY_TEXT)
def test_cli_clone_with_any_option_value(box, option, value):
    before = box.store.count_tasks()
    result = invoke("--home", box.home, "clone", box.source.id, "--new", f"{option}={value}")
    parent = box.source.id  # the default parent (the source has none); an empty --parent is none
    if option == "--parent":
        key = value.strip().lower()
        matches = [t["id"] for t in box.store.find_tasks()
                   if re.fullmatch("[0-9a-f]{1,32}", key) and t["id"].startswith(key)]
        ok = value == "" or len(matches) == 1
        parent = matches[0] if len(matches) == 1 else parent
    elif option == "--queue":
        ok = bool(QUEUE_RULE.fullmatch(value))
    elif option == "--comment":
        ok = is_unicode(value)
    else:
        ok = valid_text(value)
    if not ok:
        assert_error(result)
        assert box.store.count_tasks() == before
        return
    assert result.exit_code == 0, (result.stderr[:500], result.exception)
    clone_id = re.search(r"Created task ([0-9a-f]{32})", result.stdout).group(1)
    row = Task.get_task(clone_id, home=box.home).data
    field = {"--name": "name", "--project": "project", "--comment": "comment", "--queue": "queue",
             "--parent": "parent"}[option]
    assert row[field] == (parent if option == "--parent" else value)
    if option == "--queue":
        Task.dequeue(clone_id, home=box.home)


@examples(100)
@given(queue=st.one_of(ANY_TEXT, st.from_regex(QUEUE_RULE, fullmatch=True)),
       priority=st.one_of(st.integers().map(str), ANY_TEXT, st.sampled_from(
           [str(2**63), str(-(2**63) - 1), str(2**63 - 1), "1" + "0" * 30, "9" * 5000])))
def test_cli_enqueue_any_queue_and_priority(box, queue, priority):
    task = draft(box.store)
    result = invoke("--home", box.home, "enqueue", task.id, f"--queue={queue}", f"--priority={priority}")
    try:
        number = int(priority)
    except ValueError:
        assert_error(result, "Invalid value for '--priority'", code=2)
        return
    if not QUEUE_RULE.fullmatch(queue) or not -(2**63) <= number < 2**63:
        assert_error(result, "Invalid queue name" if not QUEUE_RULE.fullmatch(queue) else "Invalid priority")
        assert task.status == "created"
        return
    assert result.exit_code == 0, (result.stderr[:500], result.exception)
    assert task.status == "queued"
    Task.dequeue(task, home=box.home)


@examples(100)
@given(project=st.one_of(st.none(), ANY_TEXT), name=st.one_of(st.none(), ANY_TEXT),
       tag=st.one_of(st.none(), ANY_TEXT))
def test_cli_list_filters_any_text(box, project, name, tag):
    args = [f"--{k}={v}" for k, v in (("project", project), ("name", name), ("tag", tag)) if v is not None]
    result = invoke("--home", box.home, "list", "--json", *args)
    if all(is_unicode(v) for v in (project, name, tag) if v):
        assert result.exit_code == 0, (result.stderr[:500], result.exception)
        rows = json.loads(result.stdout)
        assert all(project is None or r["project"] == project for r in rows)
    else:
        assert_error(result, "Cannot store or look up")


# --------------------------------------------------------------------------- CLI: unusable stores
def fresh_store_db(folder: Path) -> Path:
    """A store database with one task, closed (checkpointed), never opened through the
    per-process cache of Store.open: the CLI under test must open it afresh, as a new process."""
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder)
    store.insert_task({"id": new_id(), "project": "p", "name": "n", "status": "created"})
    store.close()
    assert not Path(str(folder / DB_NAME) + "-wal").exists()
    return folder / DB_NAME


STORE_COMMANDS = [["list"], ["show", "abcd"], ["queues"], ["workers"], ["clone", "abcd"],
                  ["params", "abcd", "--set", "General/x=1"], ["enqueue", "abcd"], ["log", "abcd"]]


@pytest.mark.parametrize("command", STORE_COMMANDS)
@pytest.mark.parametrize("damage", ["random bytes", "text", "truncated", "newer version", "folder"])
def test_cli_on_an_unusable_store_is_an_error_and_the_file_is_left_alone(tmp_path, damage, command):
    home = tmp_path / "home"
    db = home / DB_NAME
    if damage == "random bytes":
        home.mkdir()
        db.write_bytes(random.Random(5).randbytes(20_000))
        start = "The store database"
    elif damage == "text":
        home.mkdir()
        db.write_text("id,name\n1,not sqlite\n" * 50)
        start = "The store database"
    elif damage == "truncated":
        data = fresh_store_db(tmp_path / "good").read_bytes()
        home.mkdir()
        db.write_bytes(data[: len(data) // 3] + b"\0" * 1000)
        start = ""
    elif damage == "newer version":
        fresh_store_db(home)
        conn = sqlite3.connect(db)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()
        start = f"The store {home} was written by a newer localtask"
    else:
        db.mkdir(parents=True)
        start = ""
    digest = sha256_file(db) if db.is_file() else None
    result = invoke("--home", home, *command)
    assert_error(result, start)
    assert result.exit_code == 1
    if digest is not None:
        assert sha256_file(db) == digest
    for suffix in ("-wal", "-journal"):
        leftover = Path(str(db) + suffix)
        assert not leftover.exists() or leftover.stat().st_size == 0


@examples(40)
@given(data=st.binary(min_size=1, max_size=4096))
def test_cli_on_any_bytes_as_database_never_tracebacks_nor_modifies_them(tmp_path, data):
    home = tmp_path / "bytes-home"
    home.mkdir(exist_ok=True)
    db = home / DB_NAME
    for extra in home.glob(DB_NAME + "-*"):
        extra.unlink()
    db.write_bytes(data)
    result = invoke("--home", home, "list")
    assert "Traceback" not in result.stdout + result.stderr
    assert isinstance(result.exception, SystemExit) or result.exception is None, result.exception
    assert result.exit_code in (0, 1)
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: ")
        assert db.read_bytes() == data


def test_cli_home_pointing_at_a_file(tmp_path):
    target = tmp_path / "a-file"
    target.write_bytes(b"precious")
    # at the file itself: click's usage error (exit 2); below it: the store's own error (exit 1)
    assert_error(invoke("--home", target, "list"), "Invalid value for '--home'", code=2)
    assert_error(invoke("--home", target / "store", "list"), "Cannot create the store folder")
    assert target.read_bytes() == b"precious"


# --------------------------------------------------------------------------- the real entry point
def test_the_console_script_prints_error_lines_for_bad_input(tmp_path):
    """The installed ``localtask`` command, with arguments as raw bytes (undecodable ones too):
    ``Error: ...``, exit 1, no traceback."""
    home = tmp_path / "home"
    store = Store.open(home)
    task = draft(store)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / DB_NAME).write_bytes(random.Random(7).randbytes(8192))
    before = sha256_file(corrupt / DB_NAME)
    newer = tmp_path / "newer"
    fresh_store_db(newer)
    conn = sqlite3.connect(newer / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    conn.close()
    cases = [
        ([b"show", b"zz"], b"Error: 'zz' is not a task id"),
        ([b"clone", task.id.encode(), b"--name=\xff\xfe"], b"Error: Invalid task name"),
        ([b"params", task.id.encode(), b"--new", b"--set", b"General/x=caf\xe9"],
         b"Error: Parameter General/x holds text that is not valid Unicode"),
        ([b"params", task.id.encode(), b"--new", b"--set", b"\xff=1"], b"Error: Invalid parameter name"),
        ([b"list", b"--project=\xff"], b"Error: Cannot store or look up"),
        ([b"enqueue", task.id.encode(), b"--priority", b"99999999999999999999"], b"Error: Invalid priority"),
        ([b"enqueue", task.id.encode(), b"--queue", b"../../etc"], b"Error: Invalid queue name"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "LOCALTASK_HOME"}
    for args, start in cases:
        proc = subprocess.run([*LOCALTASK_CLI, b"--home", bytes(home), *args], env=env,
                              capture_output=True, timeout=60)
        assert (proc.returncode, proc.stdout) == (1, b""), (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(start), (args, proc.stderr)
        assert b"Traceback" not in proc.stderr
    for folder, start in ((corrupt, b"Error: The store database"), (newer, b"Error: The store ")):
        proc = subprocess.run([*LOCALTASK_CLI, "--home", str(folder), "list"], env=env,
                              capture_output=True, timeout=60)
        assert proc.returncode == 1 and proc.stderr.startswith(start), proc.stderr
        assert b"Traceback" not in proc.stderr
    assert sha256_file(corrupt / DB_NAME) == before
    assert task.status == "created" and task.get_parameters() == {}
    assert store.count_tasks() == 1


# --------------------------------------------------------------------------- recorded diffs
SEGMENT = st.text(st.characters(categories=["L", "N"], codec="utf-8") | st.sampled_from("-_. "),
                  min_size=1, max_size=8).filter(lambda s: s not in (".", "..") and s.strip() == s)


def new_file_diff(old: str, new: str, body: str = "+pwned\n") -> bytes:
    return (f"diff --git a/{old} b/{new}\nnew file mode 100644\nindex 0000000..e69de29\n"
            f"--- /dev/null\n+++ b/{new}\n@@ -0,0 +1,{body.count(chr(10))} @@\n{body}").encode()


def quoted(path: str) -> str:
    """``path`` as git quotes it, every character an octal escape (so ``..`` is ``\\056\\056``)."""
    return '"' + "".join(f"\\{b:03o}" for b in path.encode()) + '"'


@examples(200)
@given(parts=st.lists(SEGMENT, min_size=1, max_size=4),
       content=st.lists(st.sampled_from(["+++ b/../evil", "++++ b//etc/passwd", "+rename to ../x", "+x",
                                         "+diff --git a/../x b/../x", '+++ "b/\\056\\056/x"']),
                        min_size=1, max_size=3))
def test_diff_paths_inside_the_working_copy_pass(parts, content):
    path = "/".join(parts)
    # a name's text before a space is a candidate too (diff -u ends names there): ".. 0" is
    # refused by design, as "..", so such names are not "inside" for this test
    assume(not any(".." in f"b/{path}"[:i].split("/") for i, c in enumerate(f"b/{path}") if c == " "))
    body = "".join(line + "\n" for line in content)
    check_diff_paths(new_file_diff(path, path, body))  # hunk lines are content, never names


@examples(200)
@given(parts=st.lists(SEGMENT, min_size=1, max_size=4), where=st.integers(0, 4),
       how=st.sampled_from(["dotdot", "absolute"]),
       header=st.sampled_from(["all", "plus", "rename", "quoted", "diff-git"]))
def test_diff_paths_outside_the_working_copy_are_refused(parts, where, how, header):
    safe = "/".join(parts)
    if how == "dotdot":
        evil = "/".join(parts[:where] + [".."] * (1 + where % 2) + parts[where:])
    else:
        evil = "/" + safe
    if header == "all":
        diff = new_file_diff(evil, evil)
    elif header == "plus":
        diff = new_file_diff(safe, evil)
    elif header == "diff-git":
        diff = (f"diff --git a/{evil} b/{evil}\ndeleted file mode 100644\n").encode()
    elif header == "rename":
        diff = (f"diff --git a/{safe} b/{safe}\nsimilarity index 100%\nrename from {safe}\n"
                f"rename to {evil}\n").encode()
    else:
        diff = new_file_diff(safe, safe).replace(f"+++ b/{safe}".encode(), f"+++ {quoted('b/' + evil)}".encode())
    with pytest.raises(RunError, match="outside the working copy"):
        check_diff_paths(diff)


TRAIN = """
    from localtask import Task

    task = Task.init(project_name="sec", task_name="train")
    params = task.connect({"lr": 0.1, "epochs": 2})
    for i in range(params["epochs"]):
        task.get_logger().report_scalar("loss", "train", 1.0 / (i + 1), i)
    task.upload_artifact("metrics", {"acc": 0.9})
    print("TASK_ID=" + task.id)
"""


def test_a_recorded_diff_outside_the_working_copy_is_refused_by_the_worker(tmp_path):
    """A task whose stored diff (written by anyone who can write the store) names paths outside
    the working copy fails with the reason, before the worker writes anything: no file outside,
    not even the repository mirror."""
    root = tmp_path / "sentinel"
    home = root / "store"
    repo = make_repo(root / "repo", {"train.py": TRAIN})
    task_id = recorded_id(subprocess.run([sys.executable, "train.py"], cwd=repo, capture_output=True, text=True,
                                         env={**os.environ, "LOCALTASK_HOME": str(home),
                                              "PYTHONDONTWRITEBYTECODE": "1"}, timeout=60))
    abs_target = root / "absolute-target.txt"
    evil_diffs = {
        "dotdot": new_file_diff("../outside.txt", "../outside.txt"),
        "deep dotdot": new_file_diff("a/../../../outside.txt", "a/../../../outside.txt"),
        "absolute": new_file_diff(str(abs_target).lstrip("/"), str(abs_target)).replace(
            f"+++ b/{abs_target}".encode(), f"+++ {abs_target}".encode()),
        "quoted": new_file_diff("x.txt", "x.txt").replace(
            b"+++ b/x.txt", b"+++ " + quoted("b/../outside.txt").encode()),
        "rename": (b"diff --git a/train.py b/train.py\nsimilarity index 100%\nrename from train.py\n"
                   b"rename to ../outside.txt\n"),
    }
    store = Store.open(home)
    clones = {}
    for label, diff in evil_diffs.items():
        clone = Task.clone(task_id, name=label, home=home)
        store.update_task(clone.id, code=diff, code_ref=None)
        Task.enqueue(clone, "evil", home=home)
        clones[label] = clone
    before = tree_listing(root, skip=(home,))
    run_burst_worker(home, queues=["evil"])
    for label, clone in clones.items():
        assert clone.status == "failed", (label, clone.get_status_message())
        assert "Refusing to write" in clone.get_status_message(), (label, clone.get_status_message())
        assert "outside the working copy" in clone.get_status_message()
    assert tree_listing(root, skip=(home,)) == before
    assert not list(root.rglob("outside.txt")) and not abs_target.exists()
    assert not (home / "cache" / "repos").exists() or not any((home / "cache" / "repos").glob("*.git"))
    assert git("status", "--porcelain", cwd=repo) == ""  # the repository itself is untouched


# --------------------------------------------------------------------------- security (item 6)
SECRETS = {
    "MY_API_TOKEN": "tok123-a8f3e1c9d2",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzEXAMPLEKEY",
    "DB_PASSWORD": "hunter2-pw-77aa31",
    "GITHUB_TOKEN": "ghp_0123456789abcdefSECRETxyz",
    "HF_API_KEY": "hf_key_5c2b9e41f0",
    "GOOGLE_APPLICATION_CREDENTIALS": "/secret/creds-4f1d8a.json",
}
REMOTE_PASSWORD = "s3cret"


def test_secrets_never_reach_the_store(tmp_path):
    """A run recorded in a repository whose remotes carry credentials, with secret-looking
    environment variables set (for the recording and for the worker that re-runs a clone):
    no secret appears in any file of the store, the SQLite database and its WAL included."""
    root = tmp_path / "sentinel"
    home = root / "store"
    repo = make_repo(root / "repo", {"train.py": TRAIN})
    git("remote", "add", "origin", f"https://user:{REMOTE_PASSWORD}@example.com/r.git", cwd=repo)
    git("remote", "add", "backup", f"https://oauth2:{SECRETS['GITHUB_TOKEN']}@gitlab.example.com/x.git",
        cwd=repo)
    write(repo / "notes.txt", "uncommitted\n")
    env = {**os.environ, **SECRETS, "LOCALTASK_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("LOCALTASK_TASK_ID", None)
    task_id = recorded_id(subprocess.run([sys.executable, "train.py", "--lr", "0.1"], cwd=repo,
                                         capture_output=True, text=True, env=env, timeout=60))
    task = Task.get_task(task_id, home=home)
    assert task.get_script()["repository"] == "https://example.com/r.git"
    assert task.status == "completed"
    clone = Task.clone(task, home=home)
    Task.enqueue(clone, "sec", home=home)
    proc = subprocess.run([*LOCALTASK_CLI, "worker", "--queue", "sec", "--burst", "--poll-interval", "0.05"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert clone.status == "completed", clone.get_status_message()

    secrets = [REMOTE_PASSWORD, *SECRETS.values()]
    scanned = 0
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            scanned += 1
            for secret in secrets:
                assert secret.encode() not in data, f"{secret!r} found in {path}"
    assert scanned >= 4 and (home / DB_NAME).is_file()
    # the database through SQL too (pages not yet checkpointed are in the WAL, read above)
    conn = sqlite3.connect(home / DB_NAME)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    for secret in secrets:
        assert secret not in dump
    # the store and the folders localtask makes in it are private to the user
    for folder in (home, home / "tasks", home / "tasks" / task_id, home / "tasks" / task_id / "artifacts",
                   home / "blobs", home / "cache", home / "cache" / "repos", home / "cache" / "work"):
        assert folder.is_dir(), folder
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
