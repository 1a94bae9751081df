"""A self-contained HTML report of one run directory (figures embedded as base64 PNG).

Sections: metrics with 95% bootstrap intervals, diagnostic findings, baselines, learning
curves, predicted vs gold, per-user (or per-video) trajectories and residuals for regression
targets, and a confusion matrix (counts and row-normalised) for each category target. No
external file, script or font is referenced, so the page renders offline and can be mailed.

>>> from affectlab.report import FIGURES
>>> FIGURES[0]
'learning curves'
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AffectlabError
from ..tasks import get_task
from ..evaluation.bootstrap import N_RESAMPLES
from ..corpus.base import TargetSpec
from ..evaluation.evaluate import epoch_history, evaluate_run, load_run, pick_split, run_specs, run_summary, run_targets
from ..runs.summary import RunSummary
from ..metrics.classification import class_indices, confusion
from ..io import write_text

#: alt texts of the figures, in page order (tests look for them)
FIGURES = ("learning curves", "predicted vs gold", "trajectories", "residuals")
#: alt text of each category target's confusion matrix (``confusion matrix: <target>``)
CONFUSION = "confusion matrix"
_SEV_COLOUR = {"info": "#2b6cb0", "warning": "#b7791f", "error": "#c53030"}


def _png(fig) -> str:  # noqa: ANN001
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(alt: str, data: str) -> str:
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _table(rows: list[list[Any]], header: list[str], cls: str = "") -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if not np.isfinite(v) else f"{v:.4f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _learning_curves(history: pd.DataFrame | None, monitor: str, best_epoch: Any) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    if history is None or history.empty or "epoch" not in history:
        for ax in axes:
            ax.text(0.5, 0.5, "no per-epoch history", ha="center", va="center")
            ax.set_axis_off()
        return _png(fig)
    ep = history["epoch"].to_numpy()
    for col, style in (("train_loss", "-o"), ("val_loss", "-s")):
        if col in history:
            axes[0].plot(ep, history[col], style, ms=3, label=col.replace("_", " "))
    axes[0].set_title("loss")
    for split, style in (("train", "-o"), ("val", "-s")):
        col = f"{split}_{monitor}"
        if col in history:
            axes[1].plot(ep, history[col], style, ms=3, label=f"{split} {monitor}")
    if f"gap_{monitor}" in history:
        axes[1].plot(ep, history[f"gap_{monitor}"], ":", label="gap (train − val)")
    axes[1].set_title(monitor)
    for ax in axes:
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _png(fig)


def _scatter(part: pd.DataFrame, targets: list[str]) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 3.8), squeeze=False)
    for ax, t in zip(axes[0], targets):
        y, p = part[t].to_numpy(float), part[f"pred_{t}"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(p)
        jitter = np.random.default_rng(0).normal(0, 0.03, ok.sum())  # labels are often integers
        ax.scatter(y[ok] + jitter, p[ok], s=8, alpha=0.4)
        lo, hi = np.nanmin(np.r_[y[ok], p[ok]]), np.nanmax(np.r_[y[ok], p[ok]])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
        ax.set_xlabel(f"gold {t}")
        ax.set_ylabel(f"predicted {t}")
        ax.legend(fontsize=8)
    return _png(fig)


def _trajectories(part: pd.DataFrame, targets: list[str], unit: str, n_groups: int = 6) -> str:
    import matplotlib.pyplot as plt

    if "group" not in part:
        part = part.assign(group="all")
    top = part["group"].astype(str).value_counts().index[:n_groups]
    fig, axes = plt.subplots(len(targets), len(top), figsize=(2.6 * len(top), 2.2 * len(targets)), squeeze=False)
    for j, g in enumerate(top):
        rows = part[part["group"].astype(str) == g]
        for i, t in enumerate(targets):
            ax = axes[i][j]
            x = np.arange(len(rows))
            ax.plot(x, rows[t].to_numpy(float), "-o", ms=2, label="gold")
            ax.plot(x, rows[f"pred_{t}"].to_numpy(float), "-s", ms=2, label="predicted")
            if i == 0:
                ax.set_title(f"{unit} {g}", fontsize=9)
            if j == 0:
                ax.set_ylabel(t)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _residuals(part: pd.DataFrame, targets: list[str]) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(targets), figsize=(4.2 * len(targets), 5.6), squeeze=False)
    for j, t in enumerate(targets):
        y, p = part[t].to_numpy(float), part[f"pred_{t}"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(p)
        res = p[ok] - y[ok]
        axes[0][j].scatter(y[ok], res, s=8, alpha=0.4)
        axes[0][j].axhline(0, color="k", lw=0.8)
        axes[0][j].set_xlabel(f"gold {t}")
        axes[0][j].set_ylabel("predicted − gold")
        axes[1][j].hist(res, bins=30)
        axes[1][j].set_xlabel(f"residual {t}")
    fig.tight_layout()
    return _png(fig)


def _confusion(part: pd.DataFrame, spec: TargetSpec) -> str:
    """Rows true, columns predicted: counts (left) and each row as a share of the true class (right)."""
    import matplotlib.pyplot as plt

    y, p = (class_indices(part[c], spec.classes) for c in (spec.name, f"pred_{spec.name}"))
    ok = np.isfinite(y) & np.isfinite(p)
    names = list(spec.classes)
    _, counts = confusion(y[ok].astype(int), p[ok].astype(int), classes=list(range(len(names))))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = 1.2 + 0.55 * len(names)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.5, size))
    for ax, m, title, fmt in ((axes[0], counts, "counts", "{:d}"), (axes[1], shares, "share of true class", "{:.2f}")):
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)  # colour by row share in both: comparable across classes
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel(f"predicted {spec.name}")
        ax.set_ylabel(f"true {spec.name}")
        ax.set_title(f"{title} (n = {int(ok.sum())})", fontsize=9)
    fig.tight_layout()
    return _png(fig)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#1a202c;background:#fff}
h1{font-size:1.6em}h2{border-bottom:1px solid #cbd5e0;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #cbd5e0;padding:.25em .6em;text-align:right}
th{background:#edf2f7}td:first-child,th:first-child{text-align:left}
.findings td,.findings th{text-align:left}figure{margin:1em 0}img{max-width:100%;border:1px solid #e2e8f0}
figcaption{color:#4a5568;font-size:.85em}.meta{color:#4a5568}
"""


