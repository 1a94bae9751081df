"""``affectlab transfer CONFIG --source-run RUN_DIR --data TARGET --out RUN_DIR2 [--set k=v ...] [--seed N]``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .app import app
from .common import print_json, print_notes, say, stdout_to_stderr
from .tables import print_table


@app.command()
def transfer(
    config: Path = typer.Argument(..., help="Transfer config: a run config plus a 'transfer' section (see configs/mosi/transfer-text-encoder.yaml)."),
    source_run: Path = typer.Option(..., "--source-run", help="Run directory of the trained source model."),
    data: Path = typer.Option(..., "--data", help="Target data (read with CONFIG's data section)."),
    out: Path = typer.Option(..., "--out", help="Run directory to write (a normal run: 'affectlab predict' reads it)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a config key, e.g. transfer.k=200 (repeatable)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (K samples, training)."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Load pickles with arbitrary objects (unsafe: only for files you trust)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory at OUT."),
    json_out: bool = typer.Option(False, "--json", help="Print the run summary as one JSON object on stdout (progress goes to stderr)."),
) -> None:
    """Move a trained model onto another extractor's features with adapters; compare against honest alternatives."""
    from ..pipeline import Notes
    from ..transfer.config import load_transfer_config
    from ..transfer.run import transfer_run

    overrides = list(set_ or [])
    if trust_pickle:
        overrides.append("data.options.trust_pickle=true")
    cfg, t_cfg = load_transfer_config(config, overrides, seed=seed)
    notes = Notes()
    progress = None if quiet else (lambda msg: say(f"[dim]{escape(msg)}[/dim]", markup=True, err=True))
    with stdout_to_stderr(json_out):
        run_dir = transfer_run(cfg, t_cfg, source_run, data, out, notes=notes, progress=progress, overwrite=overwrite)
    from ..runs.rundir import RunDir

    summary = RunDir.open(run_dir).summary()
    print_notes(summary.warnings)
    if json_out:
        print_json({"run_dir": str(run_dir), **summary.to_dict()})
        return
    if summary.transfer_comparison:
        print_comparison(summary.transfer_comparison.model_dump(mode="json"))
    say(f"{summary.timings.total or 0:.1f} s; run directory: {run_dir}")


def print_comparison(report: dict) -> None:
    """The comparison table (values with 95% CIs) and the verdict lines."""
    from ..transfer.run import units_phrase

    wanted = (report.get("headline"), "mae", "pearson", "acc2_nozero", "acc7", "accuracy", "macro_f1")
    keys = [k for k in dict.fromkeys(wanted) if k and k in report["rows"]["adapted"]]
    table = Table(title=f"transfer comparison on {report['split']} (n={report['n']}, K={report['k']}, "
                        f"95% CI over {units_phrase(report)})")
    table.add_column("model")
    for k in keys:
        table.add_column(k, justify="right")
    for name, row in report["rows"].items():
        label = report["labels"][name]
        table.add_row(f"[bold]{label}[/bold]" if name == "adapted" else label,
                      *[f"{row[k]['value']:.3f} [{row[k]['ci_low']:.3f}, {row[k]['ci_high']:.3f}]" for k in keys])
    print_table(table)
    for line in report["verdict"]:
        say(f"- {line}")
    for f in report.get("findings") or []:  # ABOVE_STATE_OF_THE_ART of any comparison row
        say(f"- [bold]{f['code']}[/bold]: {escape(f['message'])}", markup=True)
