"""A self-contained HTML report of one run directory, and its figures as files for a paper.

Sections: metrics with 95% bootstrap intervals, diagnostic findings, baselines, learning
curves, predicted vs gold, per-user (or per-video) trajectories and residuals for regression
targets, and a confusion matrix (counts and row-normalised) for each category target. The page
embeds every figure as a PNG (no external file, script or font is referenced, so it renders
offline and can be mailed); :func:`write_report` also writes each figure as SVG, PDF and PNG
(150 dpi) into ``figures/`` beside the page. How each figure is drawn: :mod:`affectlab.report.figures`.

>>> from affectlab.report import FIGURES
>>> FIGURES[0]
'learning curves'
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import AffectlabError
from ..tasks import get_task
from ..evaluation.bootstrap import N_RESAMPLES
from ..evaluation.diagnostics import Finding
from ..runs.evaluate import epoch_history, evaluate_run, pick_split, run_specs, run_summary, run_targets
from ..runs.rundir import load_run
from ..runs.summary import RunSummary
from ..core.io import write_bytes, write_text
from . import figures as fg

#: alt texts of the figures, in page order (tests look for them)
FIGURES = ("learning curves", "predicted vs gold", "trajectories", "residuals")
#: alt text of each category target's confusion matrix (``confusion matrix: <target>``)
CONFUSION = "confusion matrix"
#: the folder beside the page that holds the figure files
FIGURE_DIR = "figures"
#: file names (without suffix) of the figures in :data:`FIGURES`
FIGURE_FILES = dict(zip(FIGURES, ("learning-curves", "predicted-vs-gold", "trajectories", "residuals")))
_SEV_COLOUR = {"info": "#2b6cb0", "warning": "#b7791f", "error": "#c53030"}


def _img(alt: str, data: str, name: str) -> str:
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)} '
            f'(also {FIGURE_DIR}/{html.escape(name)}.svg, .pdf and .png)</figcaption></figure>')


def _table(rows: list[list[Any]], header: list[str], cls: str = "") -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if not np.isfinite(v) else f"{v:.4f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#1a202c;background:#fff}
h1{font-size:1.6em}h2{border-bottom:1px solid #cbd5e0;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #cbd5e0;padding:.25em .6em;text-align:right}
th{background:#edf2f7}td:first-child,th:first-child{text-align:left}
.findings td,.findings th{text-align:left}figure{margin:1em 0}img{max-width:100%;border:1px solid #e2e8f0}
figcaption{color:#4a5568;font-size:.85em}.meta{color:#4a5568}
"""


def _run_facts(summary: RunSummary) -> str:
    """Best epoch, parameters, total time and the hyper-parameters selection chose; for cross-validation also
    the protocol and fold count.

    >>> _run_facts(RunSummary(best_epoch=3, epochs_run=5, n_params=10))
    'best epoch 3 of 5; 10 parameters; total time nan s'
    >>> cv = RunSummary.from_dict({"protocol": {"kind": "kfold", "n_folds": 5}, "timings": {"total": 2}})
    >>> _run_facts(cv).split("; ")
    ['kfold cross-validation, 5 folds (pooled out-of-fold predictions)', 'no epochs (closed-form fit)', 'None parameters', 'total time 2.0 s']
    >>> _run_facts(RunSummary.from_dict({"fit": {"fit": {"alpha": [10.0]}, "refit": {"alpha": [1.0]}}})).split("; ")[-2:]
    ['selected alpha 10', 'refit on all data: alpha 1']
    """
    total = summary.timings.total
    epochs = f"best epoch {summary.best_epoch} of {summary.epochs_run}" if summary.epochs_run else "no epochs (closed-form fit)"
    facts = f"{epochs}; {summary.n_params} parameters; total time {float('nan') if total is None else total:.1f} s"
    chosen = summary.selection_line()  # the hyper-parameters selection chose (C per fold and for the refit...)
    if chosen:
        facts = f"{facts}; {chosen}"
    protocol = summary.protocol
    if protocol is None:
        return facts
    return f"{protocol.kind} cross-validation, {protocol.n_folds} folds (pooled out-of-fold predictions); {facts}"


