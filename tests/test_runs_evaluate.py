"""Run evaluation (affectlab.runs.evaluate): the split it picks and the run-level findings."""

from __future__ import annotations

import pandas as pd
import pytest

from affectlab.core.errors import AffectlabError
from affectlab.runs import Split
from affectlab.runs.evaluate import check_selection, pick_split
from affectlab.runs.summary import RunSummary


def test_selection_findings():
    summary = RunSummary.from_dict
    found = check_selection(summary({"selection": {"split": "test", "test_used_for_selection": True}}))
    assert found[0].severity == "error" and "'test_used_for_selection': True" in found[0].message
    assert check_selection(summary({"selection": {"split": "val", "test_used_for_selection": False}})) == []
    assert check_selection(summary({"metrics": {"test": {"ccc": 0.5}}}))[0].severity == "info"


def test_pick_split_is_the_headline_of_the_labelled_splits():
    pred = pd.DataFrame({"split": ["train", "val", "test", "test"], "v": [1.0, 2.0, None, None]})
    # test rows without gold labels do not count: val is the headline
    assert pick_split(pred, ["v"]) is Split.VAL
    assert pick_split(pred, ["v"], "train") is Split.TRAIN
    with pytest.raises(AffectlabError, match="no labelled 'test' rows in predictions.csv"):
        pick_split(pred, ["v"], "test")
    with pytest.raises(AffectlabError, match="--split: unknown split 'dev'"):
        pick_split(pred, ["v"], "dev")
    oof = pd.DataFrame({"split": ["oof", "oof"], "v": [1.0, 2.0]})
    assert pick_split(oof, ["v"]) == "oof"
