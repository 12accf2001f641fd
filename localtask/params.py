"""Typed parameter values: stored as JSON text plus a type name, so they round-trip.

ClearML stores every parameter as a string; we keep ``int``, ``float``, ``bool``,
``None``, ``str``, ``list``, ``dict``, ``tuple``, ``set``, ``frozenset``, ``datetime``, ``date``,
``Path`` and Enum members as what went in. Values nested in a list or dict are JSON (a tuple
there is a list, as before). Any other object is refused, never stored as its repr.
"""
from __future__ import annotations

import datetime
import json
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from .exceptions import ParameterError

TYPES = ("int", "float", "bool", "none", "str", "list", "dict")
MAX_NAME = 255


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be stored as UTF-8: not so with a lone surrogate, which Python makes
    of undecodable bytes (``surrogateescape``) in a file name or a command-line argument."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(value: Any, limit: int = 100) -> str:
    """``repr(value)`` cut to ``limit`` characters for a message; never fails (an int too long
    for ``str()`` has no repr)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: top-level kinds beyond JSON's, each stored as JSON text that names no Python type:
#: a tuple/set/frozenset as a list (a set sorted), a datetime/date as ISO 8601 text, a Path
#: as its text, an Enum member as its name with the kind ``enum:module:Qualname``.
EXTRA_TYPES = ("tuple", "set", "frozenset", "datetime", "date", "path")
ENUM_PREFIX = "enum:"
SEQUENCES = ("list", "tuple", "set", "frozenset")


def _unwrap(value: Any) -> Any:
    """A numpy/torch scalar as a Python number, an array as a (nested) list; else ``value``."""
    if isinstance(value, (str, bytes, int, float, list, dict, tuple)) or value is None:
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return item()
        except Exception:
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and hasattr(value, "ndim"):
        try:
            return tolist()
        except Exception:
            pass
    return value


def enum_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def import_enum(path: str, name: str = "") -> type:
    """The Enum class ``module:Qualname``; raises ParameterError when it cannot be imported."""
    import importlib

    module_name, _, qualname = path.partition(":")
    where = f"Parameter {name} holds" if name else "A parameter holds"
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise ParameterError(
            f"{where} a member of the enum {path}, which cannot be imported here "
            f"({type(exc).__name__}: {exc}); run where module {module_name!r} is importable (from the "
            "script's folder, or with it on PYTHONPATH).") from None
    if not (isinstance(obj, type) and issubclass(obj, Enum)):
        raise ParameterError(f"{where} a member of the enum {path}, but {path} is not an Enum here.")
    return obj


def type_name(value: Any) -> str:
    """The stored type of ``value`` (see TYPES and EXTRA_TYPES); raises TypeError for another."""
    if value is None:
        return "none"
    if isinstance(value, Enum):  # before int and str: IntEnum and str-mixin enums are both
        return ENUM_PREFIX + enum_path(type(value))
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, tuple):
        return "tuple"
    if isinstance(value, frozenset):
        return "frozenset"
    if isinstance(value, set):
        return "set"
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, datetime.datetime):  # before date: a datetime is a date
        return "datetime"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, PurePath):
        return "path"
    raise TypeError(type(value).__name__)


def _qualified(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


SUPPORTED = ("int, float, bool, None, str, list, tuple, set, frozenset, dict, an Enum member, "
             "datetime, date, Path (or a numpy scalar/array)")


def _refuse(name: str, value: Any, where: str = "") -> ParameterError:
    inside = f" (at {where})" if where else ""
    return ParameterError(
        f"Parameter {name or '?'}{inside} is of type {_qualified(value)}, which cannot be stored as a parameter "
        f"(supported: {SUPPORTED}). Connect its fields instead, or convert it (e.g. str(value)).")


def normalize(value: Any, strict: bool = False, name: str = "", where: str = "") -> Any:
    """A JSON-able equivalent of ``value`` nested in a list or dict: tuples and sets become
    lists, numpy scalars Python numbers, an Enum member its value; anything else without a
    JSON form its ``str()`` (as ClearML does), or with ``strict`` a ParameterError."""
    value = _unwrap(value)
    if value is None or isinstance(value, (bool, int, float, str)) and not isinstance(value, Enum):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [normalize(v, strict, name, f"{where}[{i}]") for i, v in enumerate(items)]
    if isinstance(value, dict):
        return {str(k): normalize(v, strict, name, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, Enum):
        return normalize(value.value, strict, name, where)
    if isinstance(value, (datetime.date, PurePath)):
        return str(value)
    if strict:
        raise _refuse(name, value, where)
    return str(value)


def _to_json(value: Any, kind: str, name: str = "") -> Any:
    """The JSON form of a top-level value of stored type ``kind``."""
    if kind.startswith(ENUM_PREFIX):
        return value.name
    if kind in ("set", "frozenset"):
        members = [normalize(v, True, name, "{...}") for v in value]
        return sorted(members) if _sortable(members) else sorted(members, key=repr)
    if kind in ("datetime", "date"):
        return value.isoformat()
    if kind == "path":
        return str(value)
    return value


def _sortable(values: Any) -> bool:
    try:
        sorted(values)
    except TypeError:
        return False
    return True


def encode(value: Any, name: str = "", strict: bool = True) -> tuple[str, str]:
    """``(json_text, type)`` for a value. A value of a type that has no stored form (a custom
    object) raises ParameterError; with ``strict=False`` it is stored as its ``str()``."""
    try:
        value = _unwrap(value)
        try:
            kind = type_name(value)
        except TypeError:
            if strict:
                raise _refuse(name, value) from None
            value = normalize(value)
            kind = type_name(value)
        if kind.startswith(ENUM_PREFIX):
            if "<locals>" in type(value).__qualname__:
                raise ParameterError(
                    f"Parameter {name or '?'} is a member of the enum {type(value).__qualname__}, defined "
                    "inside a function: it could not be imported to read the value back. Define the enum "
                    "at module level.")
            import_enum(kind[len(ENUM_PREFIX):], name)
        if kind in ("list", "dict", "tuple"):
            plain = normalize(value, strict, name)
        else:
            plain = _to_json(value, kind, name)
        text = json.dumps(plain, ensure_ascii=False, allow_nan=True)
    except RecursionError:
        raise ParameterError(f"Parameter {name or '?'} is nested too deeply to store.") from None
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"Parameter {name or '?'} cannot be stored: {exc}") from None
    if not is_unicode(text):
        raise ParameterError(f"Parameter {name or '?'} holds text that is not valid Unicode (a lone "
                             "surrogate, as undecodable bytes become in Python); decode it first.")
    return text, kind


def _hashable(value: Any) -> Any:
    """A set member read back from JSON: lists as tuples, so that the set can hold them."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def decode(text: str, kind: str, name: str = "") -> Any:
    """The value stored as ``text`` with type ``kind``. An Enum member needs its enum to be
    importable here (else ParameterError)."""
    value = json.loads(text)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "tuple" and isinstance(value, list):
        return tuple(value)
    if kind in ("set", "frozenset") and isinstance(value, list):
        members = (_hashable(v) for v in value)
        return set(members) if kind == "set" else frozenset(members)
    if kind == "datetime" and isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    if kind == "date" and isinstance(value, str):
        return datetime.date.fromisoformat(value)
    if kind == "path" and isinstance(value, str):
        return Path(value)
    if kind.startswith(ENUM_PREFIX):
        cls = import_enum(kind[len(ENUM_PREFIX):], name)
        try:
            return cls[value]
        except (KeyError, TypeError):
            raise ParameterError(f"Parameter {name or '?'}: the enum {kind[len(ENUM_PREFIX):]} has no member "
                                 f"{shown(value)} (any more); its members: "
                                 f"{', '.join(m.name for m in cls)}.") from None
    return value


