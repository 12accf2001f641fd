"""ClearML's ``clearml.automation`` hyper-parameter search on localtask (``from localtask.automation
import HyperParameterOptimizer, GridSearch, RandomSearch, DiscreteParameterRange, ...``)."""
from .optimizer import GridSearch, HyperParameterOptimizer, Objective, RandomSearch, SearchStrategy
from .parameters import (
    DiscreteParameterRange,
    LogUniformParameterRange,
    Parameter,
    ParameterSet,
    UniformIntegerParameterRange,
    UniformParameterRange,
)

__all__ = ["DiscreteParameterRange", "GridSearch", "HyperParameterOptimizer", "LogUniformParameterRange",
           "Objective", "Parameter", "ParameterSet", "RandomSearch", "SearchStrategy",
           "UniformIntegerParameterRange", "UniformParameterRange"]
