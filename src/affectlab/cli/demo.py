"""``affectlab demo [--out DIR]``: the main job, end to end."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import print_json, say, stdout_to_stderr


@app.command()
def demo(
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the demo's files (default: a new temporary folder)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config to train (default: the SemEval default)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout (progress and notes go to stderr)."),
) -> None:
    """Train, predict and evaluate on SemEval data when cached, else on a synthetic corpus."""
    from ..demo import DEFAULT_CONFIG, run_demo

    folder = out or Path(tempfile.mkdtemp(prefix="affectlab-demo-"))
    with stdout_to_stderr(json_out):
        result = run_demo(folder, config or DEFAULT_CONFIG, say=say)
    if json_out:
        print_json({"source": result.source, "description": result.description, "run_dir": result.run_dir,
                    "train": result.train_csv, "test": result.test_csv, "gold": result.gold_csv,
                    "predictions": result.pred_csv, "evaluation": result.evaluation.to_dict()})
        return
    from .evaluate import print_result

    say(f"Evaluation of the test predictions ({'real SemEval data' if result.source == 'semeval' else 'synthetic data'}):")
    print_result(result.evaluation)
    say(f"Predictions: {result.pred_csv}")
    say(f"Run directory: {result.run_dir}")
