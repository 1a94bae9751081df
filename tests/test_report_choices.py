"""Figures that fit the data (issue 20, item 6): which figures a report draws follows the run —
target kinds, a real order column, a model with or without epochs, the protocol, clipped
predictions — and the metrics table writes each value once."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import affectlab.report as report
from affectlab.corpus.base import TargetSpec
from affectlab.report import (CONFUSION, FIGURE_FILES, FOLD_SCORES, LEARNING_CURVES, PREDICTED_VS_GOLD, RESIDUALS,
                              SPLIT_SCORES, TRAJECTORIES, render_report, write_report)
from affectlab.report import choices as ch
from affectlab.report import figures as fg
from affectlab.runs.evaluate import evaluate_run
from test_evaluation_helpers import make_run_dir
from test_report import alts_of, with_order

DATA = Path(__file__).parent / "data"


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the report encodes, as ``{first title or label: [visible texts]}`` in page order."""
    import matplotlib

    matplotlib.use("Agg")
    seen: list[tuple[object, list[str]]] = []
    encode = fg.encode

    def spy(fig, formats=("png", "svg", "pdf")):  # noqa: ANN001
        fig.canvas.draw()
        texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip() and t.get_visible()]
        seen.append((fig, texts))
        return encode(fig, formats)

    monkeypatch.setattr(fg, "encode", spy)
    return seen


def _edit_summary(run: Path, **changes) -> None:
    summary = json.loads((run / "summary.json").read_text())
    summary.update(changes)
    (run / "summary.json").write_text(json.dumps(summary))


def _edit_predictions(run: Path, fn) -> pd.DataFrame:  # noqa: ANN001
    pred = pd.read_csv(run / "predictions.csv")
    pred = fn(pred)
    pred.to_csv(run / "predictions.csv", index=False)
    return pred


def class_run(path: Path, classes: tuple[str, ...], *, folds: bool = False, epochs: bool = False,
              model: str = "svm") -> Path:
    """A classification run: 12 speakers of 10 rows, predictions right about 70% of the time; hold-out
    (train/val/test) or leave-one-speaker-out (``folds``, only ``oof`` rows and per-fold metrics)."""
    from affectlab.evaluation.scoring import score_arrays

    rng = np.random.default_rng(len(classes))
    n, k = 120, len(classes)
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n))
    speaker = np.repeat(np.arange(12), 10)
    split = np.where(folds, "oof", np.where(speaker < 6, "train", np.where(speaker < 9, "val", "test")))
    names = np.array(classes)
    frame = pd.DataFrame({"split": split, "id": [f"s{i}" for i in range(n)], "group": [f"spk{s}" for s in speaker],
                          "emotion": names[y], "pred_emotion": names[p], "seen": False,
                          "order": np.arange(n, dtype=float)})  # the readers' file order: no time axis
    spec = TargetSpec("emotion", kind="category", classes=classes)
    path.mkdir(parents=True)
    cfg = {"task": "classification", "name": path.name, "model": {"name": model},
           "split": {"kind": "leave_one_group_out" if folds else "group"}}
    summary: dict = {"task": "classification", "model": model, "targets": [spec.describe()], "epochs_run": 0,
                     "best_epoch": None, "n_params": 10, "timings": {"total": 1.0},
                     "selection": {"split": "val", "monitor": "score"}}
    if folds:
        frame["fold"] = speaker + 1
        summary["protocol"] = {"kind": "leave_one_group_out", "n_folds": 12, "k": 12}
        summary["folds"] = [{"index": f + 1, "groups": [f"spk{f}"], "metrics": {"test": score_arrays(
            "classification", y[speaker == f, None], p[speaker == f, None], [spec])}} for f in range(12)]
        summary["metrics"] = {"oof": score_arrays("classification", y[:, None], p[:, None], [spec])}
    else:
        summary["metrics"] = {s: score_arrays("classification", y[split == s, None], p[split == s, None], [spec])
                              for s in ("train", "val", "test")}
    if epochs:
        summary.update(epochs_run=4, best_epoch=2)
        rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_score": 0.5 + e / 20,
                 "val_score": 0.5 + e / 40} for e in range(1, 5)]
        pd.DataFrame(rows).to_csv(path / "metrics.csv", index=False)
    frame.to_csv(path / "predictions.csv", index=False)
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "checkpoint.ckpt").write_bytes(b"placeholder")
    return path