def plain(text: str, kind: str) -> Any:
    """A JSON-able view of a stored value, for display (never imports anything): a tuple or set
    as a list, a datetime/date/Path as its text, an Enum member as its name."""
    value = json.loads(text)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on", "y", "t"):
        return True
    if low in ("false", "0", "no", "off", "n", "f"):
        return False
    raise ValueError(text)


def _parse_sequence(text: str) -> Any:
    """A list, tuple or set typed on a command line: JSON (``[1, 2]``) or Python (``(1, 2)``,
    ``{1, 2}``)."""
    import ast

    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ValueError(text) from None
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(text)
    return value


def _parse_enum(text: str, kind: str, name: str = "") -> Enum:
    """A member of the enum of ``kind`` from its name (``RED``, ``Color.RED``) or its value.

    Where the enum cannot be imported (the CLI, away from the script's modules), a member
    name is taken as it is: the run that reads it back checks it (and names the members)."""
    word = text.strip()
    try:
        cls = import_enum(kind[len(ENUM_PREFIX):], name)
    except ParameterError:
        member = word.rpartition(".")[2]
        if not member.isidentifier():
            raise
        return _UncheckedMember(member)  # type: ignore[return-value]
    for candidate in (word, word.rpartition(".")[2]):
        if candidate in cls.__members__:
            return cls.__members__[candidate]
    for member in cls:
        if str(member.value) == word:
            return member
    raise ValueError(text)


class _UncheckedMember(str):
    """A member name for an enum that cannot be imported here (see :func:`_parse_enum`)."""