def _run_facts(summary: RunSummary) -> str:
    """Best epoch, parameters and total time; for cross-validation also the protocol and fold count.

    >>> _run_facts(RunSummary(best_epoch=3, epochs_run=5, n_params=10))
    'best epoch 3 of 5; 10 parameters; total time nan s'
    >>> cv = RunSummary.from_dict({"protocol": {"kind": "kfold", "n_folds": 5}, "timings": {"total": 2}})
    >>> _run_facts(cv).split("; ")
    ['kfold cross-validation, 5 folds (pooled out-of-fold predictions)', 'best epoch None of None', 'None parameters', 'total time 2.0 s']
    """
    total = summary.timings.total
    facts = (f"best epoch {summary.best_epoch} of {summary.epochs_run}; {summary.n_params} parameters; "
             f"total time {float('nan') if total is None else total:.1f} s")
    protocol = summary.protocol
    if protocol is None:
        return facts
    return f"{protocol.kind} cross-validation, {protocol.n_folds} folds (pooled out-of-fold predictions); {facts}"


def render_report(run_dir: str | Path, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> str:
    """The report page of a run directory as an HTML string."""
    import matplotlib

    matplotlib.use("Agg")
    run = load_run(run_dir)
    if run["predictions"] is None:
        raise AffectlabError(f"{run['path']}: no predictions.csv to report on")
    summary = run_summary(run)
    targets = run_targets(run)
    pred = run["predictions"]
    split = pick_split(pred, targets)
    part = pred[pred["split"] == split].reset_index(drop=True)
    result = evaluate_run(run_dir, split, n_resamples=n_resamples, seed=seed)
    monitor = summary.selection.monitor or result.headline
    unit = get_task(result.task).unit

    title = f"{summary.model or '?'} — {run['config'].get('name') or Path(run['path']).name}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    parts.append(f"<p class='meta'>task {html.escape(str(result.task))}; evaluated split <b>{split}</b>: {result.n} samples"
                 f"{f', {result.n_groups} {unit}s' if result.n_groups else ''}; {_run_facts(summary)}; "
                 f"run directory {html.escape(str(run['path']))}</p>")

    parts.append("<h2>Metrics (95% bootstrap intervals)</h2>")
    shown = [k for k in result.metrics if "/" not in k or k.endswith("/score") or k.endswith("/ccc")]
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
    keys = list(dict.fromkeys([result.headline, "ccc", "pearson", "mae"]))
    brows = [["model", *[result.metrics[k].value if k in result.metrics else float("nan") for k in keys]]]
    brows += [[name, *[s.get(k, float("nan")) for k in keys]] for name, s in result.baselines.items()]
    parts.append(_table(brows, ["", *keys]))
    if result.comparisons:
        parts.append(_table([[n, c.diff, c.low, c.high, c.p_value] for n, c in result.comparisons],
                            ["model − baseline", f"Δ {result.headline}", "CI low", "CI high", "p"]))

    parts.append("<h2>Learning curves</h2>")
    history = epoch_history(run["history"]) if run["history"] is not None else None
    parts.append(_img(FIGURES[0], _learning_curves(history, monitor, summary.best_epoch)))
    specs = run_specs(run)
    numeric = [s.name for s in specs if not s.is_category]  # the scatter-type figures need numbers
    if numeric:
        parts.append(f"<h2>Predicted vs gold ({split})</h2>")
        parts.append(_img(FIGURES[1], _scatter(part, numeric)))
        parts.append(f"<h2>Per-{unit} trajectories ({split}; the {unit}s with most samples, in file order)</h2>")
        parts.append(_img(FIGURES[2], _trajectories(part, numeric, unit)))
        parts.append(f"<h2>Residuals ({split})</h2>")
        parts.append(_img(FIGURES[3], _residuals(part, numeric)))
    for spec in (s for s in specs if s.is_category and s.classes):
        parts.append(f"<h2>Confusion matrix: {html.escape(spec.name)} ({split}; rows true, columns predicted)</h2>")
        parts.append(_img(f"{CONFUSION}: {spec.name}", _confusion(part, spec)))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | Path, out: str | Path | None = None, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Path:
    """Write ``report.html`` (default: inside the run directory), atomically."""
    page = render_report(run_dir, n_resamples=n_resamples, seed=seed)
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    write_text(path, page)
    return path


__all__ = ["FIGURES", "CONFUSION", "render_report", "write_report"]
