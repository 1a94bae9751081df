"""``affectlab predict RUN_DIR --data PATH [--split NAME] --out PRED.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import print_json, print_notes, say, stdout_to_stderr


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A run directory written by 'affectlab train'."),
    data: Path = typer.Option(..., "--data", help="Data to predict (labels not needed)."),
    out: Path = typer.Option(..., "--out", help="Prediction CSV to write."),
    split: Optional[str] = typer.Option(None, "--split", help="Only this split of a multi-split file (e.g. test)."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Load pickles with arbitrary objects (unsafe: only for files you trust)."),
    trust_code: bool = typer.Option(False, "--trust-code", help="Import the module:Class a run names outside affectlab "
                                    "(its code runs: only for run directories you trust; env AFFECTLAB_TRUST_CODE=1)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout (progress and notes go to stderr)."),
) -> None:
    """Predict every sample of DATA with a trained run; write ids and pred_<target> columns."""
    from ..core.io import check_writable
    from ..runs.trust import require_trusted_run
    from ..pipeline import Notes, predict_run

    check_writable(out)  # a folder, or a read-only or unwritable place, is said before any work
    require_trusted_run(run_dir, trust_code)  # before anything is imported or read
    notes = Notes()
    with stdout_to_stderr(json_out):
        path, frame = predict_run(run_dir, data, out, split=split, notes=notes,
                                  data_options={"trust_pickle": True} if trust_pickle else None)
        print_notes(notes.lines)
    if json_out:
        print_json({"predictions": path, "n": len(frame), "columns": list(frame.columns), "split": split,
                    "nonfinite": frame.attrs.get("nonfinite", {}), "notes": notes.lines})
    else:
        say(f"wrote {len(frame)} predictions to {path}")