def history_problem(history: Any, summary: RunSummary) -> str | None:
    """Why a ``metrics.csv`` that is there gives no learning curve (None when it gives one, or is absent).

    >>> import pandas as pd
    >>> history_problem(pd.DataFrame({"xq": ["a"]}), RunSummary())
    "metrics.csv has no 'epoch' column (columns: xq): it is not the per-epoch history affectlab writes, so the learning curves are left out"
    >>> history_problem(pd.DataFrame({"epoch": [1], "train_loss": [0.5]}), RunSummary()) is None
    True
    """
    if history is None:
        return None
    columns = [str(c) for c in history.columns]
    shown = ", ".join(columns[:6]) + (f" and {len(columns) - 6} more" if len(columns) > 6 else "")
    if "epoch" not in columns:
        return (f"metrics.csv has no 'epoch' column (columns: {shown}): it is not the per-epoch history affectlab "
                "writes, so the learning curves are left out")
    if not any(c.endswith("loss") or c.startswith(("train_", "val_")) for c in columns):
        return (f"metrics.csv has epochs but no loss, train_ or val_ column (columns: {shown}), so the learning "
                "curves are empty")
    return None


def render(run_dir: str | Path, *, n_resamples: int = N_RESAMPLES, seed: int = 0,
           formats: tuple[str, ...] = ("png", "svg", "pdf"),
           notes: list[str] | None = None) -> tuple[str, dict[str, dict[str, bytes]]]:
    """The report page of a run directory as an HTML string, and its figures
    ``{file name: {format: bytes}}`` in ``formats`` (PNG always: the page embeds it).

    ``notes`` collects one-line notes for the user (e.g. a ``metrics.csv`` the curves cannot use,
    also a HISTORY_UNUSABLE finding on the page)."""
    formats = ("png", *[f for f in formats if f != "png"])
    import matplotlib

    matplotlib.use("Agg")
    run = load_run(run_dir)
    if run["predictions"] is None:
        raise AffectlabError(f"{run['path']}: no predictions.csv to report on")
    summary = run_summary(run)
    targets = run_targets(run)
    pred = run["predictions"]
    split = pick_split(pred, targets).value  # the headline split with gold labels
    part = pred[pred["split"] == split].reset_index(drop=True)
    result = evaluate_run(run_dir, split, n_resamples=n_resamples, seed=seed)
    monitor = summary.selection.monitor or result.headline
    unit = get_task(result.task).unit
    problem = history_problem(run["history"], summary)
    if problem is not None:  # said on the page and on stderr, never a silently missing figure
        result.findings.insert(0, Finding("HISTORY_UNUSABLE", "warning", problem))
        if notes is not None:
            notes.append(f"{run['path']}/{problem}")
    files: dict[str, dict[str, bytes]] = {}

    def figure(alt: str, name: str, fig) -> str:  # noqa: ANN001
        files[name] = fg.encode(fig, formats)
        return _img(alt, base64.b64encode(files[name]["png"]).decode("ascii"), name)

    title = f"{summary.model or '?'} — {run['config'].get('name') or Path(run['path']).name}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    parts.append(f"<p class='meta'>task {html.escape(str(result.task))}; evaluated split <b>{split}</b>: {result.n} samples"
                 f"{f', {result.n_groups} {unit}s' if result.n_groups else ''}; {_run_facts(summary)}; "
                 f"run directory {html.escape(str(run['path']))}</p>")

    parts.append("<h2>Metrics (95% bootstrap intervals)</h2>")
    subset_keys = result.shown_metrics(2, per_target=False)  # seen/unseen subsets: the first keys the task shows
    shown = [k for k in result.metrics if "/" not in k or k.split("/", 1)[1] in subset_keys]
    parts.append(_table([[k, result.metrics[k].value, result.metrics[k].low, result.metrics[k].high] for k in shown],
                        ["metric", "value", "CI low", "CI high"]))
    parts.append(f"<p class='meta'>{result.n_resamples} resamples of {result.unit}.</p>")

    parts.append("<h2>Diagnostics</h2>")
    if result.findings:
        rows = "".join(f"<tr><td style='color:{_SEV_COLOUR[f.severity]};font-weight:600'>{f.severity}</td><td>{f.code}</td>"
                       f"<td>{html.escape(f.message)}</td></tr>" for f in result.findings)
        parts.append(f"<table class='findings'><thead><tr><th>severity</th><th>code</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        parts.append("<p>No findings.</p>")

    parts.append("<h2>Baselines</h2>")
    keys = result.shown_metrics(5)
    brows = [["model", *[result.metrics[k].value if k in result.metrics else float("nan") for k in keys]]]
    brows += [[name, *[s.get(k, float("nan")) for k in keys]] for name, s in result.baselines.items()]
    if summary.timings.fit is not None or summary.baseline_fit_seconds:  # each one's fit time (all folds together)
        fit = [summary.timings.fit, *[summary.baseline_fit_seconds.get(name) for name in result.baselines]]
        brows = [[*row, "" if s is None else f"{s:.2f}"] for row, s in zip(brows, fit)]
        parts.append(_table(brows, ["", *keys, "fit s"]))
    else:
        parts.append(_table(brows, ["", *keys]))
    if result.comparisons:
        parts.append(_table([[n, c.diff, c.low, c.high, c.p_value] for n, c in result.comparisons],
                            ["model − baseline", f"Δ {result.headline}", "CI low", "CI high", "p"]))

    with fg.style():
        parts.append("<h2>Learning curves</h2>")
        history = epoch_history(run["history"]) if run["history"] is not None else None
        parts.append(figure(FIGURES[0], FIGURE_FILES[FIGURES[0]],
                            fg.learning_curves(history, monitor, summary.best_epoch, summary)))
        specs = run_specs(run)
        numeric = [s.name for s in specs if not s.is_category]  # the scatter-type figures need numbers
        if numeric:
            parts.append(f"<h2>Predicted vs gold ({split})</h2>")
            parts.append("<p class='meta'>Gold values with few levels: one box per level (median, quartiles, 1.5 IQR "
                         "whiskers), the mean prediction joined by a line, the number of samples at the bottom; "
                         "r and CCC of all pairs in each panel.</p>")
            parts.append(figure(FIGURES[1], FIGURE_FILES[FIGURES[1]], fg.predicted_vs_gold(part, numeric)))
            ranges = {s.name: (s.low, s.high) for s in specs if s.low is not None and s.high is not None and s.high > s.low}
            traj, x_label = fg.trajectories(part, numeric, unit, ranges)
            parts.append(f"<h2>Per-{unit} trajectories ({split}; the {unit}s with most samples; x axis: {x_label})</h2>")
            parts.append(figure(FIGURES[2], FIGURE_FILES[FIGURES[2]], traj))
            parts.append(f"<h2>Residuals ({split})</h2>")
            parts.append("<p class='meta'>Predicted − gold against the prediction, with its mean in bins of the "
                         "prediction (integer gold puts the points on one line per gold level); below, per gold "
                         "level or as a histogram.</p>")
            parts.append(figure(FIGURES[3], FIGURE_FILES[FIGURES[3]], fg.residuals(part, numeric)))
        for spec in (s for s in specs if s.is_category and s.classes):
            parts.append(f"<h2>Confusion matrix: {html.escape(spec.name)} ({split}; rows true, columns predicted)</h2>")
            parts.append(figure(f"{CONFUSION}: {spec.name}", f"confusion-{_slug(spec.name)}", fg.confusion_matrix(part, spec)))
    parts.append("</body></html>")
    return "\n".join(parts), files


def _slug(name: str) -> str:
    """A file-name-safe form of a target name.

    >>> _slug("emotion (7 classes)")
    'emotion-7-classes'
    """
    return "-".join("".join(c if c.isalnum() or c in "_." else " " for c in name).split()) or "target"


def render_report(run_dir: str | Path, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> str:
    """The report page of a run directory as an HTML string (figures embedded)."""
    return render(run_dir, n_resamples=n_resamples, seed=seed, formats=("png",))[0]


def write_report(run_dir: str | Path, out: str | Path | None = None, *, n_resamples: int = N_RESAMPLES, seed: int = 0,
                 notes: list[str] | None = None) -> Path:
    """Write ``report.html`` (default: inside the run directory) and its figures into ``figures/``
    beside it (SVG, PDF, PNG), each file atomically, once everything is drawn."""
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    if path.is_dir():  # said before any work, and before any figure file is written
        raise AffectlabError(f"{path}: is a folder; give the HTML file to write")
    if (path.parent / FIGURE_DIR).exists() and not (path.parent / FIGURE_DIR).is_dir():
        raise AffectlabError(f"{path.parent / FIGURE_DIR}: is a file; the report writes its figures into that folder")
    page, files = render(run_dir, n_resamples=n_resamples, seed=seed, notes=notes)
    for name, formats in files.items():
        for fmt, data in formats.items():
            write_bytes(path.parent / FIGURE_DIR / f"{name}.{fmt}", data)
    write_text(path, page)
    return path


__all__ = ["CONFUSION", "FIGURES", "FIGURE_DIR", "FIGURE_FILES", "history_problem", "render", "render_report", "write_report"]
