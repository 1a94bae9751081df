"""``affectlab sweep CONFIG --space SPACE.yaml --trials N --data PATH --out DIR [--storage URL] [--seeds K]``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import app
from .common import print_json, say, stdout_to_stderr


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="Base YAML config."),
    space: Path = typer.Option(..., "--space", help="Search space YAML: per dotted key, type float/int/categorical and low/high/log or choices."),
    data: Path = typer.Option(..., "--data", help="Training data."),
    out: Path = typer.Option(..., "--out", help="Folder for trial run directories and the study."),
    trials: int = typer.Option(20, "--trials", min=1, help="Number of trials (this process)."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage URL (default sqlite:///OUT/optuna.db); a shared database spreads a sweep over machines."),
    seeds: int = typer.Option(0, "--seeds", min=0, help="Re-run the best config on this many seeds."),
    study_name: Optional[str] = typer.Option(None, "--study", help="Study name (default: the config's file name)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Fixed override for every trial: key=value (repeatable)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout (progress and notes go to stderr)."),
) -> None:
    """Optuna search over config keys, scored on validation or out-of-fold predictions (never test);
    the best config trained in full (OUT/best) and re-run on K seeds."""
    from ..sweep import run_sweep

    import dataclasses

    import numpy as np

    with stdout_to_stderr(json_out):
        result = run_sweep(config, space, data, out, trials=trials, storage=storage, seeds=seeds, study_name=study_name,
                           overrides=list(set_ or []), say=say)
    v = np.asarray(result.seed_values, float)
    seed_mean = float(v.mean()) if len(v) else None
    seed_sd = float(v.std(ddof=1)) if len(v) > 1 else (0.0 if len(v) else None)
    if json_out:
        print_json({**dataclasses.asdict(result), "seed_mean": seed_mean, "seed_sd": seed_sd, "out": out})
        return
    say(f"best trial {result.best_trial}: {result.split} {result.monitor} = {result.best_value:.4f} with {result.best_params}")
    say(f"best config trained in full (refitted on all data, the run to predict with): {result.final_run}")
    if len(v):
        say(f"best config on {len(v)} seeds: {seed_mean:.4f} ± {seed_sd:.4f}")
    say(f"study: {result.storage} ({result.study_name}); runs under {out}")
