"""Run directories: the one reader and writer (config, metrics, predictions, summary, checkpoint).

Training, transfer and sweeps record runs through :class:`RunRecorder` / :class:`RunDir`;
evaluate, compare and report read them with :func:`load_run` or :meth:`RunDir.open`; the split a run is
judged on is :func:`headline_split`'s answer (:mod:`.vocabulary`).
"""

from .rundir import (RunDir, RunRecorder, check_run_out, file_sha256, is_run_dir, load_checkpoint, load_run,
                     require_run_dir, save_checkpoint)
from .summary import DataInfo, Fold, Interval, Protocol, RunSummary, Selection, TargetInfo, Timings
from .vocabulary import HEADLINE_ORDER, Split, headline_split, shared_headline_split

__all__ = ["RunDir", "RunRecorder", "RunSummary", "check_run_out", "file_sha256", "is_run_dir", "load_checkpoint",
           "load_run", "require_run_dir", "save_checkpoint", "DataInfo", "Fold", "Interval", "Protocol", "Selection",
           "TargetInfo", "Timings", "HEADLINE_ORDER", "Split", "headline_split", "shared_headline_split"]
