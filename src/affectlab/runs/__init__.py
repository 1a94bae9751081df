"""Run directories: config, per-epoch metrics, predictions, summary, checkpoint, report."""

from .rundir import RunDir, is_run_dir, load_checkpoint, require_run_dir, save_checkpoint

__all__ = ["RunDir", "is_run_dir", "load_checkpoint", "require_run_dir", "save_checkpoint"]
