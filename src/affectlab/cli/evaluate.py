"""``affectlab evaluate --pred PRED.csv --gold GOLD [--train TRAIN] [--task ...] [--json]``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import AffectlabError
from .app import app


@app.command()
def evaluate(
    pred: Optional[Path] = typer.Option(None, "--pred", help="Prediction CSV."),
    gold: Optional[Path] = typer.Option(None, "--gold", help="Gold labels (CSV)."),
) -> None:
    """Score predictions against gold labels (being written)."""
    raise AffectlabError("evaluate is not implemented yet")
