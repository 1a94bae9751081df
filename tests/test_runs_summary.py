"""RunSummary: round trips, summaries written by older releases, real runs, malformed files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from affectlab.core.errors import AffectlabError
from affectlab.runs.summary import DataInfo, RunSummary

#: summary.json as the first release wrote it (targets without kind/classes, task "generic")
OLD = {
    "task": "generic", "model": "ridge_embedding",
    "targets": [{"name": "valence", "low": -2.0, "high": 2.0}],
    "metrics": {"train": {"ccc": 0.8, "pearson": 0.9}, "val": {"ccc": 0.5, "pearson": None}},
    "baselines": {"global_mean": {"train": {"ccc": 0.0}, "val": {"ccc": 0.0}}},
    "baseline_fit_seconds": {"global_mean": 0.001},
    "best_epoch": 0, "epochs_run": 0, "n_params": 385,
    "timings": {"features": 1.5, "fit": 0.2, "predict": 0.01, "total": 2.0, "per_epoch": None},
    "peak_memory_mb": 512.0,
    "selection": {"split": "val", "monitor": "ccc", "test_used_for_selection": False, "test_evaluated_once": False},
    "splits": {"train": 80, "val": 20}, "n_groups": {"train": 8, "val": 2}, "nonfinite": {},
    "features": {"encoder": "all-MiniLM-L6-v2", "cached": 100},
    "data": {"path": "/data/train.csv", "sha256": "ab" * 32},
    "refit_full": True, "warnings": ["2 user(s) have a single text"], "argv": ["train", "c.yaml"],
}


def contains(written, original, where="summary"):
    """Every key of ``original`` is in ``written`` with the same value (new keys may be added)."""
    if isinstance(original, dict):
        assert isinstance(written, dict), where
        for key, value in original.items():
            assert key in written, f"{where}.{key}"
            contains(written[key], value, f"{where}.{key}")
    elif isinstance(original, list):
        assert len(written) == len(original), where
        for i, (w, o) in enumerate(zip(written, original)):
            contains(w, o, f"{where}.{i}")
    else:
        assert written == original, where


def test_old_summary_reads_and_writes_back_what_it_had():
    s = RunSummary.from_dict(OLD)
    assert s.targets[0].kind == "regression" and s.targets[0].classes == []
    assert s.metric("val", "ccc") == 0.5 and s.metric("val", "pearson") is None and s.metric("test", "ccc") is None
    assert s.monitor == "ccc" and s.evaluated_split == "val" and not s.is_cross_validation
    out = s.to_dict()
    contains(out, OLD)
    assert out["timings"]["refit"] is None  # known fields are always present
    assert not {"protocol", "folds", "pooled", "cis", "transfer"} & set(out)


def test_partial_and_unknown_keys_survive():
    s = RunSummary.from_dict({"selection": {"monitor": "mae"}, "metrics": {"val": {"mae": 1}}, "from_the_future": [1, 2]})
    assert s.task == "" and s.monitor == "mae" and s.metric("val", "mae") == 1.0
    assert s.to_dict()["from_the_future"] == [1, 2]


def test_cross_validation_fields_round_trip():
    raw = {**OLD, "metrics": {"oof": {"ccc": 0.4}},
           "protocol": {"kind": "group_kfold", "k": 5, "n_folds": 5, "seed": 0, "varied": "fold assignment"},
           "folds": [{"index": i, "metrics": {"test": {"ccc": 0.1 * i}}, "sizes": {"train": 80, "inner_val": None,
                      "test": 20}, "groups": [f"u{i}"], "seconds": 0.5} for i in range(1, 6)],
           "pooled": {"ccc": 0.4}, "cis": {"pooled": {"ccc": {"value": 0.4, "ci_low": 0.2, "ci_high": 0.6}}}}
    s = RunSummary.from_dict(raw)
    assert s.is_cross_validation and s.protocol.kind == "group_kfold" and len(s.folds) == 5
    assert s.folds[2].metrics["test"]["ccc"] == pytest.approx(0.3) and s.cis["pooled"]["ccc"].low == 0.2
    again = RunSummary.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s


def test_category_targets_keep_their_classes():
    s = RunSummary.from_dict({"targets": [{"name": "emotion", "kind": "category", "classes": ["anger", "joy"]}]})
    spec = s.target_specs()[0]
    assert spec.is_category and spec.classes == ("anger", "joy")


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"metrics": {"val": {"ccc": "high"}}}', "metrics.val.ccc"),
    ('{"targets": [{"low": 0}]}', "targets.0.name"),
])
def test_malformed_summary_fields_are_one_line(tmp_path, content, message):
    path = tmp_path / "summary.json"
    path.write_text(content)
    with pytest.raises(AffectlabError, match=message) as err:
        RunSummary.read(path)
    assert "\n" not in str(err.value)


def test_missing_summary_file(tmp_path):
    with pytest.raises(AffectlabError, match="no such file"):
        RunSummary.read(tmp_path / "summary.json")


def test_data_info_of_a_file_and_a_frame(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a\n1\n")
    info = DataInfo.of(p)
    assert info.path == str(p.resolve()) and len(info.sha256) == 64
    a, b = DataInfo.of(pd.DataFrame({"a": [1, 2]})), DataInfo.of(pd.DataFrame({"a": [1, 3]}))
    assert a.path is None and a.n_rows == 2 and a.sha256 != b.sha256


def test_summary_of_a_real_run_round_trips(tmp_path):
    """What the pipeline writes today reads as a RunSummary and writes back key for key."""
    from affectlab.api import train

    frame = pd.DataFrame({"id": [f"s{i}" for i in range(30)], "g": [f"u{i % 6}" for i in range(30)],
                          "x": [float(i % 5) for i in range(30)], "y": [0.1 * (i % 5) for i in range(30)]})
    cfg = {"task": "regression", "features": {"text": {"kind": "none"}}, "split": {"kind": "group"},
           "data": {"format": "table", "columns": {"id": "id", "group": "g"}, "targets": [{"name": "y", "low": 0, "high": 1}],
                    "options": {"features": ["x"]}},
           "model": {"name": "ridge_all", "modalities": ["tabular"]}}
    run = train(cfg, frame, tmp_path / "run")
    raw = json.loads((run.path / "summary.json").read_text())
    typed = RunSummary.from_dict(raw)
    assert typed.model == "ridge_all" and typed.targets[0].high == 1.0 and typed.data.path is None
    assert typed.to_dict() == raw  # the run wrote it through RunSummary: nothing to add


# ---------------------------------------------------------------------------------------------
# Guarded reading and NaN metrics

@pytest.mark.parametrize("text, expect", [
    ("[1, 2]", "expected a JSON object, found an array"),
    ('{"task": "sem', "not valid JSON, truncated or corrupt"),
    ("", "empty file"),
    ("null", "found null"),
    ('"x"', "found a string"),
    (b"\xff\xfe{}", "not UTF-8"),
    ("[" * 100000, "not valid JSON"),
    ('{"targets": [{"name": "v", "kind": "bogus"}]}', "targets.0.kind"),
    ('{"metrics": {"val": {"ccc": "high"}}}', "metrics.val.ccc"),
])
def test_malformed_summaries_are_one_line(tmp_path, text, expect):
    path = tmp_path / "summary.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(AffectlabError, match=expect) as err:
        RunSummary.read(path)
    assert "\n" not in str(err.value)


def test_summary_that_is_a_folder_or_missing(tmp_path):
    (tmp_path / "summary.json").mkdir()
    with pytest.raises(AffectlabError, match="is a folder"):
        RunSummary.read(tmp_path / "summary.json")
    with pytest.raises(AffectlabError, match="no such file"):
        RunSummary.read(tmp_path / "nothing.json")


def _one_text_per_user(tmp_path):
    """A run folder whose users have one text each: within-user correlations are undefined."""
    from affectlab.runs import RunDir

    run = RunDir.create(tmp_path / "run")
    rows = [{"split": s, "id": f"{s}{i}", "group": f"{s}u{i}", "valence": i / 10, "pred_valence": i / 9, "seen": s == "train"}
            for s in ("train", "val") for i in range(6)]
    run.write_predictions(pd.DataFrame(rows))
    run.write_baselines(pd.DataFrame([{"split": r["split"], "id": r["id"], "baseline": "global_mean", "pred_valence": 0.3}
                                      for r in rows]))
    nan = float("nan")
    summary = RunSummary(task="semeval", model="m", targets=[{"name": "valence", "low": -2, "high": 2}],
                         metrics={sp: {"r_within_valence": nan, "r_composite_valence": nan, "score": nan, "ccc": 0.4}
                                  for sp in ("train", "val")},
                         baselines={"global_mean": {"val": {"pearson_valence": nan, "ccc": 0.0}}})
    run.write_summary(summary)
    return run


def test_nan_metrics_are_stored_as_null_with_a_reason_and_read_as_nan(tmp_path):
    import math

    run = _one_text_per_user(tmp_path)
    raw = json.loads((run.path / "summary.json").read_text())
    assert raw["metrics"]["val"]["r_within_valence"] is None and raw["metrics"]["val"]["ccc"] == 0.4
    reasons = raw["nan_reasons"]
    assert "no user has two or more samples in val" in reasons["metrics.val.r_within_valence"]
    assert reasons["metrics.val.score"].startswith("depends on r_within_valence")
    assert "predictions of valence are constant" in reasons["baselines.global_mean.val.pearson_valence"]
    s = run.summary()
    assert math.isnan(s.value("val", "score")) and s.metric("val", "score") is None and s.value("val", "ccc") == 0.4
    assert s.nan_reason("val", "ccc") is None and s.nan_reason("val", "absent") is None
    assert "constant" in s.nan_reason("val", "pearson_valence", baseline="global_mean")
    notes = s.nan_notes()
    assert len(notes) == 1 and notes[0].startswith("NaN: r_within_valence, r_composite_valence, score on train, val: ")
    assert s.to_dict()["nan_reasons"] == reasons  # round trip
    assert "nan_reasons" not in RunSummary(task="x").to_dict()  # runs without NaN: summary unchanged


def test_nan_without_predictions_gets_a_generic_reason(tmp_path):
    from affectlab.runs import RunDir

    run = RunDir.create(tmp_path / "run")
    run.write_summary({"task": "regression", "metrics": {"val": {"ccc": None}}})
    s = run.summary()
    assert s.nan_reason("val", "ccc") == "undefined on these samples (no reason recorded)"
