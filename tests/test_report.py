"""``affectlab report``: a self-contained page with every figure, rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from affectlab.report import (CONFUSION, FIGURE_FILES, LEARNING_CURVES, PREDICTED_VS_GOLD, RESIDUALS,
                              SPLIT_SCORES, TRAJECTORIES, render_report, write_report)
from affectlab.report import figures as fg
from conftest import run_cli
from test_evaluation_helpers import make_run_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def with_order(run: Path, kind: str) -> Path:
    """Give ``run``'s predictions.csv an ``order`` column: ``time`` (daily timestamps per group, a
    real time column) or ``file`` (the row number, as the readers fill it in without one)."""
    import pandas as pd

    pred = pd.read_csv(run / "predictions.csv")
    if kind == "time":
        pred["order"] = 1.7e9 + pred.groupby("group").cumcount() * 86400.0
    else:
        pred["order"] = np.arange(len(pred), dtype=float)
    pred.to_csv(run / "predictions.csv", index=False)
    return run


def alts_of(page: str) -> list[str]:
    return re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)


def test_report_is_self_contained_with_all_figures(tmp_path, capsys):
    run = with_order(make_run_dir(tmp_path / "run", overfit=True), "time")
    code, out, err = run_cli(["report", run, "--resamples", "100"], capsys)
    assert code == 0, err
    page = (run / "report.html").read_text()
    assert alts_of(page) == [LEARNING_CURVES, PREDICTED_VS_GOLD, TRAJECTORIES, RESIDUALS]
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from outside
    assert "OVERFITTING" in page and "global_mean" in page and "score" in page


def test_report_custom_out_and_bad_run(tmp_path, capsys):
    run = make_run_dir(tmp_path / "run", n_users=12, per_user=5)
    path = write_report(run, tmp_path / "sub" / "r.html", n_resamples=50)
    assert path.is_file() and not (run / "report.html").exists()
    code, _, err = run_cli(["report", tmp_path / "nope"], capsys)
    assert code == 2 and err.count("\n") == 1
    (run / "predictions.csv").unlink()
    code, _, err = run_cli(["report", run], capsys)
    assert code == 2 and "predictions.csv" in err


def test_report_without_history(tmp_path):
    run = make_run_dir(tmp_path / "run", n_users=12, per_user=5)
    (run / "metrics.csv").unlink()
    assert alts_of(render_report(run, n_resamples=50)) == [SPLIT_SCORES, PREDICTED_VS_GOLD, RESIDUALS]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    run = with_order(make_run_dir(tmp_path / "run"), "time")
    page = write_report(run, n_resamples=50)
    shot = tmp_path / "shot.png"
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1200,3000", page.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[1] == 1200
    assert pixels.std() > 20  # not a blank page
    # the figures drew colour into the lower part of the page (learning curves, scatter, ...)
    rgb = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    saturated = (rgb.max(axis=2) - rgb.min(axis=2)) > 60
    assert saturated[1000:].mean() > 0.002


def _category_run(path: Path, as_names: bool = True) -> Path:
    """A classification run directory: 4 emotions, 30 speakers, predictions right 70% of the time."""
    import json

    import pandas as pd

    classes = ["anger", "joy", "neutral", "sadness"]
    rng = np.random.default_rng(0)
    n = 240
    y = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, 4, n))
    split = np.where(np.arange(n) < 120, "train", np.where(np.arange(n) < 180, "val", "test"))
    label = (lambda i: np.array(classes)[i]) if as_names else (lambda i: i)
    frame = pd.DataFrame({"split": split, "id": [f"s{i}" for i in range(n)], "group": [f"spk{i // 8}" for i in range(n)],
                          "emotion": label(y), "pred_emotion": label(p)})
    path.mkdir(parents=True)
    frame.to_csv(path / "predictions.csv", index=False)
    (path / "config.yaml").write_text("task: classification\nname: emo\n")
    summary = {"task": "classification", "model": "logistic",
               "targets": [{"name": "emotion", "kind": "category", "classes": classes}],
               "metrics": {}, "best_epoch": None, "epochs_run": 0, "n_params": 10, "timings": {"total": 1.0},
               "selection": {"split": "val", "monitor": "score"}}
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "checkpoint.ckpt").write_bytes(b"placeholder")
    return path


def test_category_run_gets_a_confusion_matrix_instead_of_scatter_figures(tmp_path):
    run = _category_run(tmp_path / "run")
    page = render_report(run, n_resamples=50)
    assert alts_of(page) == [SPLIT_SCORES, f"{CONFUSION}: emotion"]
    assert "uar" in page and "Confusion matrix: emotion" in page


def test_confusion_figure_reads_class_names_and_class_indices(tmp_path):
    import pandas as pd

    from affectlab.corpus.base import TargetSpec

    spec = TargetSpec("emotion", kind="category", classes=("anger", "joy", "neutral", "sadness"))
    for as_names in (True, False):
        part = pd.read_csv(_category_run(tmp_path / f"run{as_names}", as_names) / "predictions.csv")
        png = fg.encode(fg.confusion_matrix(part, spec), ("png",))["png"]
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_confusion_counts_match_sklearn_for_names_and_indices():
    from sklearn.metrics import confusion_matrix

    from affectlab.metrics.classification import class_indices, confusion

    classes = ("anger", "joy", "neutral")
    names = ["joy", "anger", "neutral", "joy", None]
    indices = [1, 0, 2, 1, np.nan]
    assert np.array_equal(class_indices(names, classes), class_indices(indices, classes), equal_nan=True)
    y = class_indices(["joy", "anger", "neutral", "joy"], classes)
    p = class_indices([1.0, 0.0, 1.0, 2.0], classes)
    _, m = confusion(y, p, classes=[0, 1, 2])
    assert m.tolist() == confusion_matrix(y, p, labels=[0, 1, 2]).tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 0]]


def test_cross_validation_run_report(tmp_path, capsys):
    from cv_run_helpers import make_cv_run_dir

    run = make_cv_run_dir(tmp_path / "cv")
    code, out, err = run_cli(["report", run, "--resamples", "50"], capsys)
    assert code == 0, err
    page = (run / "report.html").read_text()
    assert alts_of(page) == [LEARNING_CURVES, f"{CONFUSION}: emotion"]  # a network: epochs, averaged over folds
    assert "<b>oof</b>" in page and "leave_one_group_out cross-validation, 6 folds" in page
    assert "Confusion matrix: emotion (oof;" in page and "majority" in page


def test_cross_validation_learning_curves_are_averaged_over_folds(tmp_path):
    import pandas as pd

    from affectlab.runs.evaluate import epoch_history
    from cv_run_helpers import make_cv_run_dir

    run = make_cv_run_dir(tmp_path / "cv")
    history = pd.read_csv(run / "metrics.csv")
    curve = epoch_history(history)
    assert curve["epoch"].tolist() == [1, 2, 3, 4, 5] and "fold" not in curve
    assert curve["val_score"].tolist() == pytest.approx(history.groupby("epoch")["val_score"].mean().tolist())


# --------------------------------------------------------------------------- figures for a paper

def test_every_figure_is_written_as_svg_pdf_and_png_beside_the_page(tmp_path):
    from PIL import Image

    run = with_order(make_run_dir(tmp_path / "run", n_users=16, per_user=6), "time")
    page = write_report(run, tmp_path / "out" / "report.html", n_resamples=50)
    folder = page.parent / "figures"
    drawn = [FIGURE_FILES[a] for a in (LEARNING_CURVES, PREDICTED_VS_GOLD, TRAJECTORIES, RESIDUALS)]
    for name in drawn:
        assert (folder / f"{name}.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
        assert (folder / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        png = Image.open(folder / f"{name}.png")
        assert min(png.info["dpi"]) >= 149.9 and png.size[0] >= 1000
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.{x}" for n in drawn for x in ("pdf", "png", "svg"))
    # the page embeds the same PNG bytes as the file
    html = page.read_text()
    import base64

    embedded = re.findall(r'alt="predicted vs gold" src="data:image/png;base64,([^"]+)"', html)
    assert base64.b64decode(embedded[0]) == (folder / "predicted-vs-gold.png").read_bytes()


def _part(discrete: bool, n: int = 200, seed: int = 1):
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = rng.integers(-2, 3, n).astype(float) if discrete else rng.normal(0, 1, n)
    p = 0.6 * y + rng.normal(0, 0.7, n)
    frame = pd.DataFrame({"group": [f"u{i % 5}" for i in range(n)], "valence": y, "pred_valence": p,
                          "order": np.arange(n, dtype=float)})
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)  # file order is not time order


def _texts(fig):
    import matplotlib.text

    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip() and t.get_visible()]


@pytest.mark.parametrize("discrete", [True, False])
def test_panels_print_scipy_r_and_ccc_and_use_boxes_for_discrete_gold(discrete):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PathCollection
    from matplotlib.patches import PathPatch
    from scipy.stats import pearsonr

    part = _part(discrete)
    y, p = part["valence"].to_numpy(), part["pred_valence"].to_numpy()
    fig = fg.predicted_vs_gold(part, ["valence"])
    (ax,) = fig.axes
    (stats,) = [t.get_text() for t in ax.texts if t.get_text().startswith("r = ")]
    r = float(re.search(r"r = (-?[0-9.]+)", stats).group(1))
    ccc = float(re.search(r"CCC = (-?[0-9.]+)", stats).group(1))
    ref_ccc = 2 * np.cov(y, p, bias=True)[0, 1] / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)
    assert r == pytest.approx(pearsonr(y, p)[0], abs=5e-4) and ccc == pytest.approx(ref_ccc, abs=5e-4)
    assert f"n = {len(y)}" in stats
    boxes = [a for a in ax.patches if isinstance(a, PathPatch)]
    scatter = [c for c in ax.collections if isinstance(c, PathCollection)]
    if discrete:  # one box per gold level, at the level, and no strips of points
        assert len(boxes) == 5 and not scatter
        assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == ["-2", "-1", "0", "1", "2"]
        assert [t.get_text().split("\n")[1] for t in ax.get_xticklabels()] == [f"n = {(y == v).sum()}" for v in range(-2, 3)]
    else:
        assert not boxes and len(scatter) == 1
    matplotlib.pyplot.close(fig)


def test_no_text_overlaps_another_panel_and_fonts_are_readable():
    import matplotlib

    matplotlib.use("Agg")
    part = _part(True)
    part["arousal"], part["pred_arousal"] = part["valence"].abs(), part["pred_valence"].abs()
    ranges = {"valence": (-2.0, 2.0), "arousal": (0.0, 2.0)}
    with fg.style():
        figs = [fg.predicted_vs_gold(part, ["valence", "arousal"]), fg.residuals(part, ["valence", "arousal"]),
                fg.trajectories(part, ["valence", "arousal"], "user", ranges)[0]]
    for fig in figs:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert min(t.get_fontsize() for t in _texts(fig)) >= 9
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]  # each panel with its labels and ticks
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                overlap_w = min(boxes[i].x1, boxes[j].x1) - max(boxes[i].x0, boxes[j].x0)
                overlap_h = min(boxes[i].y1, boxes[j].y1) - max(boxes[i].y0, boxes[j].y0)
                assert overlap_w <= 1 or overlap_h <= 1, f"panels {i} and {j} overlap"
        matplotlib.pyplot.close(fig)


def test_trajectories_on_the_time_axis_with_one_scale_per_target():
    import matplotlib

    matplotlib.use("Agg")
    part = _part(True)
    part.loc[0, "pred_valence"] = -3.5  # outside the declared range: still shown
    fig, x_label = fg.trajectories(part, ["valence"], "user", {"valence": (-2.0, 2.0)})
    assert x_label.startswith("order")
    ylims = {ax.get_ylim() for ax in fig.axes}
    assert len(ylims) == 1 and next(iter(ylims))[0] < -3.5 and next(iter(ylims))[1] > 2.0
    for ax in fig.axes:
        g = ax.get_title(loc="left").split(":")[0].split()[-1]
        rows = part[part["group"] == g].sort_values("order")
        gold, pred = ax.get_lines()[:2]
        assert gold.get_xdata().tolist() == rows["order"].tolist()  # the data's order, sorted: not file order
        assert gold.get_ydata().tolist() == rows["valence"].tolist()
        assert pred.get_ydata().tolist() == rows["pred_valence"].tolist()
    matplotlib.pyplot.close(fig)
    # dates (seconds since 1970 from a date column) become a date axis
    part["order"] = 1.7e9 + part["order"] * 86400
    fig, x_label = fg.trajectories(part, ["valence"], "user", {})
    assert x_label == "date"
    matplotlib.pyplot.close(fig)


def test_trajectories_in_sessions_use_the_rank_in_time_and_mark_each_session():
    """Samples in bursts months apart (SemEval's collection phases): the x axis is the rank in
    time order, a dotted line before each session's first sample, its date written beside it."""
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    day = 86400.0
    t = 1.6e9 + np.r_[np.arange(10) * day, 200 * day + np.arange(8) * day, 400 * day + np.arange(12) * day]
    rng = np.random.default_rng(0)
    part = pd.DataFrame({"group": "u1", "valence": rng.integers(-2, 3, 30).astype(float),
                         "pred_valence": rng.normal(0, 1, 30), "order": rng.permutation(t)})
    assert fg.session_starts(np.sort(t)).tolist() == [10, 18]
    fig, x_label = fg.trajectories(part, ["valence"], "user", {"valence": (-2.0, 2.0)})
    assert x_label.startswith("sample number in time order")
    (ax,) = fig.axes
    gold = ax.get_lines()[0]
    assert gold.get_xdata().tolist() == list(range(30))
    assert gold.get_ydata().tolist() == part.sort_values("order")["valence"].tolist()
    dotted = [line.get_xdata()[0] for line in ax.get_lines()[2:]]
    assert dotted == [9.5, 17.5]
    dates = [a.get_text() for a in ax.texts]
    assert dates == [pd.Timestamp(v, unit="s").strftime("%Y-%m-%d") for v in (t[0], t[10], t[18])]
    matplotlib.pyplot.close(fig)


def test_closed_form_score_bars_show_the_scores_per_split_and_per_fold():
    import matplotlib

    matplotlib.use("Agg")
    from affectlab.runs.summary import RunSummary

    summary = RunSummary.from_dict({"metrics": {"val": {"score": 0.41}, "train": {"score": 0.62}}})
    bars, x_label = fg.fold_bars(summary, "score")
    assert bars == [("train", 0.62), ("val", 0.41)] and x_label == "split"
    fig = fg.score_bars(bars, "score", title=f"m — p\nscore per split ({fg.CLOSED_FORM})", x_label=x_label,
                        chance=0.25, pooled=("val (evaluated)", 0.41, 0.3, 0.5))
    (ax,) = fig.axes
    assert fg.CLOSED_FORM in ax.get_title(loc="left")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["train", "val"]
    assert [b.get_height() for b in ax.patches if b.get_width() < 1] == pytest.approx([0.62, 0.41])
    matplotlib.pyplot.close(fig)
    cv = RunSummary.from_dict({"folds": [{"index": i, "metrics": {"test": {"uar": 0.5 + i / 10}}} for i in (1, 2, 3)]})
    bars, x_label = fg.fold_bars(cv, "uar", "speaker")
    assert [v for _, v in bars] == pytest.approx([0.6, 0.7, 0.8]) and x_label.startswith("fold")
    loso = RunSummary.from_dict({"folds": [{"index": i, "groups": [f"s{i}"], "metrics": {"test": {"uar": 0.5}}}
                                           for i in (1, 2)]})
    assert fg.fold_bars(loso, "uar", "speaker") == ([("s1", 0.5), ("s2", 0.5)], "held-out speaker (one fold each)")
