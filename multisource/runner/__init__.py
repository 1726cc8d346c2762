"""Runner: experiment specs, the resumable SQLite store, executors, and reports (tables + figures)."""

from multisource.runner.executors import EXECUTORS, map_unordered
from multisource.runner.experiment import GridPoint, filter_precision_recall, grid_points, run_point
from multisource.runner.report import Cell, error_figures, markdown_report, summarize
from multisource.runner.run import RunSummary, run_experiment
from multisource.runner.spec import Component, ExperimentSpec
from multisource.runner.store import Store

__all__ = [
    "EXECUTORS",
    "Cell",
    "Component",
    "ExperimentSpec",
    "GridPoint",
    "RunSummary",
    "Store",
    "error_figures",
    "filter_precision_recall",
    "grid_points",
    "map_unordered",
    "markdown_report",
    "run_experiment",
    "run_point",
    "summarize",
]
