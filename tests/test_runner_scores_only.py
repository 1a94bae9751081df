"""``train_run(..., scores_only=True)`` (sweep and ablation trials): the protocol's scores without a
final model on all data, said in summary.json; predict refuses a cross-validation trial and notes a
hold-out one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from affectlab.config import RunConfig
from affectlab.core.errors import AffectlabError
from affectlab.core.notes import Notes
from affectlab.pipeline import predict_run, train_run
from affectlab.runs.rundir import RunDir
from test_cross_validation import SPY_LOG, config, speaker_table


def test_cross_validation_scores_only_fits_the_folds_and_no_final_model(tmp_path):
    SPY_LOG.clear()
    frame = speaker_table(n_speakers=7)
    frame["split"] = np.where(frame["speaker"] == "spk6", "test", "train")
    cfg = RunConfig.model_validate(config("leave_one_group_out", test_split="test"))
    run = RunDir.open(train_run(cfg, frame, tmp_path / "run", scores_only=True))
    assert len(SPY_LOG) == 6  # one fit per held-out speaker; no refit on all data, nothing predicts test
    test_ids = set(frame.loc[frame["split"] == "test", "rid"])
    assert not any(fit["predict"] & test_ids for fit in SPY_LOG)
    s = run.summary()
    assert s.scores_only and not s.refit_full and s.fit == {} and s.timings.refit is None
    assert set(s.metrics) == {"oof"} and s.splits == {"oof": len(frame) - len(test_ids)}
    assert not s.selection.test_evaluated_once and any("test split 'test' is not scored" in w for w in s.warnings)
    pred = pd.read_csv(run.path / "predictions.csv")
    assert set(pred["split"]) == {"oof"}
    assert s.metric("oof", "uar_emotion") == pytest.approx(balanced_accuracy_score(pred["emotion"], pred["pred_emotion"]))
    ckpt = run.checkpoint()
    assert ckpt["state"] is None and ckpt["model"] == "test_cv_spy" and ckpt["config"]["split"]["kind"] == "leave_one_group_out"
    with pytest.raises(AffectlabError, match="a scores-only run .* no model refitted on all data"):
        predict_run(run.path, frame, tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()
    # the same config in full: the same out-of-fold scores, plus the final model and its test score
    SPY_LOG.clear()
    full = RunDir.open(train_run(cfg, frame, tmp_path / "full")).summary()
    assert len(SPY_LOG) == 7 and full.refit_full and not full.scores_only and "test" in full.metrics
    assert full.metrics["oof"] == pytest.approx(s.metrics["oof"])


def test_hold_out_scores_only_keeps_the_selected_model_and_predict_says_so(tmp_path):
    frame = speaker_table()
    cfg = RunConfig.model_validate(config("group", unseen_fraction=0.34, model="svm_tabular"))
    run = RunDir.open(train_run(cfg, frame, tmp_path / "run", scores_only=True))
    s = run.summary()
    assert s.scores_only and not s.refit_full and s.timings.refit is None and "val" in s.metrics
    notes = Notes()
    _, out = predict_run(run.path, frame, None, notes=notes)
    assert len(out) == len(frame) and any("fitted on the training part alone" in n for n in notes.lines)
    # its validation scores are those of the full run (whose model is refitted on all rows)
    full = RunDir.open(train_run(cfg, frame, tmp_path / "full")).summary()
    assert full.refit_full and full.metrics["val"] == pytest.approx(s.metrics["val"])
