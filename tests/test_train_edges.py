"""Issue 21, ``train`` at the edges: cases that gave a wrong result with exit code 0.

- a model (or a baseline) whose ``predict`` returns NaN is refused in one line, hold-out and
  cross-validation alike, and nothing is written (it used to report CCC 0.000 in every fold);
- a speaker with a single recording under leave-one-speaker-out is a finding (SINGLE_SAMPLE_FOLD)
  that says what it does to the pooled score (it was only a `score nan` note for its fold);
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from test_bad_input import one_line_refusal
from train_edge_data import leftovers, speaker_table, table_config


@pytest.fixture
def nan_module(tmp_path, monkeypatch):
    """A user's scikit-learn-style model that predicts NaN everywhere (or in one row)."""
    (tmp_path / "nanpkg.py").write_text(textwrap.dedent('''
        import numpy as np

        class NanModel:
            def get_params(self, deep=True):
                return {}
            def fit(self, X, y):
                return self
            def predict(self, X):
                return np.full(len(X), np.nan)

        class OneNan(NanModel):
            def predict(self, X):
                out = np.zeros(len(X))
                out[-1] = np.nan
                return out
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "nanpkg"
    sys.modules.pop("nanpkg", None)


def _last_line(code: int, err: str, fragment: str) -> str:
    assert "Traceback" not in err and code == 2, (code, err)
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("affectlab: error: ") and fragment in last, last
    return last


@pytest.mark.parametrize("split, where", [("{kind: group}", "on train: 50 of 50 pred_y values"),
                                          ("{kind: group_kfold, k: 3}", "on fold 1: 20 of 20 pred_y values")])
def test_model_predicting_nan_is_refused_and_writes_nothing(nan_module, tmp_path, capsys, split, where):
    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "c.yaml", "nanpkg:NanModel", split)
    out = tmp_path / "run"
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out], capsys)
    line = _last_line(code, err, "predicted NaN or infinite values " + where)
    assert "(first: id 'r" in line
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("split, where", [("{kind: group}", "on train"), ("{kind: leave_one_group_out}", "on fold 1")])
def test_baseline_predicting_nan_in_one_row_is_refused(nan_module, tmp_path, capsys, split, where):
    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "c.yaml", "ridge_tabular", split, extra='baselines: ["nanpkg:OneNan"]\n')
    out = tmp_path / "run"
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out], capsys)
    line = _last_line(code, err, f"baseline nanpkg:OneNan predicted NaN or infinite values {where}: 1 of")
    assert not out.exists() and leftovers(tmp_path) == []


def _ccc(y, p) -> float:
    """Lin's concordance correlation (population moments), written out as an independent reference."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    cov = ((y - y.mean()) * (p - p.mean())).mean()
    return 2 * cov / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)


def test_single_recording_speaker_under_loso_is_a_finding_with_its_effect_on_the_pooled_score(tmp_path, capsys):
    frame = pd.read_csv(speaker_table(tmp_path / "t.csv"))
    frame.loc[frame.index[-1], "spk"] = "solo"
    frame.to_csv(tmp_path / "t1.csv", index=False)
    cfg = table_config(tmp_path / "loso.yaml", split="{kind: leave_one_group_out}")
    out = tmp_path / "run"
    code, _, err = run_cli(["train", cfg, "--data", tmp_path / "t1.csv", "--out", out], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    found = [f for f in summary["findings"] if f["code"] == "SINGLE_SAMPLE_FOLD"]
    assert len(found) == 1 and found[0]["severity"] == "warning"
    message = found[0]["message"]
    assert "fold 7 holds out a single sample (group 'solo', its only one)" in message and message in err
    assert "1 of the 60 pooled out-of-fold rows" in message
    pred = pd.read_csv(out / "predictions.csv")
    rest = pred[pred["group"] != "solo"]
    assert f"pooled score {_ccc(pred['y'], pred['pred_y']):.3f} with it, {_ccc(rest['y'], rest['pred_y']):.3f} without" in message


def test_no_single_sample_fold_no_finding(tmp_path, capsys):
    cfg = table_config(tmp_path / "loso.yaml", split="{kind: leave_one_group_out}")
    out = tmp_path / "run"
    assert run_cli(["train", cfg, "--data", speaker_table(tmp_path / "t.csv"), "--out", out], capsys)[0] == 0
    assert not [f for f in json.loads((out / "summary.json").read_text())["findings"] if f["code"] == "SINGLE_SAMPLE_FOLD"]
