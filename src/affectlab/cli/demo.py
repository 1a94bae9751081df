"""``affectlab demo [--out DIR]``: the main job, end to end."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import console


@app.command()
def demo(
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the demo's files (default: a new temporary folder)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config to train (default: the SemEval default)."),
) -> None:
    """Train, predict and evaluate on SemEval data when cached, else on a synthetic corpus."""
    from ..demo import DEFAULT_CONFIG, run_demo

    folder = out or Path(tempfile.mkdtemp(prefix="affectlab-demo-"))
    result = run_demo(folder, config or DEFAULT_CONFIG, say=lambda line: console.print(line, highlight=False, soft_wrap=True))
    from .evaluate import print_result

    console.print(f"Evaluation of the test predictions ({'real SemEval data' if result.source == 'semeval' else 'synthetic data'}):",
                  highlight=False)
    print_result(result.evaluation)
    console.print(f"Predictions: {result.pred_csv}", highlight=False)
    console.print(f"Run directory: {result.run_dir}", highlight=False)
