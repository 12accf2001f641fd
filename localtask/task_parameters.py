"""ClearML's ``TaskParameters``: a class whose attributes declared with :func:`param` are a
parameter section.

    class Params(TaskParameters):
        iterations = param(type=int, default=100, desc="number of iterations", range=(0, 10**6))
        keep = percent_param(default=0.5, desc="share of the data to keep")

    params = Params(iterations=10)
    task.connect(params, name="Training")   # or params.connect(task)

``task.connect`` records the declared fields; under a worker it writes the stored (possibly
edited) values back into the object. A typed field checks the type of each value it is given,
a ranged one its range (ValueError / TypeError, as ClearML's validators raise).
Unlike ClearML this needs no ``attrs``: the class is plain Python.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterable

__all__ = ["range_validator", "param", "percent_param", "TaskParameters", "public_attributes"]

_MISSING = object()
Validator = Callable[[Any, "Param", Any], None]


def range_validator(min_value: Any, max_value: Any) -> Validator:
    """A validator that checks ``min_value <= value <= max_value`` (None: no limit there)."""

    def check(instance: Any, attribute: "Param", value: Any) -> None:
        if value is None:
            return
        if (min_value is not None and value < min_value) or (max_value is not None and value > max_value):
            raise ValueError(f"{attribute.name} must be in range [{min_value}, {max_value}]; got {value!r}")

    return check


def _type_validator(kind: type | tuple[type, ...]) -> Validator:
    def check(instance: Any, attribute: "Param", value: Any) -> None:
        if value is None or isinstance(value, kind):
            return
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise TypeError(f"{attribute.name} must be of type {names}; got {value!r} of type "
                        f"{type(value).__name__}")

    return check


class Param:
    """A declared field of a :class:`TaskParameters` class (made by :func:`param`)."""

    def __init__(self, validators: list[Validator], type: Any, desc: str | None, metadata: dict,
                 default: Any, factory: Callable[[], Any] | None):
        self.validators = validators
        self.type = type
        self.desc = desc or ""
        self.metadata = metadata
        self.default = default
        self.factory = factory
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def initial(self) -> Any:
        if self.factory is not None:
            return self.factory()
        return copy.deepcopy(self.default)

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.factory is None

    def validate(self, instance: Any, value: Any) -> None:
        for validator in self.validators:
            validator(instance, self, value)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            return instance.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: Any, value: Any) -> None:
        self.validate(instance, value)
        instance.__dict__[self.name] = value

    def __repr__(self) -> str:
        return f"param({self.name!r}, type={getattr(self.type, '__name__', self.type)})"


def _as_list(validator: Validator | Iterable[Validator] | None) -> list[Validator]:
    if not validator:
        return []
    if isinstance(validator, (list, tuple)):
        return list(validator)
    return [validator]


def param(validator: Validator | Iterable[Validator] | None = None, range: tuple | None = None,
          type: Any = None, desc: str | None = None, metadata: dict | None = None, *,
          default: Any = _MISSING, factory: Callable[[], Any] | None = None) -> Any:
    """A parameter of a :class:`TaskParameters` class.

    ``validator``: a callable ``(instance, attribute, value)`` (or a list of them) raising on a
    bad value; ``range``: ``(min, max)``, either None for no limit; ``type``: the values
    allowed (None allowed too); ``desc``: the parameter's description (kept with it in the
    task); ``default`` / ``factory``: the value when the constructor is not given one (without
    either, the constructor requires it).
    """
    validators = _as_list(validator)
    if type is not None:
        validators.append(_type_validator(type))
    if range is not None:
        validators.append(range_validator(*range))
    return Param(validators, type, desc, dict(metadata or {}, desc=desc), default, factory)


def percent_param(*args: Any, **kwargs: Any) -> Any:
    """A float parameter in the range [0, 1]."""
    return param(*args, range=(0, 1), type=float, **kwargs)


class TaskParameters:
    """Base class of a parameter set; subclass it and declare fields with :func:`param`.

    The constructor takes the fields by keyword (or position, in declaration order).
    """

    _fields: dict[str, Param] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, Param):
                    fields[key] = value
        cls._fields = fields

    def __init__(self, *args: Any, **kwargs: Any):
        names = list(self._fields)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments "
                            f"({len(args)} given)")
        for key, value in zip(names, args):
            if key in kwargs:
                raise TypeError(f"{type(self).__name__} got multiple values for {key!r}")
            kwargs[key] = value
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no parameter {', '.join(map(repr, unknown))}; "
                            f"its parameters: {', '.join(names) or 'none'}")
        missing = [k for k in names if k not in kwargs and self._fields[k].required]
        if missing:
            raise TypeError(f"{type(self).__name__} needs a value for {', '.join(map(repr, missing))}")
        for key, field in self._fields.items():
            setattr(self, key, kwargs[key] if key in kwargs else field.initial())

    def to_dict(self) -> dict[str, Any]:
        """``{name: value}`` of the declared parameters (a copy)."""
        return {key: copy.deepcopy(getattr(self, key)) for key in self._fields}

    def descriptions(self) -> dict[str, str]:
        return {key: field.desc for key, field in self._fields.items() if field.desc}

    def update_from_dict(self, source_dict: dict[str, Any]) -> None:
        """Set the parameters in ``source_dict``; an unknown name raises ValueError."""
        for key in source_dict:
            if key not in self._fields:
                raise ValueError(f"Unknown key {key} in {type(self).__name__} object")
        for key, value in source_dict.items():
            setattr(self, key, value)

    def connect(self, task: Any) -> Any:
        """``task.connect(self)``: record the parameters, or (under a worker) take the stored ones."""
        return task.connect(self)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(self, k, '?')!r}" for k in self._fields)
        return f"{type(self).__name__}({inner})"


def public_attributes(obj: Any) -> dict[str, Any]:
    """What ``task.connect(obj)`` records of a plain object: its public attributes that are not
    callables (methods, classes) nor descriptors (properties); class-level defaults
    (``class Config: lr = 0.1``) included, the instance's own values first."""
    values: dict[str, Any] = {}
    for klass in reversed(type(obj).__mro__[:-1]):  # not object's
        for key, value in vars(klass).items():
            if (not key.startswith("_") and not callable(value) and not hasattr(value, "__get__")):
                values[key] = value
    values.update({k: v for k, v in vars(obj).items() if not k.startswith("_") and not callable(v)})
    return values