def parse_text(text: str, kind: str | None, name: str = "") -> Any:
    """Parse a command-line string for a parameter of type ``kind`` (None: guess from JSON)."""
    if kind == "str":
        return text
    if kind == "int":
        return int(text.strip())
    if kind == "float":
        return float(text.strip())
    if kind == "bool":
        return _parse_bool(text)
    if kind == "dict":
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError(text)
        return value
    if kind in SEQUENCES:
        value = _parse_sequence(text)
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](
            value if kind in ("list", "tuple") or _all_hashable(value) else map(_hashable, value))
    if kind == "datetime":
        return datetime.datetime.fromisoformat(text.strip())
    if kind == "date":
        return datetime.date.fromisoformat(text.strip())
    if kind == "path":
        if not text:
            raise ValueError(text)
        return Path(text)
    if kind and kind.startswith(ENUM_PREFIX):
        return _parse_enum(text, kind, name)
    if kind == "none" and text.strip().lower() in ("none", "null", ""):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or nested too deeply to read): a string
        return text


def _all_hashable(values: Any) -> bool:
    try:
        set(values)
    except TypeError:
        return False
    return True


def _stored_kind(value: Any) -> str | None:
    try:
        return type_name(_unwrap(value))
    except TypeError:
        return None


def coerce(value: Any, kind: str | None, name: str) -> tuple[str, str]:
    """Encode ``value`` for a parameter currently of type ``kind``.

    A value of the same type (or int for float; any list/tuple/set for a sequence, converted
    to the stored one) is kept; a string is parsed as that type; anything else raises
    :class:`ParameterError`. A new parameter (``kind`` None) or one whose value is None takes
    any type.
    """
    if kind is None or kind == "none" or value is None:
        if isinstance(value, str) and kind == "none":
            value = parse_text(value, None)
        return encode(value, name)
    value = _unwrap(value)
    got = _stored_kind(value)
    if got is None:
        raise _refuse(name, value)
    if got == kind:
        return encode(value, name)
    if kind == "float" and got == "int":
        try:
            return encode(float(value), name)
        except OverflowError:
            raise ParameterError(f"Parameter {name} is of type float; the int {shown(value)} is too "
                                 "large for a float.") from None
    if kind in SEQUENCES and got in SEQUENCES:
        try:
            return encode(parse_text(json.dumps(normalize(value, True, name)), kind, name), name)
        except (ValueError, TypeError):
            pass
    if kind == "path" and got == "str" and value:
        return encode(Path(value), name)
    if got == "str":
        try:
            parsed = parse_text(value, kind, name)
            if isinstance(parsed, _UncheckedMember):
                return json.dumps(str(parsed)), kind
            return encode(parsed, name)
        except (ValueError, TypeError, RecursionError):
            pass
        raise ParameterError(
            f"Parameter {name} is of type {describe(kind)}; {shown(value)} cannot be read as "
            f"{article(kind)}. Give {article(kind)}{_hint(kind)}.")
    raise ParameterError(
        f"Parameter {name} is of type {describe(kind)}; got {shown(value)} of type {describe(got)}. "
        f"Give {article(kind)}, or a string that parses as one.")


def describe(kind: str) -> str:
    """A stored type for a message: ``enum:pkg.mod:Color`` -> ``enum pkg.mod:Color``."""
    return "enum " + kind[len(ENUM_PREFIX):] if kind.startswith(ENUM_PREFIX) else kind


def _hint(kind: str) -> str:
    if kind in ("list", "dict"):
        return " value (JSON)"
    if kind in ("tuple", "set", "frozenset"):
        return " value (JSON [1, 2] or Python (1, 2) / {1, 2})"
    if kind in ("datetime", "date"):
        return " value in ISO 8601 form (2024-05-01" + ("T12:30:00)" if kind == "datetime" else ")")
    if kind.startswith(ENUM_PREFIX):
        return " member name (as RED or Color.RED) or value"
    return " value"


def article(kind: str) -> str:
    if kind.startswith(ENUM_PREFIX):
        return "a member of " + kind[len(ENUM_PREFIX):]
    return {"int": "an int", "float": "a float", "bool": "a bool (true/false)", "str": "a str",
            "list": "a list", "dict": "a dict", "none": "None", "tuple": "a tuple", "set": "a set",
            "frozenset": "a frozenset", "datetime": "a datetime", "date": "a date",
            "path": "a path"}.get(kind, kind)


def split_name(full: str, default_section: str = "General") -> tuple[str, str]:
    """``'Args/lr'`` -> ``('Args', 'lr')``; a name without a section goes to ``default_section``."""
    if not isinstance(full, str):
        raise ParameterError(f"Parameter names are strings like 'Section/name'; got {shown(full)}.")
    section, sep, name = full.partition("/")
    if not sep:
        section, name = default_section, full
    check_name(section, name)
    return section, name


def check_name(section: str, name: str) -> None:
    for label, text in (("section", section), ("name", name)):
        if (not text or "\x00" in text or len(text) > MAX_NAME or text.strip() != text
                or not is_unicode(text) or (label == "section" and "/" in text)):
            raise ParameterError(
                f"Invalid parameter {label} {shown(text)}: use 1-{MAX_NAME} characters of valid Unicode, no "
                "NUL byte, no leading or trailing space (and no '/' in a section), as in 'General/lr'.")
