"""A self-contained HTML report of one run directory, and its figures as files for a paper.

Sections: metrics with 95% bootstrap intervals (each value once: :mod:`affectlab.report.tables`),
diagnostic findings, baselines, then the figures that fit the run (:mod:`affectlab.report.choices`):
learning curves (a model with epochs) or scores per fold / per split (a closed-form model),
predicted vs gold, per-user (or per-video) trajectories (only with a real order column) and
residuals (not for targets with two gold values) for numeric targets, and one confusion matrix
(counts and row shares) for each category target. The page
embeds every figure as a PNG (no external file, script or font is referenced, so it renders
offline and can be mailed); :func:`write_report` also writes each figure as SVG, PDF and PNG
(150 dpi) into ``figures/`` beside the page. How each figure is drawn: :mod:`affectlab.report.figures`.

>>> from affectlab.report import FIGURES, FIGURE_FILES, FOLD_SCORES
>>> FIGURES[0], FIGURE_FILES[FOLD_SCORES]
('learning curves', 'fold-scores')
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import AffectlabError
from ..core.targets import TargetSpec
from ..tasks import get_task
from ..evaluation.bootstrap import N_RESAMPLES
from ..evaluation.diagnostics import Finding
from ..runs.evaluate import epoch_history, evaluate_run, pick_split, run_specs, run_summary, run_targets
from ..runs.rundir import load_run
from ..runs.summary import RunSummary
from ..core.io import write_bytes, write_text
from . import choices as ch
from . import figures as fg
from . import tables as tb

#: alt texts of the figures, in page order (tests look for them); a run gets those that fit it
LEARNING_CURVES, FOLD_SCORES, SPLIT_SCORES = "learning curves", "fold scores", "split scores"
PREDICTED_VS_GOLD, TRAJECTORIES, RESIDUALS = "predicted vs gold", "trajectories", "residuals"
FIGURES = (LEARNING_CURVES, FOLD_SCORES, SPLIT_SCORES, PREDICTED_VS_GOLD, TRAJECTORIES, RESIDUALS)
#: alt text of each category target's confusion matrix (``confusion matrix: <target>``)
CONFUSION = "confusion matrix"
#: file name (without suffix) of a confusion matrix: ``confusion-<target>``
CONFUSION_FILE = "confusion"
#: the folder beside the page that holds the figure files
FIGURE_DIR = "figures"
#: file names (without suffix) of the figures in :data:`FIGURES`
FIGURE_FILES = dict(zip(FIGURES, ("learning-curves", "fold-scores", "split-scores", "predicted-vs-gold", "trajectories",
                                  "residuals")))
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
figcaption{color:#4a5568;font-size:.85em}.meta{color:#4a5568}.ci{color:#4a5568;font-size:.85em}
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
    mixed = summary.layer_weights_line()  # an mlp's learned layer weights
    if mixed:
        facts = f"{facts}; {mixed}"
    protocol = summary.protocol
    if protocol is None:
        return facts
    return f"{protocol.kind} cross-validation, {protocol.n_folds} folds (pooled out-of-fold predictions); {facts}"


def _cross_corpus_section(cross: dict[str, Any], key: str) -> str:
    """Within-corpus (LOSO inside the training corpora) and cross-corpus scores side by side, as
    summary.json's ``cross_corpus`` holds them (intervals resample speakers of the corpus scored).

    >>> ci = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}
    >>> "cross-corpus (urdu)" in _cross_corpus_section({"within": {"corpora": ["emodb"], "n": 9, "cis": {"uar": ci}},
    ...                                                 "cross": {"corpora": ["urdu"], "n": 4, "cis": {"uar": ci}}}, "uar")
    True
    """
    def row(label: str, part: dict[str, Any]) -> list[Any]:
        ci = part.get("cis", {}).get(key) or {}
        return [f"{label} ({', '.join(part.get('corpora', []))})", part.get("n"), ci.get("value"), ci.get("ci_low"),
                ci.get("ci_high")]

    rows = [row("within-corpus, leave-one-speaker-out", cross["within"]), row("cross-corpus", cross["cross"])]
    rows += [row("cross-corpus", part) for part in (cross.get("per_corpus") or {}).values()]
    dropped = "; ".join(f"{src}: {', '.join(f'{label} {n}' for counts in by_target.values() for label, n in counts.items())}"
                        for src, by_target in (cross.get("dropped") or {}).items() if by_target)
    return (f"<h2>Within- vs cross-corpus ({html.escape(key)})</h2>"
            + _table(rows, ["scored", "samples", key, "CI low", "CI high"])
            + f"<p class='meta'>normalisation: {html.escape(str(cross.get('normalisation', 'global')))}; intervals "
              f"resample speakers of the corpus scored{'; left out by the label map: ' + html.escape(dropped) if dropped else ''}.</p>")


def history_problem(history: Any, summary: RunSummary) -> str | None:
    """Why a ``metrics.csv`` that is there gives no learning curve (None when it gives one, or is absent).

    >>> import pandas as pd
    >>> history_problem(pd.DataFrame({"xq": ["a"]}), RunSummary())
    "metrics.csv has no 'epoch' column (columns: xq): it is not the per-epoch history affectlab writes, so the learning curves are left out"
    >>> history_problem(pd.DataFrame({"epoch": [1], "train_loss": [0.5]}), RunSummary()) is None
    True
    >>> history_problem(pd.DataFrame({"fold": [1], "epoch": [0], "test_uar": [0.7]}), RunSummary()) is None
    True
    """
    if history is None:
        return None
    columns = [str(c) for c in history.columns]
    shown = ", ".join(columns[:6]) + (f" and {len(columns) - 6} more" if len(columns) > 6 else "")
    if "epoch" not in columns:
        return (f"metrics.csv has no 'epoch' column (columns: {shown}): it is not the per-epoch history affectlab "
                "writes, so the learning curves are left out")
    epochs = pd.to_numeric(history["epoch"], errors="coerce")
    if not (epochs > 0).any():  # a closed-form model's per-fold scores (epoch 0): scores per fold, no curves
        return None
    if not any(c.endswith("loss") or c.startswith(("train_", "val_")) for c in columns):
        return (f"metrics.csv has epochs but no loss, train_ or val_ column (columns: {shown}), so the learning "
                "curves are empty")
    return None


def metric_label(task: str, specs: list[TargetSpec], key: str) -> str:
    """An axis label for a flat metric key: ``score`` says what it averages.

    >>> metric_label("classification", [TargetSpec("e", kind="category", classes=("a", "b"))], "score")
    'score (UAR of e)'
    >>> metric_label("regression", [TargetSpec("v"), TargetSpec("a")], "score")
    'score (mean CCC over 2 targets)'
    """
    if key != "score" or not specs:
        return key
    names = sorted({get_task(task).score_metric(s) for s in specs})
    what = " / ".join(n.upper() if n in ("uar", "ccc") else n for n in names)
    return f"score ({what} of {specs[0].name})" if len(specs) == 1 else f"score (mean {what} over {len(specs)} targets)"


def _interval_text(result: Any, key: str) -> str:
    iv = result.metrics.get(key)
    return "" if iv is None else f"{iv.value:.3f} [{iv.low:.3f}, {iv.high:.3f}]"


def render(run_dir: str | Path, *, n_resamples: int = N_RESAMPLES, seed: int = 0,
           formats: tuple[str, ...] = ("png", "svg", "pdf"),
           notes: list[str] | None = None) -> tuple[str, dict[str, dict[str, bytes]]]:
    """The report page of a run directory as an HTML string, and its figures
    ``{file name: {format: bytes}}`` in ``formats`` (PNG always: the page embeds it).

    Which figures are drawn follows the run (:mod:`affectlab.report.choices`): learning curves for
    a model with epochs, per-fold or per-split scores for one without; predicted vs gold and
    residuals for numeric targets (no residuals for a target with two gold values); trajectories
    only with a real order column; a confusion matrix per category target. ``notes`` collects
    one-line notes for the user (e.g. a ``metrics.csv`` the curves cannot use, also a
    HISTORY_UNUSABLE finding on the page)."""
    formats = ("png", *[f for f in formats if f != "png"])
    import matplotlib

    matplotlib.use("Agg")
    run = load_run(run_dir)
    if run["predictions"] is None:
        raise AffectlabError(f"{run['path']}: no predictions.csv to report on")
    summary = run_summary(run)
    config = run["config"] if isinstance(run["config"], dict) else {}
    targets = run_targets(run)
    pred = run["predictions"]
    split = pick_split(pred, targets).value  # the headline split with gold labels
    part = pred[pred["split"] == split].reset_index(drop=True)
    result = evaluate_run(run_dir, split, n_resamples=n_resamples, seed=seed)
    monitor = summary.selection.monitor or result.headline
    unit = get_task(result.task).unit
    specs = run_specs(run)
    model = summary.model or "?"
    protocol = ch.protocol_name(summary, config, split)
    problem = history_problem(run["history"], summary)
    if problem is not None:  # said on the page and on stderr, never a silently missing figure
        result.findings.insert(0, Finding("HISTORY_UNUSABLE", "warning", problem))
        if notes is not None:
            notes.append(f"{run['path']}/{problem}")
    numeric = [s for s in specs if not s.is_category]  # the scatter-type figures need numbers
    clipped: dict[str, str] = {}  # target -> the short line in its panels
    clipped_lines: list[str] = []  # the page's sentences
    for s in numeric:
        values = pd.to_numeric(part[f"pred_{s.name}"], errors="coerce").to_numpy(float)
        counts, n = ch.clipped_counts(values, s), int(np.isfinite(values).sum())
        if sum(counts):
            clipped[s.name] = f"clipped to {ch.range_text(s)}: {sum(counts)} ({100 * sum(counts) / max(n, 1):.1f}%)"
            clipped_lines.append(ch.clipped_text(s.name, counts, n, s))
            result.findings.append(Finding("PREDICTIONS_CLIPPED", "info", clipped_lines[-1] +
                                           ": the model's predictions are clipped to the target's declared range, "
                                           "so they pile up at its ends in the figures"))
    files: dict[str, dict[str, bytes]] = {}

    def figure(alt: str, fig) -> str:  # noqa: ANN001
        name = FIGURE_FILES.get(alt) or f"{CONFUSION_FILE}-{_slug(alt.split(': ', 1)[-1])}"
        files[name] = fg.encode(fig, formats)
        return _img(alt, base64.b64encode(files[name]["png"]).decode("ascii"), name)

    title = f"{model} — {config.get('name') or Path(run['path']).name}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    parts.append(f"<p class='meta'>task {html.escape(str(result.task))}; evaluated split <b>{split}</b>: {result.n} samples"
                 f"{f', {result.n_groups} {unit}s' if result.n_groups else ''}; {_run_facts(summary)}; "
                 f"run directory {html.escape(str(run['path']))}</p>")

    parts.append("<h2>Metrics (95% bootstrap intervals)</h2>")
    subset_keys = result.shown_metrics(2, per_target=False)  # seen/unseen subsets: the first keys the task shows
    parts.append(tb.metrics_table(result, subset_keys))
    parts.append(f"<p class='meta'>{result.n_resamples} resamples of {result.unit}.</p>")
    cross = (summary.model_extra or {}).get("cross_corpus")
    if isinstance(cross, dict):
        have = cross["cross"].get("cis", {})  # the first metric the page shows (uar rather than its alias 'score')
        parts.append(_cross_corpus_section(cross, next((k for k in result.shown_metrics(5) if k in have and k != "score"), result.headline)))

    parts.append("<h2>Diagnostics</h2>")
    if result.findings:
        rows = "".join(f"<tr><td style='color:{_SEV_COLOUR[f.severity]};font-weight:600'>{f.severity}</td><td>{f.code}</td>"
                       f"<td>{html.escape(f.message)}</td></tr>" for f in result.findings)
        parts.append(f"<table class='findings'><thead><tr><th>severity</th><th>code</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        parts.append("<p>No findings.</p>")

    parts.append("<h2>Baselines</h2>")
    keys = tb.baseline_keys(result)
    brows = [["model", *[result.metrics[k].value if k in result.metrics else float("nan") for k, _ in keys]]]
    brows += [[name, *[s.get(k, float("nan")) for k, _ in keys]] for name, s in result.baselines.items()]
    if summary.timings.fit is not None or summary.baseline_fit_seconds:  # each one's fit time (all folds together)
        fit = [summary.timings.fit, *[summary.baseline_fit_seconds.get(name) for name in result.baselines]]
        brows = [[*row, "" if s is None else f"{s:.2f}"] for row, s in zip(brows, fit)]
        parts.append(_table(brows, ["", *[label for _, label in keys], "fit s"]))
    else:
        parts.append(_table(brows, ["", *[label for _, label in keys]]))
    if result.comparisons:
        parts.append(_table([[n, c.diff, c.low, c.high, c.p_value] for n, c in result.comparisons],
                            ["model − baseline", f"Δ {result.headline}", "CI low", "CI high", "p"]))

    with fg.style():
        history = epoch_history(run["history"]) if run["history"] is not None else None
        if ch.has_epochs(history):
            assert history is not None
            parts.append("<h2>Learning curves</h2>")
            if summary.folds:
                parts.append("<p class='meta'>Means over the folds that reached each epoch.</p>")
            parts.append(figure(LEARNING_CURVES, fg.learning_curves(history, monitor, summary.best_epoch)))
        else:
            per = "fold" if summary.folds else "split"
            key = result.headline
            bars, x_label = fg.fold_bars(summary, key, unit)
            if not bars and not summary.folds:  # a summary without per-split metrics: score predictions.csv
                bars = ch.split_scores(result.task, pred, specs, key)
            iv = result.metrics.get(key)
            pooled = None if iv is None else ("pooled out-of-fold" if summary.folds else f"{split} (evaluated)",
                                              iv.value, iv.low, iv.high)
            chance = ch.chance_level(result.task, part, specs, key)
            alt = FOLD_SCORES if summary.folds else SPLIT_SCORES
            parts.append(f"<h2>Scores per {per} ({fg.CLOSED_FORM})</h2>")
            parts.append(f"<p class='meta'>The model has no epochs, so no learning curves: {key} of each {per}, the "
                         f"{pooled[0] if pooled else 'evaluated'} value with its 95% interval (band) and the chance level, "
                         f"{key} of a constant prediction (majority class / mean) on the evaluated rows "
                         f"({chance:.3f}).</p>")
            parts.append(figure(alt, fg.score_bars(
                bars, metric_label(result.task, specs, key), x_label=x_label, chance=chance, pooled=pooled,
                title=f"{model} — {protocol}\n{key} per {per} ({fg.CLOSED_FORM})")))
        if numeric:
            names = [s.name for s in numeric]
            parts.append(f"<h2>Predicted vs gold ({split})</h2>")
            parts.append("<p class='meta'>Gold values with few levels: one box per level (median, quartiles, 1.5 IQR "
                         "whiskers), the mean prediction joined by a line, the number of samples at the bottom; "
                         "r and CCC of all pairs in each panel.</p>")
            for line in clipped_lines:
                parts.append(f"<p class='meta'><b>Clipped:</b> {html.escape(line, quote=False)}.</p>")
            parts.append(figure(PREDICTED_VS_GOLD, fg.predicted_vs_gold(part, names, clipped)))
            real, why = ch.order_column(pred, config)
            if real:
                ranges = {s.name: (s.low, s.high) for s in numeric if s.low is not None and s.high is not None and s.high > s.low}
                traj, x_label = fg.trajectories(part, names, unit, ranges)
                parts.append(f"<h2>Per-{unit} trajectories ({split}; the {unit}s with most samples; x axis: {x_label})</h2>")
                parts.append(f"<p class='meta'>Time order: {html.escape(why, quote=False)}.</p>")
                parts.append(figure(TRAJECTORIES, traj))
            else:
                parts.append(f"<p class='meta'>No trajectories: {html.escape(why, quote=False)}.</p>")
            binary = [s.name for s in numeric if ch.is_binary(pd.to_numeric(part[s.name], errors="coerce").to_numpy(float))]
            kept = [n for n in names if n not in binary]
            if kept:
                parts.append(f"<h2>Residuals ({split})</h2>")
                parts.append("<p class='meta'>Predicted − gold against the prediction, with its mean in bins of the "
                             "prediction (integer gold puts the points on one line per gold level); below, per gold "
                             "level or as a histogram.</p>")
                parts.append(figure(RESIDUALS, fg.residuals(part, kept, clipped)))
            if binary:
                parts.append(f"<p class='meta'>No residuals for {html.escape(', '.join(binary))}: two gold values make "
                             "them two diagonals; the boxes per gold value above show the same errors.</p>")
        for spec in (s for s in specs if s.is_category and s.classes):
            key = f"{get_task(result.task).score_metric(spec)}_{spec.name}"
            score = _interval_text(result, key)
            fig_title = f"{model} — {protocol}" + (f"\n{key} = {score}" if score else "")
            parts.append(f"<h2>Confusion matrix: {html.escape(spec.name)} ({split}; rows true, columns predicted)</h2>")
            parts.append(figure(f"{CONFUSION}: {spec.name}", fg.confusion_matrix(part, spec, fig_title)))
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


__all__ = ["CONFUSION", "CONFUSION_FILE", "FIGURES", "FIGURE_DIR", "FIGURE_FILES", "FOLD_SCORES", "LEARNING_CURVES",
           "PREDICTED_VS_GOLD", "RESIDUALS", "SPLIT_SCORES", "TRAJECTORIES", "history_problem", "metric_label", "render",
           "render_report", "write_report"]
