"""Issue 21, ``train`` at the edges: cases that gave a wrong result with exit code 0.

- a model (or a baseline) whose ``predict`` returns NaN is refused in one line, hold-out and
  cross-validation alike, and nothing is written (it used to report CCC 0.000 in every fold);
"""

from __future__ import annotations

import sys
import textwrap

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
