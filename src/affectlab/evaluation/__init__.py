"""Scoring, bootstrap confidence intervals, run comparison and diagnostics."""

from .bootstrap import Interval, PairedResult, bootstrap_ci, bootstrap_scores, paired_bootstrap
from .diagnostics import Finding
from .scoring import HEADLINE, higher_is_better, metric_names, score_arrays

__all__ = [
    "HEADLINE", "higher_is_better", "metric_names", "score_arrays",
    "Interval", "PairedResult", "bootstrap_ci", "bootstrap_scores", "paired_bootstrap", "Finding",
]
