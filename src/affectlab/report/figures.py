"""The report's figures, drawn for print: readable fonts (≥ 9 pt), constrained layout, shared scales.

Each function returns a matplotlib ``Figure``; :func:`encode` writes it as PNG (150 dpi), SVG and
PDF. Regression panels print r and CCC of the pooled samples (:func:`panel_stats`, the same
definitions as ``affectlab.metrics``). Gold values with few distinct levels (integer ratings
such as SemEval's −2…2) get a box per gold level instead of a scatter of vertical strips
(:func:`is_discrete`).
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..corpus.base import TargetSpec
from ..metrics.classification import class_indices, confusion
from ..metrics.regression import ccc, pearson

#: PNG resolution (dots per inch)
DPI = 150
#: at most this many distinct gold values count as discrete levels (box per level)
MAX_LEVELS = 11
#: fonts in points; nothing smaller than ``small``
FONT: dict[Any, Any] = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
        "legend.fontsize": 9, "figure.titlesize": 11, "pdf.fonttype": 42, "svg.fonttype": "path"}
#: colours: gold, predicted, reference lines
GOLD, PRED, REF = "#1f4e79", "#d9822b", "#555555"


def style() -> Any:
    """A matplotlib ``rc_context`` with the report's fonts."""
    import matplotlib.pyplot as plt

    return plt.rc_context(FONT)


def encode(fig: Any, formats: Sequence[str] = ("png", "svg", "pdf")) -> dict[str, bytes]:
    """The figure as ``{"png": ..., "svg": ..., "pdf": ...}`` bytes (those of ``formats``); the figure is closed.

    The constrained layout is solved once, on the first format; the others reuse it (drawing is
    most of a report's time).
    """
    import matplotlib.pyplot as plt

    out = {}
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}  # the same figure, the same bytes
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata.get(fmt))
        out[fmt] = buf.getvalue()
        fig.set_layout_engine("none")
    plt.close(fig)
    return out


def is_discrete(values: np.ndarray) -> bool:
    """Few distinct gold levels (≤ :data:`MAX_LEVELS`, at least 2): distributions per level, not a scatter.

    >>> is_discrete(np.array([-2, -1, 0, 1, 2, 0, 1.0]))
    True
    >>> is_discrete(np.linspace(0, 1, 50))
    False
    """
    v = values[np.isfinite(values)]
    return 2 <= np.unique(v).size <= MAX_LEVELS


def panel_stats(y: np.ndarray, p: np.ndarray) -> tuple[float, float, int]:
    """Pearson r, CCC and n of the finite pairs (NaN when fewer than 2)."""
    ok = np.isfinite(y) & np.isfinite(p)
    if ok.sum() < 2:
        return float("nan"), float("nan"), int(ok.sum())
    return float(pearson(y[ok], p[ok])), float(ccc(y[ok], p[ok])), int(ok.sum())


def stats_text(y: np.ndarray, p: np.ndarray) -> str:
    """The text printed in a panel: ``r = 0.512\\nCCC = 0.433\\nn = 120``."""
    r, c, n = panel_stats(y, p)
    return f"r = {r:.3f}\nCCC = {c:.3f}\nn = {n}"


