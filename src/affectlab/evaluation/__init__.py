"""Scoring, bootstrap confidence intervals, run comparison and diagnostics."""

from .scoring import HEADLINE, higher_is_better, metric_names, score_arrays

__all__ = ["HEADLINE", "higher_is_better", "metric_names", "score_arrays"]
