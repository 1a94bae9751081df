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


def test_evaluation_imports_nothing_from_runs():
    """Pure scoring stays below the run layer: importing every evaluation module loads no affectlab.runs module."""
    import subprocess
    import sys

    code = ("import sys, affectlab.evaluation.evaluate, affectlab.evaluation.diagnostics, affectlab.evaluation.bootstrap; "
            "print(sorted(m for m in sys.modules if m.startswith('affectlab.runs')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_headline_split_order():
    from affectlab.runs import HEADLINE_ORDER, headline_split, shared_headline_split

    assert [s.value for s in HEADLINE_ORDER] == ["test", "val", "oof", "full"]
    assert headline_split(RunSummary.from_dict({"metrics": {"oof": {}, "test": {}}})) is Split.TEST
    assert shared_headline_split([["train", "oof", "test"], ["oof"]]) is Split.OOF
    with pytest.raises(AffectlabError, match="no test, val, oof or full scores"):
        headline_split(RunSummary())
    assert RunSummary().evaluated_split is None