def closed_form(run: Path) -> Path:
    """The run as a model without epochs left it: no metrics.csv, no epochs in summary.json."""
    (run / "metrics.csv").unlink(missing_ok=True)
    _edit_summary(run, epochs_run=0, best_epoch=None, model="ridge")
    return run


# --------------------------------------------------------------------------- trajectories need a real order


@pytest.mark.parametrize("order, drawn_", [(None, False), ("file", False), ("time", True), ("named", True)])
def test_trajectories_only_with_a_real_order_column(tmp_path, order, drawn_):
    run = make_run_dir(tmp_path / "run", n_users=12, per_user=6, task="regression")
    if order is not None:
        with_order(run, "file" if order == "named" else order)
    if order == "named":  # the config names the data's order column: its values are a real order
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["data"] = {"format": "table", "columns": {"id": "id", "group": "user", "order": "session"}}
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    page = render_report(run, n_resamples=30)
    assert (TRAJECTORIES in alts_of(page)) is drawn_
    if not drawn_:
        why = {None: "predictions.csv has no order column", "file": "the order column is the file order"}[order]
        assert f"No trajectories: {why}" in page
    else:
        assert "Time order: the data's order" in page and ("'session'" in page) is (order == "named")


def test_order_column_decision():
    rows = pd.DataFrame({"id": [f"{i}" for i in range(6)], "group": list("aabbcc")})
    assert ch.order_column(rows.assign(order=[5.0, 2, 0, 1, 4, 3]), {}) == (
        False, "the order column is the file order (the data has no time or order column), which is no time axis")
    assert ch.order_column(rows.assign(order=[1.0, 2, 1, 2, 1, 2]), {})[0]  # clip numbers per video: a real order
    assert ch.order_column(rows.assign(order=[0.5, 3.25, 0.0, 7.5, 1.0, 2.0]), {})[0]  # segment starts (seconds)
    assert ch.order_column(rows.assign(order=0.0), {"data": {"columns": {"order": "t"}}}) == (
        False, "the order column does not vary within any group")
    assert not ch.order_column(rows.assign(order=[1.0, np.nan, 1, 2, 1, 2]), {})[0]


# --------------------------------------------------------------------------- residuals of binary targets


def test_binary_numeric_targets_get_no_residuals(tmp_path, drawn):
    run = make_run_dir(tmp_path / "run", n_users=12, per_user=6, task="regression")
    _edit_predictions(run, lambda p: p.assign(valence=(p["valence"] > 0).astype(float),
                                              pred_valence=lambda f: 0.5 * f["valence"] + 0.3 * f["pred_valence"].clip(-1, 1)))
    page = render_report(run, n_resamples=30)
    assert alts_of(page) == [LEARNING_CURVES, PREDICTED_VS_GOLD, RESIDUALS]
    assert "No residuals for valence: two gold values" in page
    residual_fig = drawn[2][0]
    labels = {ax.get_xlabel() for ax in residual_fig.axes}
    assert labels == {"predicted arousal", "residual arousal (predicted − gold)"}  # valence's: two diagonals
    boxes = drawn[1][0].axes[0]  # predicted vs gold of the binary target: one box per gold value
    assert [t.get_text().split("\n")[0] for t in boxes.get_xticklabels()] == ["0", "1"]
    # both targets binary: no residual figure at all
    _edit_predictions(run, lambda p: p.assign(arousal=(p["arousal"] > 1).astype(float)))
    page = render_report(run, n_resamples=30)
    assert alts_of(page) == [LEARNING_CURVES, PREDICTED_VS_GOLD]
    assert "No residuals for valence, arousal" in page


