"""Scoring, bootstrap confidence intervals, run comparison and diagnostics."""

from .bootstrap import Interval, PairedResult, bootstrap_ci, bootstrap_scores, paired_bootstrap
from .diagnostics import Finding
from .scoring import higher_is_better, metric_names, primary_metric, score_arrays

__all__ = [
    "primary_metric", "higher_is_better", "metric_names", "score_arrays",
    "Interval", "PairedResult", "bootstrap_ci", "bootstrap_scores", "paired_bootstrap", "Finding",
]
