"""Typed parameter values: stored as JSON text plus a type name, so they round-trip.

ClearML stores every parameter as a string; we keep ``int``, ``float``, ``bool``,
``None``, ``str``, ``list`` and ``dict`` as what went in.
"""
from __future__ import annotations

import json
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


def type_name(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    raise TypeError(type(value).__name__)


def normalize(value: Any) -> Any:
    """A JSON-able equivalent of ``value``: tuples become lists, numpy scalars Python numbers,
    anything else without a JSON form its ``str()`` (as ClearML does)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [normalize(v) for v in items]
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item) and getattr(value, "ndim", 0) == 0:
        try:
            return normalize(item())
        except Exception:
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return normalize(tolist())
        except Exception:
            pass
    enum_value = getattr(value, "value", None)
    if enum_value is not None and type(value).__class__.__name__ == "EnumMeta":
        return normalize(enum_value)
    return str(value)


def encode(value: Any, name: str = "") -> tuple[str, str]:
    """``(json_text, type)`` for a value."""
    try:
        value = normalize(value)
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except RecursionError:
        raise ParameterError(f"Parameter {name or '?'} is nested too deeply to store.") from None
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"Parameter {name or '?'} cannot be stored: {exc}") from None
    if not is_unicode(text):
        raise ParameterError(f"Parameter {name or '?'} holds text that is not valid Unicode (a lone "
                             "surrogate, as undecodable bytes become in Python); decode it first.")
    return text, type_name(value)


def decode(text: str, kind: str) -> Any:
    value = json.loads(text)
    if kind == "list" and isinstance(value, list):
        return value
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


def parse_text(text: str, kind: str | None) -> Any:
    """Parse a command-line string for a parameter of type ``kind`` (None: guess from JSON)."""
    if kind == "str":
        return text
    if kind == "int":
        return int(text.strip())
    if kind == "float":
        return float(text.strip())
    if kind == "bool":
        return _parse_bool(text)
    if kind in ("list", "dict"):
        value = json.loads(text)
        if type_name(value) != kind:
            raise ValueError(text)
        return value
    if kind == "none" and text.strip().lower() in ("none", "null", ""):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or nested too deeply to read): a string
        return text


def coerce(value: Any, kind: str | None, name: str) -> tuple[str, str]:
    """Encode ``value`` for a parameter currently of type ``kind``.

    A value of the same type (or int for float) is kept; a string is parsed as that type;
    anything else raises :class:`ParameterError`. A new parameter (``kind`` None) or one
    whose value is None takes any type.
    """
    if kind is None or kind == "none" or value is None:
        if isinstance(value, str) and kind == "none":
            value = parse_text(value, None)
        return encode(value, name)
    try:
        value = normalize(value)
    except RecursionError:
        raise ParameterError(f"Parameter {name} is nested too deeply to store.") from None
    got = type_name(value)
    if got == kind:
        return encode(value, name)
    if kind == "float" and got == "int":
        try:
            return encode(float(value), name)
        except OverflowError:
            raise ParameterError(f"Parameter {name} is of type float; the int {shown(value)} is too "
                                 "large for a float.") from None
    if got == "str":
        try:
            return encode(parse_text(value, kind), name)
        except (ValueError, TypeError, RecursionError):
            pass
        raise ParameterError(
            f"Parameter {name} is of type {kind}; {shown(value)} cannot be read as {article(kind)}. "
            f"Give {article(kind)} value{' (JSON)' if kind in ('list', 'dict') else ''}.")
    raise ParameterError(
        f"Parameter {name} is of type {kind}; got {shown(value)} of type {got}. "
        f"Give {article(kind)}, or a string that parses as one.")


def article(kind: str) -> str:
    return {"int": "an int", "float": "a float", "bool": "a bool (true/false)", "str": "a str",
            "list": "a list", "dict": "a dict", "none": "None"}.get(kind, kind)


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
