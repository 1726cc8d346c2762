"""Runner: experiment specs, the resumable SQLite store, executors (tables and figures: ``multisource.report``)."""

from multisource.runner.executors import EXECUTORS, map_unordered
from multisource.runner.experiment import GridPoint, filter_precision_recall, grid_points, run_point
from multisource.runner.run import RunSummary, run_experiment
from multisource.runner.spec import Component, ExperimentSpec
from multisource.runner.store import Store

__all__ = [
    "EXECUTORS",
    "Component",
    "ExperimentSpec",
    "GridPoint",
    "RunSummary",
    "Store",
    "filter_precision_recall",
    "grid_points",
    "map_unordered",
    "run_experiment",
    "run_point",
]
