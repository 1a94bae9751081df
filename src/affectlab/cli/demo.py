"""``affectlab demo [--out DIR]``: the main job, end to end."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

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
    table = Table(title=f"Test metrics ({'real SemEval data' if result.source == 'semeval' else 'synthetic data'})")
    for column in ("users", "score", "r_composite valence", "r_composite arousal", "CCC valence", "CCC arousal"):
        table.add_column(column, justify="right")
    for label, prefix in (("all", ""), ("seen", "seen/"), ("unseen", "unseen/")):
        m = {k[len(prefix):]: v for k, v in result.metrics.items() if k.startswith(prefix)} if prefix else result.metrics
        if "score" in m:
            table.add_row(label, *(f"{m.get(k, float('nan')):.3f}" for k in
                                   ("score", "r_composite_valence", "r_composite_arousal", "ccc_valence", "ccc_arousal")))
    console.print(table)
    console.print(f"Predictions: {result.pred_csv}", highlight=False)
    console.print(f"Run directory: {result.run_dir}", highlight=False)
