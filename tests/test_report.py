"""``affectlab report``: a self-contained page with every figure, rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from affectlab.report import FIGURES, render_report, write_report
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
