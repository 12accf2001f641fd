"""ClearML's Task calls about a task's model design and labels, its models, its parameters as
one dict, and what it reported (single values, every scalar point).

Where they are kept, so that a clone keeps them: the model design is the configuration object
``General`` (as ClearML stores it), the label enumeration the dict configuration object
``model_labels`` (ClearML: ``execution.model_labels``). An OutputModel the task makes takes both as
its defaults. :class:`TaskDesign` is a mixin of :class:`localtask.task.Task` through
:class:`localtask.task_clearml.ClearMLExtras`.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from .exceptions import LocaltaskError, ParameterError

#: the configuration object of the model design (ClearML's default configuration section)
DESIGN = "General"
#: the configuration object of the label enumeration
LABELS = "model_labels"


def _check_labels(enumeration: Any) -> dict[str, int]:
    if not isinstance(enumeration, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in enumeration.items()):
        raise ParameterError("A label enumeration is a dict of label name (str) -> id (int), e.g. "
                             "{'background': 0, 'person': 1}.")
    return dict(enumeration)


class TaskDesign:
    """Model design and labels, models, parameters as a dict, reported values (a mixin of Task)."""

    # ------------------------------------------------------------------ labels
    def connect_label_enumeration(self, enumeration: dict[str, int],
                                  ignore_remote_overrides: bool = False) -> dict[str, int]:
        """Record the label enumeration ``{label: id}``: the default labels of the task's
        OutputModels. Under a worker the stored (possibly edited) labels replace the dict's
        contents, in place (unless ``ignore_remote_overrides``). Raises ParameterError."""
        if not isinstance(enumeration, dict):
            raise ParameterError(f"connect_label_enumeration takes a dict, not {type(enumeration).__name__}.")
        stored = self.get_labels_enumeration() if self._attached else {}  # type: ignore[attr-defined]
        if stored and not ignore_remote_overrides:
            enumeration.clear()
            enumeration.update(stored)
            return enumeration
        self.set_model_label_enumeration(enumeration)
        return enumeration

    def set_model_label_enumeration(self, enumeration: Mapping[str, int] | None = None) -> None:
        """Set the label enumeration ``{label: id}`` (None: ``{}``). Raises ParameterError."""
        labels = _check_labels(enumeration or {})
        self.set_configuration_object(LABELS, config_dict=labels,  # type: ignore[attr-defined]
                                      description="label enumeration of the task's output models")

    def get_labels_enumeration(self) -> dict[str, int]:
        """The label enumeration ``{label: id}`` (``{}`` before any)."""
        return self.get_configuration_object_as_dict(LABELS) or {}  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ model design
    def set_model_config(self, config_text: str | None = None, config_dict: Mapping | None = None) -> None:
        """Set the task's model design (text, or a dict kept as JSON): the default design of the
        task's OutputModels. Raises LocaltaskError when both are given."""
        if config_text is not None and config_dict is not None:
            raise LocaltaskError("set_model_config takes config_text or config_dict, not both.")
        if config_dict is not None:
            self.set_configuration_object(DESIGN, config_dict=dict(config_dict))  # type: ignore[attr-defined]
        else:
            self.set_configuration_object(DESIGN, config_text="" if config_text is None  # type: ignore[attr-defined]
                                          else str(config_text))

    def get_model_config_text(self) -> str | None:
        """The model design as text (a dict design as JSON); None before any."""
        return self.get_configuration_object(DESIGN)  # type: ignore[attr-defined]

    def get_model_config_dict(self) -> dict | None:
        """The model design as a dict (a text design that is a JSON object, parsed); None
        when there is none or it is not a dict."""
        as_dict = self.get_configuration_object_as_dict(DESIGN)  # type: ignore[attr-defined]
        if as_dict is not None:
            return as_dict
        text = self.get_model_config_text()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def _output_model_defaults(self) -> dict[str, Any]:
        """What an OutputModel of this task takes when not given: the design and the labels."""
        confs = {c["name"]: c for c in self._store.get_configurations(self.id)}  # type: ignore[attr-defined]
        design = confs.get(DESIGN)
        labels = confs.get(LABELS)
        return {
            "config_text": design["value"] if design and design["kind"] != "dict" else None,
            "config_dict": json.loads(design["value"]) if design and design["kind"] == "dict" else None,
            "labels": json.loads(labels["value"]) if labels and labels["kind"] == "dict" else None,
        }

    # ------------------------------------------------------------------ models
    def get_models(self) -> dict[str, list]:
        """``{"input": [Model, ...], "output": [Model, ...]}`` (as :attr:`models`)."""
        return self.models  # type: ignore[attr-defined]

    @property
    def input_models_id(self) -> dict[str, str]:
        """``{name: model id}`` of the task's input models."""
        return {r["name"]: r["model_id"] for r in self._store.get_task_models(self.id)  # type: ignore[attr-defined]
                if r["role"] == "input"}

    @property
    def output_models_id(self) -> dict[str, str]:
        """``{name: model id}`` of the task's output models."""
        return {r["name"]: r["model_id"] for r in self._store.get_task_models(self.id)  # type: ignore[attr-defined]
                if r["role"] == "output"}

    # ------------------------------------------------------------------ parameters
    def set_parameters_as_dict(self, dictionary: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace all parameters with ``{section: {name: value}}`` (ClearML semantics, as
        :meth:`set_parameters` with ``Section/name`` keys). Raises ParameterError /
        IllegalTransitionError."""
        if not isinstance(dictionary, Mapping) or not all(isinstance(v, Mapping) for v in dictionary.values()):
            raise ParameterError("set_parameters_as_dict takes {section: {name: value}}.")
        self.set_parameters({f"{section}/{name}": value  # type: ignore[attr-defined]
                             for section, values in dictionary.items() for name, value in values.items()})

    # ------------------------------------------------------------------ what was reported
    def get_reported_single_values(self) -> dict[str, float]:
        """``{name: value}`` of the values reported with ``report_single_value``."""
        return self.get_single_values()  # type: ignore[attr-defined]

    def get_reported_single_value(self, name: str) -> float | None:
        """The single value reported as ``name``, or None."""
        return self.get_reported_single_values().get(name)

    def get_all_reported_scalars(self, x_axis: str = "iter") -> dict:
        """``{title: {series: {'x': [...], 'y': [...]}}}`` with every point (localtask never
        subsamples, so this is :meth:`get_reported_scalars`)."""
        return self.get_reported_scalars(x_axis=x_axis)  # type: ignore[attr-defined]