def _stats_box(ax: Any, text: str) -> None:
    ax.text(0.03, 0.97, text, transform=ax.transAxes, ha="left", va="top", fontsize=9,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#bbbbbb", "alpha": 0.9})


def _levels_boxplot(ax: Any, y: np.ndarray, values: np.ndarray, *, mean_line: bool) -> np.ndarray:
    """Box plot of ``values`` at each distinct ``y`` level (positions = the levels); returns the levels."""
    levels = np.unique(y)
    width = 0.6 * (np.min(np.diff(levels)) if levels.size > 1 else 1.0)
    groups = [values[y == lv] for lv in levels]
    ax.boxplot(groups, positions=levels, widths=width, showfliers=True, manage_ticks=False, patch_artist=True,
               boxprops={"facecolor": "#dbe7f3", "edgecolor": GOLD}, medianprops={"color": GOLD, "linewidth": 1.5},
               whiskerprops={"color": GOLD}, capprops={"color": GOLD},
               flierprops={"marker": ".", "markersize": 3, "markerfacecolor": "#8aa9c8", "markeredgecolor": "none", "alpha": 0.6})
    if mean_line:
        ax.plot(levels, [g.mean() for g in groups], "D-", color=PRED, ms=4, lw=1.2, label="mean")
    # each level with the number of samples its box summarises (+ 0.0: no "-0")
    ax.set_xticks(levels, [f"{lv + 0.0:g}\nn = {g.size}" for lv, g in zip(levels, groups)])
    return levels


def predicted_vs_gold(part: pd.DataFrame, targets: Sequence[str], clipped: dict[str, str] | None = None) -> Any:
    """One panel per target: predictions per gold level (box) or a scatter, y = x, r and CCC;
    ``clipped``: per target, a line saying how many predictions were clipped to the range."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(targets), figsize=(4.4 * len(targets), 4.0), squeeze=False, layout="constrained")
    for ax, t in zip(axes[0], targets):
        y, p = part[t].to_numpy(float), part[f"pred_{t}"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(p)
        lo, hi = np.min(np.r_[y[ok], p[ok]]), np.max(np.r_[y[ok], p[ok]])
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "--", color=REF, lw=0.9, label="y = x")
        x_lo, x_hi = lo - pad, hi + pad
        if is_discrete(y[ok]):
            levels = _levels_boxplot(ax, y[ok], p[ok], mean_line=True)
            half = 0.5 * (np.min(np.diff(levels)) if levels.size > 1 else 1.0)  # the outer boxes whole
            x_lo, x_hi = min(x_lo, levels[0] - half), max(x_hi, levels[-1] + half)
        else:
            ax.scatter(y[ok], p[ok], s=7, alpha=0.35, color=GOLD, edgecolors="none")
        ax.set_xlim(x_lo, x_hi)
        ax.set_xlabel(f"gold {t}")
        ax.set_ylabel(f"predicted {t}")
        _stats_box(ax, stats_text(y, p) + (f"\n{clipped[t]}" if clipped and clipped.get(t) else ""))
        ax.legend(loc="lower right")
    return fig


def _binned_mean(x: np.ndarray, v: np.ndarray, bins: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Means of ``v`` in quantile bins of ``x`` (at the bins' mean ``x``), for a trend line."""
    if x.size < 2 * bins:
        return np.array([]), np.array([])
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    keep = [k for k in range(edges.size - 1) if np.any(idx == k)]
    return np.array([x[idx == k].mean() for k in keep]), np.array([v[idx == k].mean() for k in keep])


def residuals(part: pd.DataFrame, targets: Sequence[str], clipped: dict[str, str] | None = None) -> Any:
    """Per target: residual (predicted − gold) against the prediction, with its binned mean (top);
    residuals per gold level (discrete gold) or their histogram (bottom). The report leaves out
    targets with two gold values (their residuals are two diagonals); ``clipped`` as in
    :func:`predicted_vs_gold`."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(targets), figsize=(4.4 * len(targets), 6.6), squeeze=False, layout="constrained")
    for j, t in enumerate(targets):
        y, p = part[t].to_numpy(float), part[f"pred_{t}"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(p)
        y, p = y[ok], p[ok]
        res = p - y
        top, bottom = axes[0][j], axes[1][j]
        top.scatter(p, res, s=7, alpha=0.35, color=GOLD, edgecolors="none")
        top.axhline(0, color=REF, lw=0.9)
        bx, by = _binned_mean(p, res)
        if bx.size:
            top.plot(bx, by, "-", color=PRED, lw=1.6, label="binned mean")
            top.legend(loc="lower right")
        top.set_xlabel(f"predicted {t}")
        top.set_ylabel(f"residual {t} (predicted − gold)")
        sd = res.std(ddof=1) if res.size > 1 else float("nan")
        _stats_box(top, f"bias = {res.mean():+.3f}\nSD = {sd:.3f}" + (f"\n{clipped[t]}" if clipped and clipped.get(t) else ""))
        if is_discrete(y):
            _levels_boxplot(bottom, y, res, mean_line=True)
            bottom.axhline(0, color=REF, lw=0.9)
            bottom.set_xlabel(f"gold {t}")
            bottom.set_ylabel(f"residual {t}")
        else:
            bottom.hist(res, bins=30, color="#8aa9c8", edgecolor="white")
            bottom.axvline(0, color=REF, lw=0.9)
            bottom.set_xlabel(f"residual {t} (predicted − gold)")
            bottom.set_ylabel("samples")
    return fig


def time_axis(order: pd.Series | None) -> tuple[np.ndarray | None, bool]:
    """The x values of trajectories: the ``order`` column as numbers, converted to dates when they
    are seconds since 1970 from a date column (all ≥ 1e8, i.e. after 1973); ``(None, False)`` without one.

    >>> time_axis(pd.Series([1.0, 2.0]))[1], time_axis(pd.Series([1.6e9, 1.7e9]))[1]
    (False, True)
    """
    if order is None:
        return None, False
    x = pd.to_numeric(order, errors="coerce").to_numpy(float)
    if not np.isfinite(x).all():
        return None, False
    is_date = bool((x >= 1e8).all())
    if is_date:
        x = (pd.Timestamp("1970-01-01") + pd.to_timedelta(x, unit="s")).to_numpy()
    return x, is_date


def _span(values: np.ndarray, declared: tuple[float, float] | None) -> tuple[float, float]:
    """Axis limits covering ``declared`` (when given) and every finite value, with a 5% margin.

    >>> _span(np.array([[0.0, 2.5]]), (-2.0, 2.0))
    (-2.225, 2.725)
    """
    v = values[np.isfinite(values)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    if declared is not None:
        lo, hi = min(lo, declared[0]), max(hi, declared[1])
    pad = 0.05 * ((hi - lo) or 1.0)
    return lo - pad, hi + pad


#: a gap this many times the group's median gap starts a new session (trajectories)
SESSION_GAP = 10.0


def session_starts(t: np.ndarray) -> np.ndarray:
    """Indices (into sorted times ``t``) where a new session starts: the gap before them exceeds
    :data:`SESSION_GAP` times the median gap.

    >>> session_starts(np.array([0.0, 1, 2, 3, 100, 101, 102, 500])).tolist()
    [4, 7]
    """
    gaps = np.diff(t)
    positive = gaps[gaps > 0]
    if positive.size == 0:
        return np.array([], dtype=int)
    return np.flatnonzero(gaps > SESSION_GAP * np.median(positive)) + 1


def _labelled_sessions(starts: np.ndarray, n: int, min_share: float = 0.15) -> list[int]:
    """The session starts whose date label fits: sessions of at least ``min_share`` of the samples,
    each at least that far from the previous label (the first session counts from 0).

    >>> _labelled_sessions(np.array([1, 50, 55, 80]), 100)
    [1, 55, 80]
    """
    bounds = [0, *[int(k) for k in starts], n]
    kept: list[int] = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b - a >= min_share * n and (not kept or a - kept[-1] >= min_share * n):
            kept.append(a)
    return kept


def _time_label(value: float, is_date: bool) -> str:
    return pd.Timestamp(value, unit="s").strftime("%Y-%m-%d") if is_date else f"{value:g}"


def trajectories(part: pd.DataFrame, targets: Sequence[str], unit: str, ranges: dict[str, tuple[float, float]],
                 n_groups: int = 6) -> tuple[Any, str]:
    """Gold and predicted values of the ``n_groups`` groups with most samples, one row each, in the
    time order of the data's order column (file order without one); one y scale per target (its
    declared range, widened to every value shown). Returns the figure and what the x axis is.

    The x axis is the time itself when samples come at regular intervals. When a shown group's
    samples come in sessions (a gap over :data:`SESSION_GAP` times its median gap, as SemEval's
    collection phases months apart), a time axis would squash every session into a vertical
    line: then x is the sample's rank in time order, and a dotted line marks each session start,
    labelled with its date.
    """
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if "group" not in part:
        part = part.assign(group="all")
    groups = part["group"].astype(str)
    top = groups.value_counts().index[:n_groups]
    x_all, is_date = time_axis(part["order"] if "order" in part else None)
    t_all = pd.to_numeric(part["order"], errors="coerce").to_numpy(float) if x_all is not None else None
    plans = []
    for g in top:
        mask = (groups == g).to_numpy()
        order = np.argsort(t_all[mask], kind="stable") if t_all is not None else np.arange(mask.sum())
        starts = session_starts(t_all[mask][order]) if t_all is not None else np.array([], dtype=int)
        plans.append((g, mask, order, starts))
    sessions = any(len(starts) for *_, starts in plans)
    if x_all is None:
        x_label = "sample (file order)"
    elif sessions:
        x_label = "sample number in time order (dotted: a new session, with its date)"
    else:
        x_label = "date" if is_date else "order (the data's time column)"
    fig, axes = plt.subplots(len(top), len(targets), figsize=(5.2 * len(targets), 1.9 * len(top) + 0.6), squeeze=False,
                             sharey="col", layout="constrained")
    for i, (g, mask, order, starts) in enumerate(plans):
        rows = part[mask]
        x = np.arange(mask.sum()) if (x_all is None or sessions) else x_all[mask][order]
        for j, t in enumerate(targets):
            ax = axes[i][j]
            y, p = rows[t].to_numpy(float)[order], rows[f"pred_{t}"].to_numpy(float)[order]
            ax.plot(x, y, "-o", ms=2.5, lw=1.0, color=GOLD, label="gold")
            ax.plot(x, p, "-s", ms=2.5, lw=1.0, color=PRED, label="predicted")
            r, c, n = panel_stats(y, p)
            ax.set_title(f"{unit} {g}: {t} (n = {n}, r = {r:.2f})", loc="left")
            if i == 0:  # one scale per target (shared down the column): its declared range and every value shown
                lo, hi = _span(part.loc[groups.isin(top).to_numpy(), [t, f"pred_{t}"]].to_numpy(float), ranges.get(t))
                ax.set_ylim(lo, hi + (0.25 * (hi - lo) if sessions else 0.0))  # sessions: a band for their dates
            ax.set_ylabel(t)
            if sessions:
                assert t_all is not None  # sessions come from the time axis
                times = t_all[mask][order]
                for k in starts:
                    ax.axvline(k - 0.5, color=REF, lw=0.8, ls=":")
                for k in _labelled_sessions(starts, len(x)):
                    ax.annotate(_time_label(times[k], is_date), (k - 0.5, 1), xycoords=("data", "axes fraction"),
                                xytext=(3, -2), textcoords="offset points", ha="left", va="top", fontsize=9,
                                color="#444444")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            elif is_date:
                locator = mdates.AutoDateLocator(minticks=2, maxticks=5)
                ax.xaxis.set_major_locator(locator)
                ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            if i == len(plans) - 1:
                ax.set_xlabel(x_label)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", ncol=2)
    return fig, x_label


def learning_curves(history: pd.DataFrame, monitor: str, best_epoch: Any) -> Any:
    """Loss and the monitored metric per epoch (train, val, gap; the selected epoch dashed). For a
    model without epochs the report draws :func:`score_bars` instead."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    ep = history["epoch"].to_numpy()
    for col, style_ in (("train_loss", "-o"), ("val_loss", "-s")):
        if col in history:
            axes[0].plot(ep, history[col], style_, ms=3, label=col.replace("_", " "))
    axes[0].set_title("loss")
    axes[0].set_ylabel("loss")
    for split, style_ in (("train", "-o"), ("val", "-s")):
        col = f"{split}_{monitor}"
        if col in history:
            axes[1].plot(ep, history[col], style_, ms=3, label=f"{split} {monitor}")
    if f"gap_{monitor}" in history:
        axes[1].plot(ep, history[f"gap_{monitor}"], ":", label="gap (train − val)")
    axes[1].set_title(monitor)
    axes[1].set_ylabel(monitor)
    for ax in axes:
        if best_epoch:
            ax.axvline(best_epoch, color=REF, lw=0.9, ls="--", label=f"selected epoch {best_epoch}")
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return fig


