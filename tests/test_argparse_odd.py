"""Nothing a parser holds breaks a run (issue 15 item 1): odd parsers, as frameworks build them
(lazy help objects, custom actions, subparsers, parse_known_args, SUPPRESS), parse exactly as
without localtask, and whatever they hold is recorded as a value or as text, or skipped with
a warning on the console; the task never fails and its store stays readable."""
from __future__ import annotations

import argparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localtask import Task, argparse_hook
from localtask import params as P


class LazyHelp:
    """As Hydra's ``LazyCompletionHelp``: a help object that is not a str."""

    def __str__(self) -> str:
        return "computed help"


class BrokenStr:
    def __str__(self) -> str:
        raise RuntimeError("no text for me")

    __repr__ = __str__


class Opaque:
    """A value with no stored form (a custom object)."""


class StoreObject(argparse.Action):
    """A custom action that stores an object instead of the text."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, Opaque())


helps = st.sampled_from([None, "", "plain help", argparse.SUPPRESS, LazyHelp(), BrokenStr(),
                         "lone \udcff surrogate", "%(default)s here"])
odd_values = st.sampled_from([None, 1, 0.5, float("nan"), "text", b"bytes", Opaque(), BrokenStr(),
                              [Opaque(), 1], {"k": Opaque()}, (1, 2), {3, 4}, 10 ** 5000,
                              "bad \udcff text", argparse.SUPPRESS, len])
kinds = st.sampled_from(["plain", "int", "flag", "custom", "choices", "nargs", "suppress-default",
                         "count", "append"])


@st.composite
def parsers(draw):
    """A parser with odd arguments, a command line it accepts, and how to call it."""
    parser = argparse.ArgumentParser(add_help=draw(st.booleans()), prog="odd")
    argv: list[str] = []
    for i in range(draw(st.integers(0, 5))):
        name, kind, help_ = f"--opt{i}", draw(kinds), draw(helps)
        default = draw(odd_values)
        if kind == "plain":
            parser.add_argument(name, default=default, help=help_)
            if draw(st.booleans()):
                argv += [name, "given"]
        elif kind == "int":
            parser.add_argument(name, type=int, default=default, help=help_)
            if draw(st.booleans()):
                argv += [name, "7"]
        elif kind == "flag":
            parser.add_argument(name, action="store_true", help=help_)
            if draw(st.booleans()):
                argv.append(name)
        elif kind == "custom":
            parser.add_argument(name, action=StoreObject, nargs=0, default=default, help=help_)
            if draw(st.booleans()):
                argv.append(name)
        elif kind == "choices":
            parser.add_argument(name, choices=[Opaque, "a", 3], type=lambda s: s, default=default,
                                help=help_)
            if draw(st.booleans()):
                argv += [name, "a"]
        elif kind == "nargs":
            parser.add_argument(name, nargs="*", type=float, default=default, help=help_)
            if draw(st.booleans()):
                argv += [name, "1", "2.5"]
        elif kind == "suppress-default":
            parser.add_argument(name, default=argparse.SUPPRESS, help=help_)
            if draw(st.booleans()):
                argv += [name, "x"]
        elif kind == "count":
            parser.add_argument(name, action="count", default=default, help=help_)
            argv += [name] * draw(st.integers(0, 2))
        else:
            parser.add_argument(name, action="append", default=None, help=help_)
            argv += [name, "one", name, "two"] if draw(st.booleans()) else []
    if draw(st.booleans()):
        sub = parser.add_subparsers(dest=draw(st.sampled_from(["command", argparse.SUPPRESS])))
        train = sub.add_parser("train", help=draw(helps))
        train.add_argument("--epochs", type=int, default=draw(odd_values), help=draw(helps))
        train.add_argument("items", nargs="*", default=draw(odd_values))
        argv += ["train", "--epochs", "3", "a", "b"]
    known = draw(st.booleans())
    if known:
        argv += ["--not-an-option", "extra"]
    return parser, argv, known


def _outcome(parse):
    """``(sorted names, extras)`` of a parse, or ``("exit", code)`` when argparse refused it."""
    try:
        ns, extra = parse()
    except SystemExit as exc:
        return "exit", exc.code
    except Exception as exc:  # the parser's own bug (a default its action cannot take)
        return "raised", type(exc).__name__
    return sorted(vars(ns)), extra


def _hooked(parser, argv, known):
    return lambda: parser.parse_known_args(argv) if known else (parser.parse_args(argv), [])


@pytest.fixture(scope="module")
def open_task(tmp_path_factory):
    home = tmp_path_factory.mktemp("odd-store")
    task = Task.init(project_name="odd", task_name="parsers", home=home, auto_connect_streams=False)
    yield task
    task.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=parsers())
def test_any_parser_parses_as_without_localtask_and_its_capture_never_fails(open_task, case, capsys):
    parser, argv, known = case
    original = _outcome(lambda: argparse_hook._original(parser, argv))
    hooked = _outcome(_hooked(parser, argv, known))
    if not known and original[0] not in ("exit", "raised") and original[1]:
        original = ("exit", 2)  # parse_args refuses what parse_known_args leaves over
    assert hooked == original
    # every stored parameter reads back, every help text is text, and what this parse gave is
    # recorded as it is where it has a stored form, else as text (or JSON holding text)
    assert open_task.get_status() == "in_progress"
    rows = {}
    for row in open_task._store.get_parameters(open_task.id):
        P.decode(row["value"], row["type"], row["name"])
        assert isinstance(row["description"], str)
        rows[(row["section"], row["name"])] = row
    if hooked[0] != "exit" and hooked[0] != "raised":
        ns = (parser.parse_known_args(argv) if known else (parser.parse_args(argv), []))[0]
        for name, value in vars(ns).items():
            row = rows[("Args", name)]
            try:
                text, kind = P.encode(value, name)
            except Exception:
                assert row["type"] in ("str", "list", "dict"), (name, value, row)
            else:
                assert (row["value"], row["type"]) == (text, kind)
    capsys.readouterr()


def test_a_lazy_help_object_is_recorded_as_its_text(open_task):
    parser = argparse.ArgumentParser()
    parser.add_argument("--lazy", default="v", help=LazyHelp())
    parser.add_argument("--obj", default=Opaque())
    parser.parse_args([])
    rows = {r["name"]: r for r in open_task._store.get_parameters(open_task.id) if r["section"] == "Args"}
    assert rows["lazy"]["description"] == "computed help"
    assert P.decode(rows["lazy"]["value"], rows["lazy"]["type"]) == "v"
    assert P.decode(rows["obj"]["value"], rows["obj"]["type"]).startswith("<")


def test_a_capture_that_fails_is_a_warning_and_the_parse_goes_on(open_task, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(open_task, "record_arguments", broken)
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int, default=1)
    assert parser.parse_args(["--x", "2"]).x == 2
    err = capsys.readouterr().err
    assert "localtask: could not record the command-line arguments (RuntimeError: the store went away)" in err
    assert "the run goes on" in err


def test_hydra_style_parser_before_init_records_in_a_script(tmp_path):
    """The reported failure: a parser whose help is a lazy object, parsed before Task.init."""
    from conftest import run_script, task_id_of, write_script

    script = write_script(tmp_path / "lazy.py", """
        import argparse
        from localtask import Task
        class Lazy:
            def __str__(self):
                return "lazy help"
        parser = argparse.ArgumentParser()
        parser.add_argument("overrides", nargs="*", help=Lazy())
        args = parser.parse_args()
        task = Task.init(project_name="odd", task_name="lazy")
        print("TASK_ID=" + task.id)
        """)
    home = tmp_path / "home"
    proc = run_script(script, "a=1", "b=2", home=home)
    assert proc.returncode == 0, proc.stderr
    task = Task.get_task(task_id_of(proc), home=home)
    assert task.get_parameters()["Args/overrides"] == ["a=1", "b=2"]
    assert task.get_status() == "completed"
