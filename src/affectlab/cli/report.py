"""``affectlab report RUN_DIR [--out report.html]``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import print_json, print_notes, say, stdout_to_stderr


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by 'affectlab train'."),
    out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default: RUN_DIR/report.html)."),
    resamples: int = typer.Option(1000, "--resamples", min=50, help="Bootstrap resamples for the intervals."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout (progress and notes go to stderr)."),
) -> None:
    """Write a self-contained HTML report: metrics, findings, baselines and the figures that fit the run."""
    from ..report import write_report

    notes: list[str] = []
    with stdout_to_stderr(json_out):
        path = write_report(run_dir, out, n_resamples=resamples, notes=notes)
    print_notes(notes)
    if json_out:
        print_json({"report": path, "run_dir": run_dir})
    else:
        say(f"wrote {path}")
