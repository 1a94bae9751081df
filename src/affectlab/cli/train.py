"""``affectlab train CONFIG (--data PATH | --media DIR --labels CSV) --out RUN_DIR [--set k=v ...] [--seed N | --seeds 1,2,3]``."""

from __future__ import annotations

import math

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence

import numpy as np
import typer
from rich.table import Table

from ..experiment import resolve
from ..core.errors import AffectlabError
from ..runs.summary import RunSummary
from ..runs.vocabulary import Split
from .app import app
from .common import print_json, print_notes, say, stdout_to_stderr
from .tables import print_table

if TYPE_CHECKING:
    from ..runs.tracking import LiveRun


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` → ``[1, 2, 3]`` (one-line error otherwise)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise AffectlabError(f"--seeds {text!r}: expected comma-separated integers such as 1,2,3") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise AffectlabError(f"--seeds {text!r}: expected distinct integers")
    return seeds


@app.command()
def train(
    config: Path = typer.Argument(..., help="YAML config (see configs/)."),
    data: Optional[List[Path]] = typer.Option(None, "--data", help="Training data (CSV, Parquet, MMSA pickle...); repeat it for several corpora (split.kind: cross_corpus trains on the first, tests on the others; docs/protocols.md)."),
    media: Optional[Path] = typer.Option(None, "--media", help="A folder of recordings: extracted now (cached) with the "
                                         "config's extract: settings, then trained on (instead of --data)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="With --media: the CSV naming its files, groups and targets."),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a config key: key.sub=value (repeatable)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (overrides the config)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Several seeds, e.g. 1,2,3,4,5: one run directory each (OUT/seed-N), mean and sd reported."),
    devices: Optional[int] = typer.Option(None, "--devices", help="Number of devices (processes on CPU)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Lightning strategy, e.g. ddp."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed training from OUT/lightning/last.ckpt (refused in one line when there is none)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory at OUT (once the new run is trained)."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Load pickles with arbitrary objects (unsafe: only for files you trust)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch lines."),
    mlflow: bool = typer.Option(False, "--mlflow", help="Log the run to MLflow while it trains (per-epoch metrics, then final metrics with CIs and the files); store: --mlflow-uri, else $MLFLOW_TRACKING_URI, else one SQLite store in the cache (docs/tracking.md)."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="MLflow tracking URI (implies --mlflow)."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="MLflow experiment name (implies --mlflow; default: the config's tracking.experiment, 'affectlab')."),
    json_out: bool = typer.Option(False, "--json", help="Print the run summary as one JSON object on stdout (progress goes to stderr)."),
) -> None:
    """Train a model; select on validation; write a run directory."""
    with stdout_to_stderr(json_out):
        report = _train(config, data, out, set_, seed, seeds, devices, strategy, resume, overwrite, trust_pickle,
                        quiet, mlflow or experiment is not None, mlflow_uri, json_out, experiment, media, labels)
    if json_out and report is not None:
        print_json(report)


def _train(config: Path, data: "Path | List[Path] | None", out: Path, set_: Optional[List[str]], seed: Optional[int], seeds: Optional[str],
           devices: Optional[int], strategy: Optional[str], resume: bool, overwrite: bool, trust_pickle: bool,
           quiet: bool, mlflow: bool, mlflow_uri: Optional[str], json_out: bool,
           experiment: Optional[str] = None, media: Optional[Path] = None, labels: Optional[Path] = None) -> dict | None:
    """Train every seed; print tables (not with ``--json``); return the ``--json`` object (None on DDP ranks > 0)."""
    from ..pipeline import Notes, train_run
    from ..runs.rundir import RunDir, check_run_out
    from . import train_media

    train_media.check_sources(data, media, labels)
    overrides = list(set_ or [])
    if devices is not None:
        overrides.append(f"training.devices={devices}")
    if strategy is not None:
        overrides.append(f"training.strategy={strategy}")
    if trust_pickle:
        overrides.append("data.options.trust_pickle=true")
    if seed is not None and seeds is not None:
        raise AffectlabError("give --seed or --seeds, not both")
    seed_list = parse_seeds(seeds) if seeds else [seed]
    if experiment is not None:
        overrides.append(f"tracking.experiment={experiment}")
    # every config and every output folder is checked before the first (slow) step
    experiments = [resolve(config, overrides, seed=s) for s in seed_list]  # every check, once per seed
    configs = [exp.config for exp in experiments]
    if mlflow or mlflow_uri:  # a missing extra is said now, not after the training
        from ..core.extras import module_available

        if not module_available("mlflow"):
            raise AffectlabError("--mlflow needs the 'track' extra (mlflow missing): pip install 'affectlab[track]'")
    if seeds and out.exists() and not out.is_dir():
        raise AffectlabError(f"{out}: exists and is a file, not a folder; give a folder for the run directories")
    outs = [out / f"seed-{s}" if seeds else out for s in seed_list]
    for exp, run_out in zip(experiments, outs):
        if not _is_child_rank():  # DDP ranks > 0 re-run this command while rank 0 trains
            check_run_out(run_out, overwrite=overwrite, resume=resume)
            if resume:  # every seed's checkpoints, before the first seed trains (issue 21)
                from ..training.fit import check_resume_settings

                check_resume_settings(run_out, exp.training, exp.seed, exp.monitor)
    if media is not None and labels is not None:  # checked whole before extracting; the pickle lives in the cache
        data = train_media.extract(train_media.plan(config, configs[0], media, labels), quiet)
    assert data is not None
    results = []
    reports = []
    for exp, run_out in zip(experiments, outs):
        cfg = exp.config
        notes = Notes()

        def on_epoch(epoch: int, row: dict) -> None:
            if quiet:
                return
            monitor = f"val_{cfg.training.monitor}"
            shown = [f"epoch {epoch:3d}", f"loss {row.get('train_loss', float('nan')):.4f}"]
            for key in (monitor, "val_score", "val_ccc", "val_mae"):
                if key in row and key not in [s.split(' ')[0] for s in shown]:
                    shown.append(f"{key} {row[key]:.4f}")
            say("  ".join(dict.fromkeys(shown)))

        with _tracked(mlflow or mlflow_uri is not None, mlflow_uri, cfg, run_out) as live:
            run_dir = train_run(exp, _one_or_several(data), run_out, resume=resume, overwrite=overwrite and not _is_child_rank(),
                                on_epoch=on_epoch, notes=notes)
            if live is not None and run_dir is not None:
                live.finish(run_dir)
        if run_dir is None:  # a non-zero DDP rank: rank 0 reports
            return None
        print_notes(notes.lines)
        summary = RunDir.open(run_dir).summary()
        results.append(summary)
        report = {"run_dir": str(run_dir), **summary.to_dict()}
        if not json_out:
            _print_summary(summary, run_dir)
        if live is not None:
            report["mlflow"] = {"tracking_uri": live.uri, "experiment": live.experiment, "run_id": live.run_id}
            say(f"logged to MLflow: {live.uri}, experiment {live.experiment!r}, run id {live.run_id}")
        reports.append(report)
    if len(results) > 1:
        if not json_out:
            _print_seed_table(results, seed_list, configs[0].split.kind)
        return {"seeds": seed_list, "varied": _varied(results, configs[0].split.kind),
                "mean_sd": _seed_stats(results), "runs": reports}
    return reports[0]


def _one_or_several(data: "Path | List[Path]") -> "Path | List[Path]":
    """One ``--data`` as itself (every run as before), several as the list of sources."""
    if isinstance(data, list):
        return data[0] if len(data) == 1 else data
    return data


@contextlib.contextmanager
def _tracked(enabled: bool, uri: Optional[str], cfg, run_out: Path) -> Iterator["LiveRun | None"]:  # noqa: ANN001
    """A live MLflow run around one training (rank 0 only), or nothing."""
    if not enabled or _is_child_rank():
        yield None
        return
    from ..runs.tracking import live_run

    name = f"{cfg.name}/{run_out.name}" if cfg.name else run_out.name
    tags = {"affectlab.task": cfg.task, "affectlab.model": cfg.model.name, "affectlab.run_dir": str(run_out.resolve())}
    with live_run(uri, cfg.tracking.experiment, name, cfg.to_dict(), tags) as live:
        yield live


def _is_child_rank() -> bool:
    """True in the processes Lightning starts for DDP ranks other than 0 (they re-run this command)."""
    return os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0"


#: splits shown, in order (``oof``: pooled out-of-fold predictions of a cross-validation run)
SPLITS = (Split.TRAIN, Split.VAL, Split.TEST, Split.OOF)


def _print_summary(summary: RunSummary, run_dir: Path) -> None:
    name = _display_name(summary.model)
    table = Table(title=f"{name} ({summary.task}) and baselines on the same rows", show_lines=False)
    table.add_column("model")
    keys = _headline_keys(summary)
    splits = [split.value for split in SPLITS if split.value in summary.metrics]
    for split in splits:
        for k in keys:
            table.add_column(f"{split}\n{k}", justify="right")
    seconds = _fit_seconds(summary)
    if seconds:
        table.add_column("fit\ns", justify="right")
    rows = [(f"[bold]{name}[/bold]", summary.metrics, summary.timings.fit)] + \
        [(b, metrics, summary.baseline_fit_seconds.get(b)) for b, metrics in summary.baselines.items()]
    for label, metrics, fit_seconds in rows:
        cells = [label]
        for split in splits:
            cells += [_fmt(metrics.get(split, {}).get(k)) for k in keys]
        if seconds:
            cells.append(_seconds(fit_seconds))
        table.add_row(*cells)
    print_table(table, groups=[None] + [split for split in splits for _ in keys] + (["seconds"] if seconds else []))
    for note in summary.nan_notes(splits=splits, keys=keys):  # a NaN in the table says why
        say(note)
    if summary.protocol is not None:
        p = summary.protocol
        line = f"{p.kind}: {p.n_folds} folds; scores of the pooled out-of-fold predictions"
        ci = (summary.cis or {}).get("pooled", {}).get(keys[0]) if keys else None
        if ci is not None and math.isfinite(ci.value):
            line += f"; {keys[0]} {ci.value:.3f} [{_fmt(ci.low)}, {_fmt(ci.high)}] (95% CI)"
        say(line)
    elif summary.epochs_run:
        say(f"best epoch {summary.best_epoch} of {summary.epochs_run}")
    cross = (summary.model_extra or {}).get("cross_corpus")
    if isinstance(cross, dict) and keys:
        say(cross_corpus_line(cross, keys[0]))
    chosen = summary.selection_line()  # the C (penalty...) selection chose, per fold and for the final model
    if chosen:
        say(chosen)
    mixed = summary.layer_weights_line()  # what an mlp with layer_weights learned
    if mixed:
        say(mixed)
    total = summary.timings.total
    say(f"{_fmt(total, 1)} s; run directory: {run_dir}")


def cross_corpus_line(cross: dict, key: str) -> str:
    """Within- and cross-corpus scores side by side (summary.json's ``cross_corpus``), in one line.

    >>> cross_corpus_line({"within": {"corpora": ["emodb"], "cis": {"uar": {"value": 0.9, "ci_low": 0.85, "ci_high": 0.95}}},
    ...                    "cross": {"corpora": ["urdu"], "cis": {"uar": {"value": 0.6, "ci_low": 0.5, "ci_high": 0.7}}},
    ...                    "normalisation": "corpus"}, "uar")
    'within-corpus (LOSO in emodb) uar 0.900 [0.850, 0.950]; cross-corpus (urdu) uar 0.600 [0.500, 0.700]; drop 0.300; normalisation: corpus (95% CIs over speakers of the corpus scored)'
    """
    def part(which: str) -> tuple[str, float | None]:
        ci = cross[which].get("cis", {}).get(key) or {}
        value = ci.get("value")
        return (f"{key} {_fmt(value)} [{_fmt(ci.get('ci_low'))}, {_fmt(ci.get('ci_high'))}]", value)

    (within, w), (crossed, c) = part("within"), part("cross")
    drop = f"; drop {w - c:.3f}" if w is not None and c is not None else ""
    return (f"within-corpus (LOSO in {', '.join(cross['within'].get('corpora', []))}) {within}; cross-corpus "
            f"({', '.join(cross['cross'].get('corpora', []))}) {crossed}{drop}; normalisation: "
            f"{cross.get('normalisation', 'global')} (95% CIs over speakers of the corpus scored)")


def _fit_seconds(summary: RunSummary) -> bool:
    """Whether the run recorded fit seconds (the model's or a baseline's): the table's ``fit s`` column
    (under cross-validation all folds' fits together; runs before it was recorded show none)."""
    return summary.timings.fit is not None or bool(summary.baseline_fit_seconds)


def _seconds(value: float | None) -> str:
    """Seconds for the table: ``-`` when not recorded, two decimals below 10 s, one above.

    >>> _seconds(None), _seconds(0.0123), _seconds(42.26)
    ('-', '0.01', '42.3')
    """
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _display_name(model: str) -> str:
    """``module:Class`` models by their class name (the table stays readable); others as named."""
    return model.rsplit(":", 1)[-1].rsplit(".", 1)[-1] if ":" in model else model


def _fmt(value: float | None, digits: int = 3) -> str:
    return "nan" if value is None else f"{value:.{digits}f}"


def _headline_keys(summary: RunSummary) -> list[str]:
    """Up to four keys: what the task shows for the run's targets (:meth:`Task.shown_metrics`),
    as far as the run has them."""
    from ..tasks import TASKS, get_task

    have = {k for values in summary.metrics.values() for k in values}
    task = get_task(summary.task if summary.task in TASKS else "regression")
    return [k for k in task.shown_metrics(summary.target_specs()) if k in have][:4] or sorted(have)[:4]


def _seed_stats(results: list[RunSummary]) -> dict[str, dict[str, dict[str, float]]]:
    """``{split: {key: {"mean", "sd"}}}`` over the seeds, for the headline keys and splits every run has."""
    keys = _headline_keys(results[0])
    stats: dict[str, dict[str, dict[str, float]]] = {}
    for split in (s.value for s in SPLITS if s is not Split.TRAIN):
        if all(split in r.metrics for r in results):
            stats[split] = {}
            for k in keys:
                vals = np.array([np.nan if (v := r.metric(split, k)) is None else v for r in results], dtype=float)
                stats[split][k] = {"mean": float(np.nanmean(vals)), "sd": float(np.nanstd(vals, ddof=1))}
    return stats


def _varied(results: list[RunSummary], split_kind: str) -> str | None:
    from ..protocols import seed_variation

    protocol = results[0].protocol
    return protocol.varied if protocol is not None else seed_variation(split_kind, bool(results[0].epochs_run))


def _print_seed_table(results: list[RunSummary], seeds: Sequence[int | None], split_kind: str) -> None:
    keys = _headline_keys(results[0])
    table = Table(title=f"{len(seeds)} seeds: mean ± sd")
    table.add_column("split")
    for k in keys:
        table.add_column(k, justify="right")
    for split, values in _seed_stats(results).items():
        table.add_row(split, *(f"{values[k]['mean']:.3f} ± {values[k]['sd']:.3f}" for k in keys))
    print_table(table)
    say(f"what differed between the seeds: {_varied(results, split_kind)}")
