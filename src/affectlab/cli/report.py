"""``affectlab report RUN_DIR [--out report.html]``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import console


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by 'affectlab train'."),
    out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default: RUN_DIR/report.html)."),
    resamples: int = typer.Option(1000, "--resamples", min=50, help="Bootstrap resamples for the intervals."),
) -> None:
    """Write a self-contained HTML report: curves, scatter, trajectories, residuals, findings, baselines."""
    from ..report import write_report

    path = write_report(run_dir, out, n_resamples=resamples)
    console.print(f"wrote {path}", highlight=False)