# --------------------------------------------------------------------------- classification: one confusion panel


@pytest.mark.parametrize("classes", [("neg", "pos"), ("anger", "joy", "neutral", "sadness")])
def test_classification_gets_one_confusion_panel_titled_with_model_protocol_and_score(tmp_path, classes, drawn):
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix

    run = class_run(tmp_path / "run", classes)
    page = render_report(run, n_resamples=40)
    assert alts_of(page) == [SPLIT_SCORES, f"{CONFUSION}: emotion"]  # no scatter, residuals or trajectories
    fig, texts = drawn[1]
    panels = [ax for ax in fig.axes if ax.images and ax.get_ylabel() == "true emotion"]
    assert len(panels) == 1
    pred = pd.read_csv(run / "predictions.csv").query("split == 'test'")
    counts = confusion_matrix(pred["emotion"], pred["pred_emotion"], labels=list(classes))
    shares = confusion_matrix(pred["emotion"], pred["pred_emotion"], labels=list(classes), normalize="true")
    cells = [t.get_text() for t in panels[0].texts]
    assert cells == [f"{c}\n{s:.2f}" for c, s in zip(counts.ravel(), shares.ravel())]
    title = panels[0].get_title(loc="left")
    uar = evaluate_run(run, "test", n_resamples=40).metrics["uar_emotion"]
    assert uar.value == pytest.approx(balanced_accuracy_score(pred["emotion"], pred["pred_emotion"]))
    assert title == f"svm — group hold-out, test split\nuar_emotion = {uar.value:.3f} [{uar.low:.3f}, {uar.high:.3f}]"


# --------------------------------------------------------------------------- closed-form models: scores per fold


def test_cross_validated_closed_form_model_gets_fold_scores_with_chance_and_pooled_ci(tmp_path, drawn):
    from sklearn.metrics import balanced_accuracy_score

    run = class_run(tmp_path / "run", ("angry", "happy", "sad"), folds=True)
    page = write_report(run, n_resamples=40)
    assert alts_of(page.read_text()) == [FOLD_SCORES, f"{CONFUSION}: emotion"]
    files = sorted(p.name for p in (run / "figures").iterdir())
    assert files == sorted(f"{n}.{x}" for n in ("fold-scores", "confusion-emotion") for x in ("png", "svg", "pdf"))
    fig, texts = drawn[0]
    (ax,) = fig.axes
    pred = pd.read_csv(run / "predictions.csv")
    per_fold = [balanced_accuracy_score(g["emotion"], g["pred_emotion"]) for _, g in pred.groupby("fold")]
    assert [b.get_height() for b in ax.patches if b.get_width() < 1] == pytest.approx(per_fold)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"spk{i}" for i in range(12)]
    assert ax.get_ylabel() == "score (UAR of emotion)" and ax.get_xlabel() == "held-out group (one fold each)"
    pooled = evaluate_run(run, "oof", n_resamples=40).metrics["score"]
    assert pooled.value == pytest.approx(balanced_accuracy_score(pred["emotion"], pred["pred_emotion"]))
    lines = {round(float(line.get_ydata()[0]), 6) for line in ax.get_lines()}
    assert round(1 / 3, 6) in lines and round(pooled.value, 6) in lines  # chance (UAR of a constant) and pooled
    assert f"pooled out-of-fold: {pooled.value:.3f} [{pooled.low:.3f}, {pooled.high:.3f}] (95% CI band)" in texts
    assert "chance (constant prediction): 0.333" in texts
    assert ax.get_title(loc="left").startswith("svm — leave_one_group_out CV (12 folds, pooled out-of-fold)\nscore per fold")


def test_a_network_keeps_its_learning_curves(tmp_path):
    run = class_run(tmp_path / "run", ("a", "b", "c"), epochs=True, model="mlp")
    assert alts_of(render_report(run, n_resamples=30)) == [LEARNING_CURVES, f"{CONFUSION}: emotion"]


