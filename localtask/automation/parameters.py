"""Hyper-parameter spaces with ClearML's names: each gives every value it holds (``to_list``,
for a grid) or one drawn at random (``get_value``), as ``{name: value}`` dicts."""
from __future__ import annotations

import itertools
import random
from typing import Any, Mapping, Sequence


class Parameter:
    """A named space of values. ``set_random_seed`` makes random draws repeatable."""

    _random = random.Random(1337)

    def __init__(self, name: str | None):
        self.name = name

    @classmethod
    def set_random_seed(cls, seed: int = 1337) -> None:
        Parameter._random = random.Random(seed)

    def get_value(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_list(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **vars(self)}


class UniformParameterRange(Parameter):
    """Floats from ``min_value`` to ``max_value``, quantised by ``step_size`` when given."""

    def __init__(self, name: str, min_value: float, max_value: float, step_size: float | None = None,
                 include_max_value: bool = True):
        super().__init__(name)
        if max_value < min_value:
            raise ValueError(f"{name}: max_value {max_value} is below min_value {min_value}")
        if step_size is not None and step_size <= 0:
            raise ValueError(f"{name}: step_size must be positive (got {step_size})")
        self.min_value, self.max_value = float(min_value), float(max_value)
        self.step_size = float(step_size) if step_size is not None else None
        self.include_max = include_max_value

    def _draw(self) -> float:
        if not self.step_size:
            return self._random.uniform(self.min_value, self.max_value)
        return self._random.choice(self._grid())

    def _grid(self) -> list[float]:
        step = self.step_size or (self.max_value - self.min_value) / 100.0
        count = int(round((self.max_value - self.min_value) / step)) if step else 0
        # rounded: 0.1 + 2 * 0.1 is 0.30000000000000004, and a job's parameter should read 0.3
        values = [round(self.min_value + i * step, 12) for i in range(count)] or [self.min_value]
        if self.include_max and values[-1] < self.max_value:
            values.append(self.max_value)
        return values

    def get_value(self) -> dict[str, Any]:
        return {self.name: self._draw()}

    def to_list(self) -> list[dict[str, Any]]:
        return [{self.name: v} for v in self._grid()]


class LogUniformParameterRange(UniformParameterRange):
    """``base ** x`` for x uniform between ``min_value`` and ``max_value``."""

    def __init__(self, name: str, min_value: float, max_value: float, base: float = 10,
                 step_size: float | None = None, include_max_value: bool = True):
        super().__init__(name, min_value, max_value, step_size, include_max_value)
        self.base = base

    def get_value(self) -> dict[str, Any]:
        return {self.name: self.base ** self._draw()}

    def to_list(self) -> list[dict[str, Any]]:
        return [{self.name: self.base ** v} for v in self._grid()]


class UniformIntegerParameterRange(Parameter):
    """Integers from ``min_value`` to ``max_value`` in steps of ``step_size``."""

    def __init__(self, name: str, min_value: int, max_value: int, step_size: int = 1,
                 include_max_value: bool = True):
        super().__init__(name)
        if max_value < min_value:
            raise ValueError(f"{name}: max_value {max_value} is below min_value {min_value}")
        if not step_size or step_size <= 0:
            raise ValueError(f"{name}: step_size must be a positive integer (got {step_size})")
        self.min_value, self.max_value, self.step_size = int(min_value), int(max_value), int(step_size)
        self.include_max = include_max_value

    def _values(self) -> list[int]:
        values = list(range(self.min_value, self.max_value, self.step_size)) or [self.min_value]
        if self.include_max and values[-1] < self.max_value and (self.max_value - self.min_value) % self.step_size == 0:
            values.append(self.max_value)
        return values

    def get_value(self) -> dict[str, Any]:
        return {self.name: self._random.choice(self._values())}

    def to_list(self) -> list[dict[str, Any]]:
        return [{self.name: v} for v in self._values()]


class DiscreteParameterRange(Parameter):
    """One of the ``values`` given."""

    def __init__(self, name: str, values: Sequence[Any] = ()):
        super().__init__(name)
        if not len(values):
            raise ValueError(f"{name}: DiscreteParameterRange needs at least one value")
        self.values = list(values)

    def get_value(self) -> dict[str, Any]:
        return {self.name: self._random.choice(self.values)}

    def to_list(self) -> list[dict[str, Any]]:
        return [{self.name: v} for v in self.values]


class ParameterSet(Parameter):
    """One of several combinations; a value in a combination may itself be a Parameter."""

    def __init__(self, parameter_combinations: Sequence[Mapping[str, Any]] = ()):
        super().__init__(None)
        if not len(parameter_combinations):
            raise ValueError("ParameterSet needs at least one combination")
        self.values = list(parameter_combinations)

    @staticmethod
    def _resolve(combination: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in combination.items():
            out.update(value.get_value() if isinstance(value, Parameter) else {key: value})
        return out

    def get_value(self) -> dict[str, Any]:
        return self._resolve(self._random.choice(self.values))

    def to_list(self) -> list[dict[str, Any]]:
        out = []
        for combination in self.values:
            options = [v.to_list() if isinstance(v, Parameter) else [{k: v}] for k, v in combination.items()]
            for state in itertools.product(*options):
                out.append({k: v for d in state for k, v in d.items()})
        return out
