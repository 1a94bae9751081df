"""``affectlab report``: a self-contained page with every figure, rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from affectlab.report import CONFUSION, FIGURES, _confusion, render_report, write_report
from conftest import run_cli
from test_evaluation_helpers import make_run_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_is_self_contained_with_all_figures(tmp_path, capsys):
    run = make_run_dir(tmp_path / "run", overfit=True)
    code, out, err = run_cli(["report", run, "--resamples", "100"], capsys)
    assert code == 0, err
    page = (run / "report.html").read_text()
    alts = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert alts == list(FIGURES)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from outside
    assert "OVERFITTING" in page and "global_mean" in page and "score" in page


def test_report_custom_out_and_bad_run(tmp_path, capsys):
    run = make_run_dir(tmp_path / "run")
    path = write_report(run, tmp_path / "sub" / "r.html", n_resamples=50)
    assert path.is_file() and not (run / "report.html").exists()
    code, _, err = run_cli(["report", tmp_path / "nope"], capsys)
    assert code == 2 and err.count("\n") == 1
    (run / "predictions.csv").unlink()
    code, _, err = run_cli(["report", run], capsys)
    assert code == 2 and "predictions.csv" in err


def test_report_without_history(tmp_path):
    run = make_run_dir(tmp_path / "run")
    (run / "metrics.csv").unlink()
    assert render_report(run, n_resamples=50).count("<img ") == len(FIGURES)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    run = make_run_dir(tmp_path / "run")
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
    alts = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert alts == [FIGURES[0], f"{CONFUSION}: emotion"]
    assert "uar" in page and "Confusion matrix: emotion" in page


def test_confusion_figure_reads_class_names_and_class_indices(tmp_path):
    import base64

    import pandas as pd

    from affectlab.corpus.base import TargetSpec

    spec = TargetSpec("emotion", kind="category", classes=("anger", "joy", "neutral", "sadness"))
    for as_names in (True, False):
        part = pd.read_csv(_category_run(tmp_path / f"run{as_names}", as_names) / "predictions.csv")
        png = base64.b64decode(_confusion(part, spec))
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
    alts = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert alts == [FIGURES[0], f"{CONFUSION}: emotion"]
    assert "<b>oof</b>" in page and "leave_one_group_out cross-validation, 6 folds" in page
    assert "Confusion matrix: emotion (oof;" in page and "majority" in page


def test_cross_validation_learning_curves_are_averaged_over_folds(tmp_path):
    import pandas as pd

    from affectlab.evaluation.evaluate import epoch_history
    from cv_run_helpers import make_cv_run_dir

    run = make_cv_run_dir(tmp_path / "cv")
    history = pd.read_csv(run / "metrics.csv")
    curve = epoch_history(history)
    assert curve["epoch"].tolist() == [1, 2, 3, 4, 5] and "fold" not in curve
    assert curve["val_score"].tolist() == pytest.approx(history.groupby("epoch")["val_score"].mean().tolist())