def test_hold_out_closed_form_regression_gets_split_scores_with_ccc_chance(tmp_path, drawn):
    run = closed_form(make_run_dir(tmp_path / "run", n_users=12, per_user=6, task="regression"))
    page = render_report(run, n_resamples=30)
    assert alts_of(page) == [SPLIT_SCORES, PREDICTED_VS_GOLD, RESIDUALS]
    (ax,) = drawn[0][0].axes
    summary = json.loads((run / "summary.json").read_text())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["train", "val", "test"]
    assert [b.get_height() for b in ax.patches if b.get_width() < 1] == pytest.approx(
        [summary["metrics"][s]["score"] for s in ("train", "val", "test")])
    assert "chance (constant prediction): 0.000" in drawn[0][1]  # CCC of a constant
    assert ax.get_ylabel() == "score (mean CCC over 2 targets)"


def test_chance_level_is_the_metric_of_a_constant_prediction():
    from sklearn.metrics import accuracy_score, mean_absolute_error

    spec = TargetSpec("e", kind="category", classes=("a", "b", "c"))
    part = pd.DataFrame({"e": list("aaabbc"), "pred_e": list("abcabc")})
    assert ch.chance_level("classification", part, [spec], "score") == pytest.approx(1 / 3)
    assert ch.chance_level("classification", part, [spec], "accuracy") == pytest.approx(accuracy_score(part["e"], ["a"] * 6))
    y = np.array([0.0, 1.0, 3.0, 4.0])
    part = pd.DataFrame({"v": y, "pred_v": y})
    assert ch.chance_level("regression", part, [TargetSpec("v")], "mae") == pytest.approx(mean_absolute_error(y, [2.0] * 4))
    assert ch.chance_level("regression", part, [TargetSpec("v")], "score") == 0.0


# --------------------------------------------------------------------------- clipped predictions


def test_clipped_predictions_are_said_in_the_page_and_the_figures(tmp_path, drawn):
    run = make_run_dir(tmp_path / "run", n_users=12, per_user=6, task="regression")
    pred = _edit_predictions(run, lambda p: p.assign(pred_valence=(1.8 * p["pred_valence"]).clip(-2, 2)))
    test = pred[pred["split"] == "test"]
    low, high = int((test["pred_valence"] == -2).sum()), int((test["pred_valence"] == 2).sum())
    assert low + high > 0
    page = render_report(run, n_resamples=30)
    line = (f"valence: {low + high} of {len(test)} predictions ({100 * (low + high) / len(test):.1f}%) clipped to the "
            f"declared range [-2, 2] ({low} at -2, {high} at 2)")
    assert f"<b>Clipped:</b> {line}." in page and "PREDICTIONS_CLIPPED" in page
    short = f"clipped to [-2, 2]: {low + high} ({100 * (low + high) / len(test):.1f}%)"
    for fig, texts in (drawn[1], drawn[2]):  # predicted vs gold, residuals: in valence's panel, not arousal's
        assert sum(short in t for t in texts) == 1
    assert page.count("<b>Clipped:</b>") == 1  # arousal's predictions reach no end of its range


def test_values_on_the_range_ends_of_a_few_level_model_are_not_called_clipped():
    spec = TargetSpec("v", -2.0, 2.0)
    assert ch.clipped_counts(np.array([-2.0, -1, 0, 1, 2, 2]), spec) == (0, 0)
    assert ch.clipped_counts(np.r_[np.linspace(-1.5, 1.5, 30), [2.0]], TargetSpec("v")) == (0, 0)  # no range


# --------------------------------------------------------------------------- the metrics table lists each value once


def _table_cells(page: str) -> tuple[list[str], list[tuple[float, float, float]]]:
    table = page.split("<table class='metrics'>")[1].split("</table>")[0]
    labels = re.findall(r"<tr><td>([^<]+)</td>", table)
    cells = [tuple(map(float, m)) for m in re.findall(r"<td>(-?[0-9.]+) <span class='ci'>\[(-?[0-9.]+), (-?[0-9.]+)\]", table)]
    return labels, cells


