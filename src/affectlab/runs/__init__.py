"""Run directories: the one reader and writer (config, metrics, predictions, summary, checkpoint).

Training, transfer and sweeps record runs through :class:`RunRecorder` / :class:`RunDir`;
evaluate, compare and report read them with :func:`load_run` or :meth:`RunDir.open`.
"""

from .rundir import (RunDir, RunRecorder, check_run_out, file_sha256, is_run_dir, load_checkpoint, load_run,
                     require_run_dir, save_checkpoint)
from .summary import DataInfo, Fold, Interval, Protocol, RunSummary, Selection, TargetInfo, Timings

__all__ = ["RunDir", "RunRecorder", "RunSummary", "check_run_out", "file_sha256", "is_run_dir", "load_checkpoint",
           "load_run", "require_run_dir", "save_checkpoint", "DataInfo", "Fold", "Interval", "Protocol", "Selection",
           "TargetInfo", "Timings"]
