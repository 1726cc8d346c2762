"""Report: tables and figures from a store's rows and from the bounds (the last stage of the data flow)."""

from multisource.report.excess_risk import excess_risk_vs_m, plot_excess_risk_vs_m
from multisource.report.figures import error_figures, plot_bound_vs_m
from multisource.report.tables import Cell, best_rule_table, markdown_report, summarize, write_csv

__all__ = [
    "Cell",
    "best_rule_table",
    "error_figures",
    "excess_risk_vs_m",
    "markdown_report",
    "plot_bound_vs_m",
    "plot_excess_risk_vs_m",
    "summarize",
    "write_csv",
]
