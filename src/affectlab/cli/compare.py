"""``affectlab compare RUN_DIR... [--reference RUN | --all-pairs] [--criteria CRITERIA.yaml] [--json]``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .app import app
from .common import print_json, say, stdout_to_stderr
from .tables import print_table


def _fmt(v, missing: str = "") -> str:  # noqa: ANN001
    """A cell: floats to 4 places, NaN as ``nan`` (never blank: a blank hides a failure), None as ``missing``."""
    if v is None:
        return missing
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.4f}"
    return str(v)


def _ci(low, high) -> str:  # noqa: ANN001
    return "" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"


@app.command()
def compare(
    runs: List[Path] = typer.Argument(..., help="Run directories, oldest version first."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="The run every other run is paired with (a run directory or the name of a compared run; default: the first)."),
    all_pairs: bool = typer.Option(False, "--all-pairs", help="Pair every run with every other run instead of with the reference."),
    criteria: Optional[Path] = typer.Option(None, "--criteria", help="YAML: split, and levels (minimum/target/excellent) per score key."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    resamples: int = typer.Option(1000, "--resamples", min=50, help="Bootstrap resamples for the paired tests."),
    epochs: bool = typer.Option(True, "--epochs/--no-epochs", help="Show the epoch-progression table."),
) -> None:
    """Version table, config differences, paired tests, seed groups, epochs and a verdict."""
    from ..runs.compare import compare_runs

    with stdout_to_stderr(json_out):
        cmp = compare_runs(runs, criteria, n_resamples=resamples, reference=reference, all_pairs=all_pairs)
    if json_out:
        print_json(cmp.to_dict())
        return
    print_comparison(cmp, epochs)


def _thin(epochs: list[dict], keep: int = 12) -> list[dict]:
    """At most about ``keep`` rows per run: evenly spaced epochs plus the first, selected and last."""
    out = []
    runs = list(dict.fromkeys(e["run"] for e in epochs))
    for run in runs:
        rows = [e for e in epochs if e["run"] == run]
        step = max(1, -(-len(rows) // keep))
        out += [e for i, e in enumerate(rows) if i % step == 0 or e["best"] or i == len(rows) - 1]
    return out


def print_comparison(cmp, show_epochs: bool = True) -> None:  # noqa: ANN001
    """Rich tables for a :class:`~affectlab.runs.compare.Comparison`."""
    if cmp.versions:
        keys = [c for c in cmp.versions[0] if c not in ("run", "best_epoch", "n_params")
                and not c.startswith(("train ", "gap ", "oof ", "status ", "ci_low ", "ci_high "))]

        def some(prefix: str) -> bool:
            return any(row.get(f"{prefix} {k}") is not None for row in cmp.versions for k in keys)

        # cross-validation runs have no train split (each fold fits other rows): no train/gap columns when no
        # run has one; their pooled out-of-fold scores beside the test split instead
        train, oof = some("train"), some("oof")
        extra = ["train", "gap"] * train + ["oof (pooled)"] * oof
        gap = f"; gap = train − {cmp.split}" if train else ""
        t = Table(title=f"Versions ({cmp.task}, {cmp.split} split, 95% bootstrap CI{gap})")
        for c in ("run", "key", cmp.split, "95% CI", *extra, "status", "best epoch", "params"):
            t.add_column(c, justify="left" if c in ("run", "key", "status") else "right")
        for row in cmp.versions:
            for i, k in enumerate(keys):
                first = i == 0
                cells = [_fmt(row.get(f"train {k}"), "–"), _fmt(row.get(f"gap {k}"), "–")] * train
                cells += [_fmt(row.get(f"oof {k}"), "–")] * oof
                t.add_row(row["run"] if first else "", k, _fmt(row.get(k), "nan"),
                          _ci(row.get(f"ci_low {k}"), row.get(f"ci_high {k}")), *cells, row.get(f"status {k}", ""),
                          _fmt(row.get("best_epoch")) if first else "", _fmt(row.get("n_params")) if first else "",
                          end_section=i == len(keys) - 1)
        print_table(t, keep=2)
    if cmp.config_diff:
        t = Table(title="Config differences")
        t.add_column("key")
        for r in cmp.runs:
            t.add_column(r)
        for row in cmp.config_diff:
            t.add_row(row["key"], *(str(row.get(r, "")) for r in cmp.runs))
        print_table(t)
    if cmp.pairs:
        against = f"each run against {cmp.reference}" if cmp.reference else "all pairs"
        t = Table(title=f"Paired bootstrap on shared {cmp.split} samples (a − b; {against})")
        for c in ("a vs b", "key", "a", "b", "a − b", "95% CI", "p", "n"):
            t.add_column(c, justify="left" if c in ("a vs b", "key") else "right")
        for p in cmp.pairs:
            t.add_row(f"{p['a']} vs {p['b']}", p["key"], f"{p['a_value']:.3f}", f"{p['b_value']:.3f}", f"{p['diff']:+.3f}",
                      f"[{p['ci_low']:+.3f}, {p['ci_high']:+.3f}]", f"{p['p_value']:.2g}", str(p["n_shared"]),
                      style="bold" if p["key"] == cmp.headline else None)
        print_table(t, keep=2)
    if cmp.seed_groups:
        t = Table(title=f"Seed groups ({cmp.headline} on {cmp.split})")
        for c in ("runs", "seeds", "mean", "sd"):
            t.add_column(c)
        for g in cmp.seed_groups:
            t.add_row(", ".join(g["runs"]), ", ".join(map(str, g["seeds"])), f"{g['mean']:.4f}", f"{g['sd']:.4f}")
        print_table(t, prose=("runs", "seeds"))
        for gt in cmp.group_tests:
            say(f"{gt['a']} vs {gt['b']}: diff {gt['diff']:+.4f}, Welch t {gt['t']:.2f} p {gt['p_welch']:.3g}, "
                f"permutation p {gt['p_permutation']:.3g}")
    if show_epochs and cmp.epochs:
        t = Table(title="Epoch progression (monitored metric; * = selected epoch)")
        for c in ("run", "epoch", "train loss", "val loss", "train", "val", "gap"):
            t.add_column(c, justify="right")
        for e in _thin(cmp.epochs):
            t.add_row(e["run"], f"{e['epoch']}{'*' if e['best'] else ''}", _fmt(e["train_loss"]), _fmt(e["val_loss"]),
                      _fmt(e["train"]), _fmt(e["val"]), _fmt(e["gap"]))
        print_table(t)
    for n in cmp.notes:
        say(f"[yellow]note:[/yellow] {escape(n)}", markup=True)
    say("[bold]Verdict[/bold]", markup=True)
    for v in cmp.verdicts:
        say(f"- {v}")
