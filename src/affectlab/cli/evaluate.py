"""``affectlab evaluate --pred PRED.csv --gold GOLD [--train TRAIN] [--task ...] [--split NAME] [--json]`` or ``--run RUN_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from ..core.errors import AffectlabError
from .app import app
from .common import print_json, say, stdout_to_stderr
from .tables import print_table

_STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}


@app.command()
def evaluate(
    pred: Optional[Path] = typer.Option(None, "--pred", help="Prediction CSV (ids + pred_<target> columns)."),
    gold: Optional[Path] = typer.Option(None, "--gold", help="Gold labels: CSV, or an MMSA pickle for mosi."),
    train: Optional[Path] = typer.Option(None, "--train", help="Training file: enables baselines and leakage checks."),
    task: Optional[str] = typer.Option(None, "--task", help="a registered task: semeval, mosi, regression, classification, emodb (default: detected from the columns)."),
    run: Optional[Path] = typer.Option(None, "--run", help="Evaluate a run directory's predictions instead (adds run-level checks)."),
    split: Optional[str] = typer.Option(None, "--split", help="The split to score: with --run, of predictions.csv (default: the headline, test, else val, else oof); with --gold, of a gold file with a split column (default: the one split the predictions cover)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object (metrics, findings, ...) instead of tables."),
    resamples: int = typer.Option(1000, "--resamples", min=50, help="Bootstrap resamples for the 95% intervals."),
    seed: int = typer.Option(0, "--seed", min=0, help="Bootstrap seed."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Load pickles with arbitrary objects (unsafe: only for files you trust)."),
) -> None:
    """Metrics with 95% bootstrap intervals, baselines and diagnostic findings."""
    with stdout_to_stderr(json_out):
        result = _evaluate(pred, gold, train, task, run, split, resamples, seed, trust_pickle)
    if json_out:
        print_json(result.to_dict())
        return
    print_result(result)


def _evaluate(pred: Optional[Path], gold: Optional[Path], train: Optional[Path], task: Optional[str], run: Optional[Path],
              split: Optional[str], resamples: int, seed: int, trust_pickle: bool):  # noqa: ANN202 (EvalResult, imported lazily)
    from ..evaluation.evaluate import evaluate_files
    from ..runs.evaluate import evaluate_run
    from ..core.io import same_file

    if run is not None:
        if pred is not None or gold is not None or train is not None:
            raise AffectlabError("give either --run RUN_DIR or --pred/--gold, not both")
        result = evaluate_run(run, split, n_resamples=resamples, seed=seed)
    else:
        if pred is None or gold is None:
            raise AffectlabError("give --pred PRED.csv and --gold GOLD (or --run RUN_DIR)")
        if train is not None and same_file(train, gold):
            raise AffectlabError(f"--train and --gold are the same file ({gold}): baselines and leakage checks would "
                                 "be fitted on the labels they are scored against")
        if task is not None:
            from ..tasks import get_task

            get_task(task)  # one line listing the registered tasks
        result = evaluate_files(pred, gold, train, task, n_resamples=resamples, seed=seed, trust_pickle=trust_pickle,
                                split=split)
    return result


def print_result(result) -> None:  # noqa: ANN001 (EvalResult; imported lazily)
    """Rich tables: metrics with intervals, baselines, comparisons, findings."""
    where = f" ({result.split} split)" if result.split else ""
    unit = f"{result.n_groups} {result.unit} resampled" if result.n_groups else "rows resampled"
    table = Table(title=f"{result.task}{where}: {result.n} samples, 95% bootstrap CIs ({result.n_resamples} resamples, {unit})")
    for col in ("metric", "value", "95% CI"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    # seen/unseen subsets: only the first two keys the task shows, the JSON has every key
    subset_keys = result.shown_metrics(2, per_target=False)
    shown = [k for k in result.metrics if "/" not in k or k.split("/", 1)[1] in subset_keys]
    for key in shown:
        ci = result.metrics[key]
        style = "bold" if key == result.headline else None
        table.add_row(key, f"{ci.value:.4f}", f"[{ci.low:.4f}, {ci.high:.4f}]", style=style)
    print_table(table)
    if result.baselines:
        keys = [k for k in result.shown_metrics() if any(k in b for b in result.baselines.values())][:5]
        bt = Table(title="Baselines (same rows)")
        bt.add_column("baseline")
        for k in keys:
            bt.add_column(k, justify="right")
        bt.add_row("[bold]model[/bold]", *(f"{result.metrics[k].value:.4f}" if k in result.metrics else "" for k in keys))
        for name, scores in result.baselines.items():
            bt.add_row(name, *(f"{scores.get(k, float('nan')):.4f}" for k in keys))
        print_table(bt)
    if result.comparisons:
        ct = Table(title=f"Model minus baseline ({result.headline}), paired bootstrap")
        for col in ("baseline", "difference", "95% CI", "p"):
            ct.add_column(col, justify="right" if col != "baseline" else "left")
        for name, c in result.comparisons:
            ct.add_row(name, f"{c.diff:+.4f}", f"[{c.low:+.4f}, {c.high:+.4f}]", f"{c.p_value:.3g}")
        print_table(ct)
    if result.findings:
        ft = Table(title="Findings", show_lines=False)
        for col in ("severity", "code", "message"):
            ft.add_column(col)
        for f in result.findings:
            ft.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.code, Text(f.message))
        print_table(ft, prose=("message",))
    else:
        say("No findings.")
