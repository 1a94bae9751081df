"""``affectlab ablate BASE.yaml NEW.yaml --data PATH --seeds K --out DIR [--workers N] [--storage URL]``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .app import app
from .common import print_json, say, stdout_to_stderr
from .tables import print_table


@app.command()
def ablate(
    base: Path = typer.Argument(..., help="The older config (BASE)."),
    new: Path = typer.Argument(..., help="The newer config (NEW)."),
    data: Path = typer.Option(..., "--data", help="Training data."),
    out: Path = typer.Option(..., "--out", help="Folder for the variant configs, trial run directories, study and report."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per variant (model and split seed 1..K); 1 gives no interval."),
    workers: int = typer.Option(1, "--workers", help="Trial processes to run at once on this machine."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage URL (default sqlite:///OUT/optuna.db); machines sharing one split the trials."),
    study_name: Optional[str] = typer.Option(None, "--study", help="Study name (default: derived from the two configs)."),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples for the intervals."),
    report_only: bool = typer.Option(False, "--report-only", help="Train nothing: report from the run directories already under OUT."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout (progress and notes go to stderr)."),
) -> None:
    """Which change did it? Every single change between two configs, on K seeds, with paired intervals."""
    from ..ablate import effect_rows, result_dict, run_ablation
    from ..core.errors import AffectlabError

    if seeds < 1:
        raise AffectlabError(f"--seeds {seeds}: must be at least 1")
    if workers < 1:
        raise AffectlabError(f"--workers {workers}: must be at least 1")
    if resamples < 50:
        raise AffectlabError(f"--resamples {resamples}: must be at least 50")

    def warn(line: str) -> None:
        say(f"[yellow]warning:[/yellow] {escape(line)}", markup=True, err=True)

    with stdout_to_stderr(json_out):
        result = run_ablation(base, new, data, out, seeds=seeds, workers=workers, storage=storage, study_name=study_name,
                              n_resamples=resamples, report_only=report_only,
                              say=lambda line: say(line, err=json_out), warn=warn)
    if json_out:
        print_json(result_dict(result))
        return
    rep = result.report
    t = Table(title=f"Ablation {result.plan.base_name} → {result.plan.new_name}: {rep['metric']} on {rep['split']}, "
                    f"mean over seeds (paired bootstrap: seeds × {rep['resampled']})")
    for c in ("contrast", "change", "effect", "95% CI", "p", "seeds", "verdict"):
        t.add_column(c, justify="right" if c in ("effect", "95% CI", "p", "seeds") else "left")
    for row in effect_rows(result):
        t.add_row(*map(escape, row))
    print_table(t, keep=1, prose=("verdict",))
    m = Table(title=f"{rep['metric']} per config")
    for c in ("config", "mean", "per seed"):
        m.add_column(c, justify="left" if c == "config" else "right")
    for name, v in rep["means"].items():
        m.add_row(escape(name), f"{v:.4f}", ", ".join("not run" if x is None else f"{x:.4f}" for x in rep["per_seed"][name]))
    print_table(m)
    say("interaction = total − sum of the single effects; effect = metric with the change − without it")
    for line in result_dict(result)["words"]:
        say(f"- {line}")
    say(f"{result.wall_seconds:.0f} s; report: {out / 'ablation.md'} and {out / 'ablation.json'}")