#: the start of a score figure's title: the model has no epochs, so no learning curves
CLOSED_FORM = "no epochs: closed-form fit"


def fold_bars(summary: Any, key: str, unit: str = "group") -> tuple[list[tuple[str, float]], str]:
    """The bars of a closed-form model's score figure: ``key`` on each fold's test part (named by
    its held-out group under leave-one-group-out), else on each split of the run; and the x label.

    >>> from affectlab.runs.summary import RunSummary
    >>> fold_bars(RunSummary.from_dict({"metrics": {"val": {"uar": 0.4}, "train": {"uar": 0.6}}}), "uar")
    ([('train', 0.6), ('val', 0.4)], 'split')
    """
    folds = (summary.folds or []) if summary is not None else []
    one_group = bool(folds) and all(len(f.groups) == 1 for f in folds)  # leave-one-group-out: name the group
    bars = [(f.groups[0] if one_group else f"fold {f.index}", float(v)) for f in folds
            if (v := f.metrics.get("test", {}).get(key)) is not None]
    if folds:
        return bars, f"held-out {unit} (one fold each)" if one_group else "fold (its held-out part)"
    order = ["train", "val", "test", "oof", "full"]
    splits = sorted(summary.metrics, key=lambda k: (order.index(k) if k in order else len(order), k)) if summary else []
    return [(s, float(summary.metrics[s][key])) for s in splits if summary.metrics[s].get(key) is not None
            and np.isfinite(summary.metrics[s][key])], "split"