@pytest.mark.parametrize("kind", ["semeval-two-targets", "classification-one-target", "regression-one-target"])
def test_metrics_table_lists_each_value_once(tmp_path, kind):
    if kind.startswith("classification"):
        run = class_run(tmp_path / "run", ("a", "b", "c"))
    else:
        run = make_run_dir(tmp_path / "run", n_users=16, per_user=6,
                           task="semeval" if kind.startswith("semeval") else "regression")
        if kind.endswith("one-target"):
            _edit_predictions(run, lambda p: p.drop(columns=["arousal", "pred_arousal"]))
            _edit_summary(run, targets=[{"name": "valence", "low": -2, "high": 2}])
    page = render_report(run, n_resamples=40)
    labels, cells = _table_cells(page)
    assert len(labels) == len(set(labels))
    assert len(cells) == len(set(cells)), "a value is listed twice"
    result = evaluate_run(run, n_resamples=40)
    listed = {c[0] for c in cells}
    for key, iv in result.metrics.items():  # every value the evaluation has is in the table (subsets: when they differ)
        if "/" not in key:
            assert round(iv.value, 4) in listed, key
    distinct = {(round(iv.value, 4), round(iv.low, 4), round(iv.high, 4)) for k, iv in result.metrics.items() if "/" not in k}
    assert len(cells) == len(distinct)
    score_row = [label for label in labels if "(score)" in label]
    assert score_row == [{"semeval-two-targets": "r_composite (score)", "classification-one-target": "uar (score)",
                          "regression-one-target": "ccc (score)"}[kind]]
    baselines = page.split("<h2>Baselines</h2>")[1].split("</thead>")[0]
    headers = re.findall(r"<th>([^<]*)</th>", baselines)
    assert len(headers) == len(set(headers)) and not ("score" in headers and any("(score)" in h for h in headers))


def test_seen_and_unseen_rows_only_when_they_differ_from_the_whole_split(tmp_path):
    run = make_run_dir(tmp_path / "run", n_users=16, per_user=6)  # semeval: test users are all unseen
    page = render_report(run, n_resamples=30)
    labels, _ = _table_cells(page)
    assert not [lb for lb in labels if "seen" in lb]
    assert "every evaluated user is unseen in training, so the unseen subset is the whole split" in page
    _edit_predictions(run, lambda p: p.assign(seen=np.arange(len(p)) % 2 == 0))
    labels, _ = _table_cells(render_report(run, n_resamples=30))
    assert [lb for lb in labels if "seen" in lb] == ["seen users: r_composite (score)", "seen users: ccc",
                                                      "unseen users: r_composite (score)", "unseen users: ccc"]


# --------------------------------------------------------------------------- old run directories stay reportable


def test_old_run_directory_is_reported_with_the_figures_that_fit_it(tmp_path):
    run = tmp_path / "old"
    shutil.copytree(DATA / "old-run-v0.1", run)
    page = write_report(run, n_resamples=30).read_text()
    assert alts_of(page) == [SPLIT_SCORES, PREDICTED_VS_GOLD, RESIDUALS]  # group_mean: no epochs; no order column
    assert "No trajectories: predictions.csv has no order column" in page
    assert {p.stem for p in (run / "figures").iterdir()} == {FIGURE_FILES[a] for a in (SPLIT_SCORES, PREDICTED_VS_GOLD, RESIDUALS)}


def test_figure_names_are_distinct_and_documented():
    assert len(set(FIGURE_FILES.values())) == len(FIGURE_FILES)
    docs = (Path(__file__).parents[1] / "docs" / "evaluation.md").read_text()
    for name in FIGURE_FILES.values():
        assert f"`{name}`" in docs
    assert report.CONFUSION_FILE == "confusion"
