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
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
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
    assert "(first: id 'r" in line
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


# --------------------------------------------------------------------------- published references belong to data

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _semeval_eval(frame: pd.DataFrame, noise: float = 0.05):
    """Near-perfect predictions of ``frame``'s labels, as evaluate_data's input (SemEval's key columns)."""
    from affectlab.evaluation.evaluate import EvalData

    rng = np.random.default_rng(0)
    y = frame[["valence", "arousal"]].to_numpy(float)
    p = y + rng.normal(scale=noise, size=y.shape)
    ids = frame[["user_id", "text_id"]].astype(str).reset_index(drop=True)
    return EvalData("semeval", ["valence", "arousal"], ids, y, p, frame["user_id"].astype(str).to_numpy())


def test_semeval_references_do_not_fire_on_the_demo_corpus(tmp_path):
    """The demo's synthetic corpus under task semeval: near-perfect predictions, no false alarm."""
    from affectlab.corpus.synthetic import make_longitudinal_corpus
    from affectlab.evaluation.evaluate import evaluate_data

    res = evaluate_data(_semeval_eval(make_longitudinal_corpus(seed=0)), n_resamples=100)
    assert res.metrics["score"].low > 0.611  # beyond the best team's score, yet not SemEval's data
    assert "ABOVE_STATE_OF_THE_ART" not in {f.code for f in res.findings}


@pytest.mark.skipif(not (SHARED / "semeval2026-task2" / "train_subtask1.csv").is_file(), reason="needs ../shared/data")
def test_semeval_references_still_fire_on_the_real_training_file():
    from affectlab.evaluation.evaluate import evaluate_data

    frame = pd.read_csv(SHARED / "semeval2026-task2" / "train_subtask1.csv")
    part = frame[frame["user_id"] % 5 == 0]  # any part of the real file (a dev split) is recognised
    res = evaluate_data(_semeval_eval(part), n_resamples=100)
    assert [f.code for f in res.findings].count("ABOVE_STATE_OF_THE_ART") == 1


def test_benchmark_data_is_recognised_by_ids():
    from affectlab.tasks import get_task

    mosi, emodb, semeval = (get_task(t).references[0].data for t in ("mosi", "emodb", "semeval"))
    assert mosi.matches(["03bSnISJMiM$_$1", "_dI--eQ6qVU$_$12"]) and not mosi.matches(["v0$_$1", "clip_7"])
    assert emodb.matches(["wav/03a01Fa.wav", "16b10Td", "03$_$03a01Fa"]) and not emodb.matches(["spk1_angry_01"])
    assert not mosi.matches(["03$_$03a01Fa"])
    assert not semeval.matches(["100", "101"], ["1", "1"])
    # a config's own references name no data: they apply to every run, as before
    from affectlab.experiment import task_references, validate_config

    own = validate_config({"task": "mosi", "references": [{"system": "mine", "metric": "mae", "value": 9.0}]})
    assert task_references(own)[-1].data is None


def test_mosi_references_do_not_fire_on_other_data_and_a_note_says_why(tmp_path):
    """Arrays nearly equal to the label (which beat ALMT on MOSI ids: tests/test_cli_mosi.py), but
    ids that are not CMU-MOSI's: not compared, said once in a note."""
    from affectlab.experiment import validate_config
    from affectlab.pipeline import Notes, train_run
    from test_corpus_mmsa import make_mmsa

    leaky = make_mmsa(tmp_path / "leaky.pkl", {"train": 90, "valid": 45, "test": 45}, signal=6.0)
    cfg = validate_config({"task": "mosi", "data": {"format": "mmsa"}, "split": {"kind": "given"},
                           "model": {"name": "ridge_text"}, "baselines": ["global_mean"]})
    notes = Notes()
    run = train_run(cfg, leaky, tmp_path / "run", notes=notes)
    assert json.loads((run / "summary.json").read_text())["findings"] == []
    said = [line for line in notes.lines if "published references belong to CMU-MOSI" in line]
    assert len(said) == 1 and "not compared" in said[0]


def test_scale_mismatch_is_info_where_the_score_is_a_correlation():
    """SemEval ranks by r_composite, which a positive affine map leaves unchanged (checked here with
    scipy on per-user correlations); MOSI's MAE headline is not: warning there."""
    from scipy.stats import pearsonr

    from affectlab.evaluation import diagnostics as dg
    from affectlab.tasks import get_task

    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    p = 0.4 * y + 0.5 + rng.normal(scale=0.2, size=300)
    users = np.repeat(np.arange(30), 10)
    within = [pearsonr(y[users == u], p[users == u])[0] for u in range(30)]
    within_mapped = [pearsonr(y[users == u], 2.5 * p[users == u] - 1)[0] for u in range(30)]
    assert np.allclose(within, within_mapped)
    [info] = dg.check_scale(y, p, "v", scale_free_score=get_task("semeval").score_scale_free)
    [warning] = dg.check_scale(y, p, "v", scale_free_score=get_task("mosi").score_scale_free)
    assert (info.severity, warning.severity) == ("info", "warning")
    assert "leaves unchanged" in info.message and "leaves unchanged" not in warning.message