def score_bars(bars: Sequence[tuple[str, float]], label: str, *, title: str, x_label: str,
               chance: float | None = None, pooled: tuple[str, float, float, float] | None = None) -> Any:
    """A closed-form model's scores as bars (one per fold or split) on the axis of ``label``, a
    dotted chance line (``chance``: what a constant prediction scores) and the pooled value with
    its 95% interval as a line in a band (``pooled = (name, value, low, high)``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.5, 0.55 * len(bars) + 2.5), 3.6), layout="constrained")
    ax.set_title(title, loc="left")
    if not bars:
        ax.text(0.5, 0.5, "no per-epoch history and no scores", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    names, values = zip(*bars)
    each = "each fold" if x_label != "split" else "each split"
    ax.bar(range(len(values)), values, color="#8aa9c8", edgecolor=GOLD, label=each, zorder=2)
    tilt = len(values) > 6 and max(len(str(n)) for n in names) > 4  # long labels side by side would touch
    ax.set_xticks(range(len(values)), names, rotation=45 if tilt else 0, ha="right" if tilt else "center")
    for k, v in enumerate(values):
        ax.annotate(f"{v:.3f}", (k, v), xytext=(0, 2), textcoords="offset points", ha="center",
                    va="bottom" if v >= 0 else "top", fontsize=9, zorder=4,  # legible over the pooled line
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.axhline(0, color=REF, lw=0.8)
    if pooled is not None and np.isfinite(pooled[1]):
        name, value, low, high = pooled
        ax.axhline(value, color=PRED, lw=1.6, zorder=3, label=f"{name}: {value:.3f} [{low:.3f}, {high:.3f}] (95% CI band)")
        if np.isfinite(low) and np.isfinite(high):
            ax.axhspan(low, high, color=PRED, alpha=0.18, lw=0, zorder=1)
    if chance is not None and np.isfinite(chance):
        ax.axhline(chance, color=REF, lw=1.2, ls=":", zorder=3, label=f"chance (constant prediction): {chance:.3f}")
    ax.margins(y=0.15)  # room for the value labels
    ax.set_ylabel(label)
    ax.set_xlabel(x_label)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    return fig


def confusion_matrix(part: pd.DataFrame, spec: TargetSpec, title: str = "") -> Any:
    """One panel, rows true and columns predicted: each cell its count and its share of the true
    class (the colour), the row's total beside the class name; ``title`` names model, protocol, score."""
    import matplotlib.pyplot as plt

    y, p = (class_indices(part[c], spec.classes) for c in (spec.name, f"pred_{spec.name}"))
    ok = np.isfinite(y) & np.isfinite(p)
    names = list(spec.classes)
    _, counts = confusion(y[ok].astype(int), p[ok].astype(int), classes=list(range(len(names))))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = 2.2 + 0.75 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.6, size + 0.4), layout="constrained")
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)  # colour by row share: comparable across classes
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{counts[i, j]:d}\n{shares[i, j]:.2f}", ha="center", va="center", fontsize=9,
                    color="white" if shares[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), [f"{c} (n = {int(n)})" for c, n in zip(names, totals[:, 0])])
    ax.set_xlabel(f"predicted {spec.name}")
    ax.set_ylabel(f"true {spec.name}")
    ax.set_title(title or f"{spec.name} (n = {int(ok.sum())})", loc="left")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of true class (count above, share below)")
    return fig


__all__ = ["CLOSED_FORM", "DPI", "confusion_matrix", "encode", "fold_bars", "is_discrete", "learning_curves", "panel_stats",
           "predicted_vs_gold", "residuals", "score_bars", "session_starts", "stats_text", "style", "time_axis",
           "trajectories"]
