"""Issue 12, items 2, 6 and 7: cases that used to give a wrong result (or a misleading message)
with exit code 0 now give one line and exit 2, or a note.

- a ``split.val_split`` the file does not have (selection silently off) is refused;
- a modality missing for every training sample (model trained without it) is refused;
- ``predict`` counts the NaN/inf feature values it replaces (in the split it predicts), in a note
  and in its ``--json`` summary;
- a modality missing in the training part of a cross-validation fold is refused too;
- the file's own splits without a validation split are said in a note (no selection then);
- ``evaluate`` refuses gold labels outside the task's (or the run's) declared range;
- checkpoint bytes depend on content only (not on the temporary file's name);
- a ragged CSV names the row and its field count; ``--config FOLDER`` says it is a folder.

Every file here is built by the test (no shared data).
"""

from __future__ import annotations

import hashlib
import io
import re
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from test_bad_input import one_line_refusal, refused_untouched
from test_corpus_mmsa import make_mmsa, make_split
from test_evaluation_helpers import make_run_dir, write_semeval_pair
import sys
import textwrap
from train_edge_data import leftovers, speaker_table, table_config

ROOT = Path(__file__).resolve().parents[1]
SEMEVAL = ROOT / "configs" / "semeval2026-task2" / "default.yaml"


def mosi_given(tmp_path: Path) -> Path:
    """A MOSI config on the file's own splits (split.kind: given), independent of the shipped configs."""
    path = tmp_path / "mosi-given.yaml"
    path.write_text("task: mosi\ndata: {format: mmsa}\nsplit: {kind: given}\nmodel: {name: ridge_all}\nbaselines: []\n")
    return path


# --------------------------------------------------------------------------- (a) val_split the file lacks

def test_val_split_the_file_lacks_is_refused_naming_its_splits(tmp_path, capsys):
    data = make_mmsa(tmp_path / "m.pkl")
    out = tmp_path / "run"
    code, _, err = run_cli(["train", mosi_given(tmp_path), "--data", data, "--out", out, "--set", "split.val_split=nope"], capsys)
    line = one_line_refusal(code, err, "split.val_split is 'nope'")
    assert "test, train, valid" in line and not out.exists()


def test_val_split_equal_to_the_training_split_is_refused(tmp_path, capsys):
    data = make_mmsa(tmp_path / "m.pkl")
    out = tmp_path / "run"
    code, _, err = run_cli(["train", mosi_given(tmp_path), "--data", data, "--out", out, "--set", "split.val_split=train"], capsys)
    one_line_refusal(code, err, "is the training split 'train'")
    assert not out.exists()


def _corpus(path: Path):
    from affectlab.config import DataConfig
    from affectlab.corpus import read_corpus

    return read_corpus(path, DataConfig(format="mmsa"), require_labels=True)


def test_aliases_and_the_default_still_work(tmp_path):
    from affectlab.config import RunConfig

    dev = make_mmsa(tmp_path / "dev.pkl", {"train": 30, "dev": 10, "test": 10})
    # the configured name is 'valid' (or 'val'): the file's 'dev' is a common alias of it
    for name in ("valid", "val", "validation"):
        cfg = RunConfig.model_validate({"task": "mosi", "split": {"kind": "given", "val_split": name}})
        train, val, test = _holdout_parts(_corpus(dev), cfg)
        assert len(train) == 30 and set(val.frame["split"]) == {"dev"} and len(test) == 10
    # no validation split at all and none asked for: trains without one, as before
    two = make_mmsa(tmp_path / "two.pkl", {"train": 30, "test": 10})
    train, val, test = _holdout_parts(_corpus(two), RunConfig.model_validate({"task": "mosi", "split": {"kind": "given"}}))
    assert val is None and len(test) == 10


# --------------------------------------------------------------------------- (b) a modality missing in training

def test_modality_nan_for_every_training_row_is_refused(tmp_path, capsys):
    data = make_mmsa(tmp_path / "m.pkl")
    raw = pickle.loads(data.read_bytes())
    raw["train"]["audio"][:] = np.nan  # valid and test keep their audio
    data.write_bytes(pickle.dumps(raw))
    out = tmp_path / "run"
    code, _, err = run_cli(["train", mosi_given(tmp_path), "--data", data, "--out", out], capsys)
    line = one_line_refusal(code, err, "modality 'audio' is missing")
    assert "split 'train' (60 samples)" in line and "present in 40 other sample(s)" in line
    assert "data.options.modalities" in line and not out.exists()


def test_modality_of_zero_length_in_training_is_refused_for_random_splits_too():
    from affectlab.corpus.base import Corpus
    from affectlab.core.errors import AffectlabError
    from affectlab.protocols import check_training_modalities

    n = 6
    c = Corpus(pd.DataFrame({"id": [str(i) for i in range(n)]}),
               features={"vision": np.ones((n, 2, 3), np.float32), "tabular": np.ones((n, 2), np.float32)},
               lengths={"vision": np.array([0, 0, 0, 2, 2, 2])}, name="d.pkl")
    with pytest.raises(AffectlabError, match="modality 'vision' is missing"):
        check_training_modalities(c, c.subset([0, 1, 2]), "the training part of the dev split")
    check_training_modalities(c, c.subset([0, 3]), "train")  # one training sample with vision is enough
    c.features["tabular"][3:5] = np.nan  # features without lengths: all non-finite in training
    with pytest.raises(AffectlabError, match="modality 'tabular'"):
        check_training_modalities(c, c.subset([3, 4]), "train")


# --------------------------------------------------------------------------- (c) predict counts non-finite values

@pytest.fixture(scope="module")
def ridge_run(tmp_path_factory):
    """A quick MOSI run (ridge on every modality) to predict with."""
    from affectlab.config import RunConfig
    from affectlab.pipeline import train_run

    tmp = tmp_path_factory.mktemp("silent-predict")
    data = make_mmsa(tmp / "train.pkl")
    cfg = RunConfig.model_validate({"task": "mosi", "data": {"format": "mmsa"}, "split": {"kind": "given"},
                                    "model": {"name": "ridge_all"}, "baselines": [], "seed": 0})
    return train_run(cfg, data, tmp / "run")


def test_predict_counts_the_nonfinite_values_it_replaces(ridge_run, tmp_path, capsys):
    part = make_split(12, seed=5, prefix="new")
    del part["regression_labels"]
    part["audio"][:3, 0, :2] = np.nan
    part["vision"][4, 0, 0] = np.inf
    part["vision"][5, 0, 1] = -np.inf
    data = tmp_path / "new.pkl"
    data.write_bytes(pickle.dumps({"test": part}))
    out = tmp_path / "pred.csv"
    code, stdout, err = run_cli(["predict", ridge_run, "--data", data, "--out", out, "--json"], capsys)
    assert code == 0, err
    assert "8 non-finite feature values (NaN/inf) replaced by the rule 'zero'" in err and "audio 6, vision 2" in err
    notes = json.loads(stdout)["notes"]
    assert any("8 non-finite feature values" in n for n in notes)
    assert len(pd.read_csv(out)) == 12
    # a clean file: no note
    clean = tmp_path / "clean.pkl"
    clean.write_bytes(pickle.dumps({"test": make_split(12, seed=5, prefix="new")}))
    code, _, err = run_cli(["predict", ridge_run, "--data", clean, "--out", tmp_path / "p2.csv"], capsys)
    assert code == 0 and "non-finite" not in err


# --------------------------------------------------------------------------- (d) gold outside the declared range

def test_evaluate_refuses_gold_outside_the_task_range(tmp_path, capsys):
    gold, train, pred = write_semeval_pair(tmp_path, n_users=6, per_user=5)
    frame = pd.read_csv(gold)
    frame.loc[3, "valence"] = 7
    frame.to_csv(gold, index=False)
    code, _, err = run_cli(["evaluate", "--pred", pred, "--gold", gold], capsys)
    line = one_line_refusal(code, err, "valence value 7 in data row 4")
    uid, tid = frame.loc[3, ["user_id", "text_id"]]
    assert f"(user_id/text_id {uid}/{tid})" in line and "[-2, 2]" in line and "semeval" in line


def test_evaluate_refuses_training_labels_outside_the_range(tmp_path, capsys):
    gold, train, pred = write_semeval_pair(tmp_path, n_users=6, per_user=5)
    frame = pd.read_csv(train)
    frame.loc[0, "arousal"] = -1
    frame.to_csv(train, index=False)
    code, _, err = run_cli(["evaluate", "--pred", pred, "--gold", gold, "--train", train], capsys)
    one_line_refusal(code, err, "arousal value -1 in data row 1")


def test_evaluate_run_refuses_gold_outside_the_run_targets(tmp_path, capsys):
    run = make_run_dir(tmp_path / "run", n_users=8, per_user=4)
    preds = pd.read_csv(run / "predictions.csv")
    i = int(np.flatnonzero(preds["split"] == "test")[1])
    preds.loc[i, "valence"] = 7.0
    preds.to_csv(run / "predictions.csv", index=False)
    code, _, err = run_cli(["evaluate", "--run", run], capsys)
    line = one_line_refusal(code, err, f"valence value 7 in data row {i + 1} (id {preds.loc[i, 'id']})")
    assert "[-2, 2]" in line


def test_evaluate_in_range_gold_still_scores(tmp_path, capsys):
    gold, train, pred = write_semeval_pair(tmp_path, n_users=6, per_user=5)
    code, _, err = run_cli(["evaluate", "--pred", pred, "--gold", gold, "--json"], capsys)
    assert code == 0, err


# --------------------------------------------------------------------------- (e) checkpoint bytes

def test_checkpoint_bytes_depend_on_content_only(tmp_path):
    import torch

    from affectlab.runs.rundir import load_checkpoint, save_checkpoint

    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "users": ["a", "b"]}
    paths = [tmp_path / "one" / "checkpoint.ckpt", tmp_path / "two" / "other-name.ckpt"]
    for p in paths:
        save_checkpoint(p, "m", {"hidden": 4}, [{"name": "v", "low": -1, "high": 1}], state)
    a, b = (p.read_bytes() for p in paths)
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    names = zipfile.ZipFile(io.BytesIO(a)).namelist()
    assert all(n.startswith("archive/") for n in names), names  # no temporary file name inside
    assert load_checkpoint(paths[1])["state"]["users"] == ["a", "b"]
    assert sorted(x.name for x in paths[0].parent.iterdir()) == ["checkpoint.ckpt"]  # no temporary file left


# --------------------------------------------------------------------------- (f) messages

@pytest.mark.parametrize("body, where", [
    ("1,1,hi,2024-01-01,0.5,1.0,extra\n1,2,ho,2024-01-02,0.5,1.0\n", "data row 1 (line 2) has 7 fields"),
    ("1,1,hi,2024-01-01,0.5,1.0\n1,2,ho, there,2024-01-02,0.5,1.0\n", "data row 2 (line 3) has 7 fields"),
])
def test_ragged_csv_names_the_row_not_a_column(tmp_path, capsys, body, where):
    data = tmp_path / "ragged.csv"
    data.write_text("user_id,text_id,text,timestamp,valence,arousal\n" + body)
    out = tmp_path / "run"
    code, _, err = run_cli(["train", SEMEVAL, "--data", data, "--out", out], capsys)
    line = one_line_refusal(code, err, where)
    assert "the header has 6" in line and "valence" not in line and not out.exists()


def test_quoted_commas_are_not_ragged():
    from affectlab.core.io import read_table

    p = Path(__import__("tempfile").mkdtemp()) / "q.csv"
    p.write_text('id,text,v\n1,"hi, there",0.5\n2,"multi\nline, text",1\n')
    assert read_table(p)["text"].tolist() == ["hi, there", "multi\nline, text"]


def test_config_folder_is_called_a_folder(tmp_path, capsys):
    folder = tmp_path / "configs"
    folder.mkdir()
    out = tmp_path / "demo"
    code, _, err = run_cli(["demo", "--config", folder, "--out", out], capsys)
    one_line_refusal(code, err, "is a folder, expected a YAML file")
    assert not out.exists()  # refused before the demo wrote its data
    code, _, err = run_cli(["train", folder, "--data", tmp_path / "x.csv", "--out", tmp_path / "r"], capsys)
    one_line_refusal(code, err, "is a folder, expected a YAML file")


# --------------------------------------------------------------------------- (g) modality missing in a CV training fold

def test_modality_missing_in_the_training_part_of_a_fold_is_refused(tmp_path, capsys):
    """Only one video has audio: the fold that holds it out would train without audio and be
    scored on a sample that has it; refused before any fold is trained, naming the fold."""
    data = make_mmsa(tmp_path / "m.pkl", {"train": 30, "valid": 10, "test": 10})
    raw = pickle.loads(data.read_bytes())
    for part in raw.values():
        part["audio"][:] = np.nan
    raw["train"]["audio"][0] = 1.0  # id train_v0$_$1: video train_v0
    data.write_bytes(pickle.dumps(raw))
    config = tmp_path / "cv.yaml"
    config.write_text("task: mosi\ndata: {format: mmsa}\nsplit: {kind: group_kfold, k: 3}\n"
                      "model: {name: ridge_all}\nbaselines: []\n")
    out = tmp_path / "run"
    code, _, err = run_cli(["train", config, "--data", data, "--out", out], capsys)
    line = one_line_refusal(code, err, "modality 'audio' is missing")
    assert "the training part of fold" in line and "train_v0" in line and "present in 1 other sample(s)" in line
    assert not out.exists()
    # the hold-out protocols keep their own check: the training split has the one sample with audio
    config.write_text("task: mosi\ndata: {format: mmsa}\nsplit: {kind: given}\nmodel: {name: ridge_all}\nbaselines: []\n")
    code, _, err = run_cli(["train", config, "--data", data, "--out", out], capsys)
    assert code == 0, err


# --------------------------------------------------------------------------- (h) given splits without a validation split

def test_given_split_without_a_validation_split_is_said(tmp_path):
    from affectlab.experiment import validate_config
    from affectlab.pipeline import Notes, train_run

    data = make_mmsa(tmp_path / "two.pkl", {"train": 30, "test": 10})
    cfg = validate_config({"task": "mosi", "data": {"format": "mmsa"}, "split": {"kind": "given"},
                           "model": {"name": "ridge_all"}, "baselines": [], "seed": 0})
    notes = Notes()
    run = train_run(cfg, data, tmp_path / "run", notes=notes)
    said = [n for n in notes.lines if "no validation split" in n]
    assert len(said) == 1, notes.lines
    assert "looked for valid, val, validation, dev, development; the file has: test, train" in said[0]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["selection"]["split"] is None and said[0] in summary["warnings"]
    # a file with a validation split (under an alias): nothing said
    notes = Notes()
    train_run(cfg, make_mmsa(tmp_path / "three.pkl", {"train": 30, "dev": 10, "test": 10}), tmp_path / "run3", notes=notes)
    assert not [n for n in notes.lines if "validation split" in n]


# --------------------------------------------------------------------------- (i) predict --split counts that split's values

def test_predict_split_counts_the_nonfinite_values_of_that_split(ridge_run, tmp_path, capsys):
    train, test = make_split(10, seed=6, prefix="a"), make_split(8, seed=7, prefix="b")
    for part in (train, test):
        del part["regression_labels"]
    train["audio"][:2, 0, :3] = np.nan  # 6 in train
    test["vision"][1, 0, 0] = np.inf  # 1 in test
    data = tmp_path / "two.pkl"
    data.write_bytes(pickle.dumps({"train": train, "test": test}))
    code, stdout, err = run_cli(["predict", ridge_run, "--data", data, "--split", "test", "--out", tmp_path / "t.csv",
                                 "--json"], capsys)
    assert code == 0, err
    got = json.loads(stdout)
    assert got["n"] == 8 and got["split"] == "test"
    assert got["nonfinite"] == {"text": 0, "audio": 0, "vision": 1}
    note = next(line for line in err.splitlines() if "non-finite" in line)
    assert "split 'test': 1 non-finite feature value (NaN/inf)" in note and note.endswith("vision 1"), note
    code, stdout, err = run_cli(["predict", ridge_run, "--data", data, "--out", tmp_path / "all.csv", "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["nonfinite"] == {"text": 0, "audio": 6, "vision": 1}
    assert "7 non-finite feature values (NaN/inf)" in err


# --------------------------------------------------------------------------- (j) one label -> index mapping

def test_target_encoding_and_prediction_files_share_one_label_mapping():
    from affectlab.corpus.base import TargetSpec, class_indices
    from affectlab.metrics.classification import class_indices as metric_indices

    t = TargetSpec("emotion", kind="category", classes=("anger", "joy", "neutral"))
    labels = ["joy", " neutral", None, float("nan"), "NA", "fear", 2, "1", 2.5]
    want = [1.0, 2.0, np.nan, np.nan, np.nan, np.nan, 2.0, 1.0, np.nan]
    for got in (t.encode(labels), class_indices(labels, t.classes), metric_indices(labels, t.classes)):
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- (k) the audit's findings, as bad-input rows
# Each row: exit 2, one stderr line without a traceback, the workspace untouched (as tests/test_bad_input.py).

TABLE_CONFIG = """task: regression
data:
  format: table
  columns: {id: sid, group: user, order: t}
  targets: [{name: y, low: -1, high: 1}]
  options: {features: ["f_*"]}
split: {kind: group, unseen_fraction: 0.3}
features: {text: {kind: none}}
model: {name: ridge_tabular}
baselines: [global_mean]
"""


@pytest.fixture(scope="module")
def audit_template(tmp_path_factory) -> Path:
    """A table, a ridge run trained on it, and one broken variant of each file per case."""
    from affectlab.experiment import load_config
    from affectlab.pipeline import train_run

    ws = tmp_path_factory.mktemp("audit")
    rng = np.random.default_rng(0)
    n = 40
    f1, f2 = rng.normal(size=n), rng.normal(size=n)
    tab = pd.DataFrame({"sid": [f"s{i}" for i in range(n)], "user": [f"u{i % 8}" for i in range(n)], "t": np.arange(n),
                        "f_1": f1, "f_2": f2, "y": np.clip(0.4 * f1 - 0.3 * f2, -1, 1).round(3)})
    tab.to_csv(ws / "tab.csv", index=False)
    (ws / "tab.yaml").write_text(TABLE_CONFIG)
    train_run(load_config(ws / "tab.yaml"), ws / "tab.csv", ws / "run")
    for name, edit in {"nogroup": lambda f: f.assign(user=f["user"].where(f.index != 3, "")),
                       "huge": lambda f: f.assign(f_1=f["f_1"].where(f.index != 2, 1e300)),
                       "yconst": lambda f: f.assign(y=0.5),
                       "ynan": lambda f: f.assign(y=f["y"].where(f.index != 5, np.nan))}.items():
        edit(tab.copy()).to_csv(ws / f"tab-{name}.csv", index=False)
    tab.drop(columns=["f_2"]).to_csv(ws / "tab-no-f2.csv", index=False)
    (ws / "tab-dupcol.csv").write_text((ws / "tab.csv").read_text().replace(",f_2,", ",f_1,", 1))
    shutil.copytree(ws / "run", ws / "run-config-cut")
    text = (ws / "run" / "config.yaml").read_text()
    (ws / "run-config-cut" / "config.yaml").write_text(text[:text.index("\nsplit:") + 1])  # cut after data:
    shutil.copytree(ws / "run", ws / "run-config-bad-param")
    (ws / "run-config-bad-param" / "config.yaml").write_text(text.replace("  name: ridge_tabular\n",
                                                                          "  name: ridge_tabular\n  alpah: 3\n"))
    gold, _, _ = write_semeval_pair(ws / "eval", n_users=4, per_user=4)
    pd.read_csv(gold).assign(valence=np.nan).to_csv(ws / "eval" / "gold-no-valence.csv", index=False)
    (ws / "space.yaml").write_text("model.alphas: {type: categorical, choices: [[0.1], [1.0]]}\n")
    (ws / "space-second-bad.yaml").write_text("model.alphas: {type: categorical, choices: [[0.1], [-1.0]]}\n")
    (ws / "notes.txt").write_text("not a folder\n")
    (ws / "not-a-zip.zip").write_text("not a zip\n")
    return ws


AUDIT_CASES: list[tuple[str, list[str], str]] = [
    # predict: the output is checked before any work; the run's config.yaml must be the checkpoint's
    ("predict-out-is-the-data", ["predict", "{ws}/run", "--data", "{ws}/tab.csv", "--out", "{ws}/tab.csv"],
     "tab.csv: is an input of this command"),
    ("predict-out-is-a-run-file", ["predict", "{ws}/run", "--data", "{ws}/tab.csv", "--out", "{ws}/run/predictions.csv"],
     "belongs to the run directory"),
    ("predict-out-under-a-file", ["predict", "{ws}/run", "--data", "{ws}/tab.csv", "--out", "{ws}/notes.txt/p.csv"],
     "notes.txt is a file, not a folder"),
    ("predict-config-yaml-cut-short", ["predict", "{ws}/run-config-cut", "--data", "{ws}/tab.csv", "--out", "{ws}/p.csv"],
     "differs from the config stored in checkpoint.ckpt"),
    ("predict-config-yaml-bad-parameter", ["predict", "{ws}/run-config-bad-param", "--data", "{ws}/tab.csv", "--out",
                                           "{ws}/p.csv"], "model ridge_tabular: unknown parameter(s) alpah"),
    ("predict-group-missing", ["predict", "{ws}/run", "--data", "{ws}/tab-nogroup.csv", "--out", "{ws}/p.csv"],
     "empty user (data.columns.group) in data row 4 (id 's3')"),
    ("predict-feature-column-missing", ["predict", "{ws}/run", "--data", "{ws}/tab-no-f2.csv", "--out", "{ws}/p.csv"],
     "names 'f_2', which matches no column"),
    ("predict-header-repeats-a-column", ["predict", "{ws}/run", "--data", "{ws}/tab-dupcol.csv", "--out", "{ws}/p.csv"],
     "column 'f_1' appears more than once in the header"),
    ("predict-feature-beyond-float32", ["predict", "{ws}/run", "--data", "{ws}/tab-huge.csv", "--out", "{ws}/p.csv"],
     "f_1 value 1e+300 in data row 3 is too large for a feature"),
    # train: targets, numbers and seeds that used to train (or crash) silently
    ("train-target-constant", ["train", "{ws}/tab.yaml", "--data", "{ws}/tab-yconst.csv", "--out", "{ws}/new"],
     "target 'y' is 0.5 in every labelled sample (40): nothing to learn"),
    ("train-label-missing", ["train", "{ws}/tab.yaml", "--data", "{ws}/tab-ynan.csv", "--out", "{ws}/new"],
     "a missing label: training needs a label for every sample"),
    *[(f"train-{name}", ["train", "{ws}/tab.yaml", "--data", "{ws}/tab.csv", "--out", "{ws}/new", *sets], msg)
      for name, sets, msg in [
          ("target-low-above-high", ["--set", "data.targets=[{{name: y, low: 1, high: -1}}]"], "low (1) must be below high (-1)"),
          ("target-declared-twice", ["--set", "data.targets=[{{name: y}}, {{name: y}}]"], "target 'y' is declared twice"),
          ("category-with-a-range", ["--set", "data.targets=[{{name: y, kind: category, low: 0}}]"], "has classes, not a range"),
          ("classes-on-a-number", ["--set", "data.targets=[{{name: y, classes: [a, b]}}]"], "classes apply to category targets"),
          ("lr-infinite", ["--set", "training.lr=.inf"], "training.lr: Input should be a finite number"),
          ("model-parameter-nan", ["--set", "model.alphas=[.nan]"], "alphas.0: Input should be a finite number"),
          ("seed-negative", ["--seed", "-1"], "seed: Input should be greater than or equal to 0"),
          ("seed-beyond-uint32", ["--seed", "4294967296"], "seed: Input should be less than or equal to 4294967295"),
          ("devices-0", ["--devices", "0"], "training.devices: Input should be greater than or equal to 1"),
          ("data-format-unknown", ["--set", "data.format=csv"], "data.format: unknown data format 'csv'"),
          ("baseline-unknown", ["--set", "baselines=[global_mean, nope]"], "baselines: unknown model 'nope'"),
      ]],
    # evaluate
    ("evaluate-seed-negative", ["evaluate", "--pred", "{ws}/eval/pred.csv", "--gold", "{ws}/eval/gold.csv", "--seed", "-1"],
     "Invalid value for '--seed'"),
    ("evaluate-target-without-gold", ["evaluate", "--pred", "{ws}/eval/pred.csv", "--gold", "{ws}/eval/gold-no-valence.csv"],
     "valence has no gold label in the 16 predicted rows"),
    ("evaluate-train-is-the-gold", ["evaluate", "--pred", "{ws}/eval/pred.csv", "--gold", "{ws}/eval/gold.csv", "--train",
                                    "{ws}/eval/gold.csv"], "--train and --gold are the same file"),
    ("evaluate-split-gold-without-splits", ["evaluate", "--pred", "{ws}/eval/pred.csv", "--gold", "{ws}/eval/gold.csv",
                                            "--split", "test"], "gold.csv: no 'split' column, so --split test names no rows"),
    # data, sweep, demo
    ("data-list-cache-a-file", ["data", "list", "--cache", "{ws}/notes.txt"], "the cache path exists and is not a folder"),
    ("data-path-cache-a-file", ["data", "path", "semeval2026-task2", "--cache", "{ws}/notes.txt"], "is not a folder"),
    ("data-fetch-url-unsupported", ["data", "fetch", "semeval2026-task2", "--cache", "{ws}/cache", "--url", "notaurl"],
     "notaurl: unsupported URL"),
    ("data-fetch-source-not-a-zip", ["data", "fetch", "semeval2026-task2", "--cache", "{ws}/cache", "--source",
                                     "{ws}/not-a-zip.zip"], "not-a-zip.zip: not a zip archive"),
    ("sweep-out-a-file", ["sweep", "{ws}/tab.yaml", "--space", "{ws}/space.yaml", "--data", "{ws}/tab.csv", "--out",
                          "{ws}/notes.txt", "--trials", "1"], "--out is a file"),
    ("sweep-a-later-choice-invalid", ["sweep", "{ws}/tab.yaml", "--space", "{ws}/space-second-bad.yaml", "--data",
                                      "{ws}/tab.csv", "--out", "{ws}/sweep", "--trials", "3"],
     "alphas.0: Input should be greater than 0 (got -1.0)"),
    ("demo-out-holds-a-demo", ["demo", "--out", "{ws}/eval"], "already holds train.csv, gold.csv, pred.csv"),
]


@pytest.mark.parametrize("args, fragment", [pytest.param(a, f, id=i) for i, a, f in AUDIT_CASES])
def test_audit_findings_are_one_line_exit_2_and_touch_nothing(audit_template, tmp_path, capsys, args, fragment):
    ws = tmp_path / "ws"
    shutil.copytree(audit_template, ws)
    refused_untouched(ws, args, fragment, capsys)


def test_audit_case_ids_are_unique():
    ids = [c[0] for c in AUDIT_CASES]
    assert len(ids) == len(set(ids))


def test_fetch_that_fails_leaves_no_cache_folder(tmp_path, capsys):
    """A first fetch that fails (a source that is not a zip) leaves neither the cache folder nor scratch."""
    bad = tmp_path / "x.zip"
    bad.write_text("nope")
    code, _, err = run_cli(["data", "fetch", "semeval2026-task2", "--cache", tmp_path / "cache", "--source", bad], capsys)
    one_line_refusal(code, err, "not a zip archive")
    assert not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------- (l) SIGTERM ends a command like Ctrl-C

def test_sigterm_runs_cleanup_and_exits_143(tmp_path):
    """Inside the CLI, SIGTERM raises SystemExit(143): an atomic write in progress removes its
    temporary file and leaves the target untouched; the previous handler comes back afterwards."""
    import os
    import signal

    from affectlab.cli import _terminate_like_interrupt
    from affectlab.core.io import atomic_output

    before = signal.getsignal(signal.SIGTERM)
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(SystemExit) as stop:
        with _terminate_like_interrupt():
            with atomic_output(target) as tmp:
                tmp.write_text("half")
                os.kill(os.getpid(), signal.SIGTERM)
    assert stop.value.code == 128 + signal.SIGTERM
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert signal.getsignal(signal.SIGTERM) == before


def test_predict_reads_the_trained_feature_columns_by_name(audit_template, tmp_path):
    """A file with the same numeric columns in another order (or with one more that the pattern
    f_* matches) is predicted exactly as the training file: columns are taken by name, in the
    training order (they used to be taken in the file's order: swapped features, exit 0)."""
    from affectlab.pipeline import predict_run

    tab = pd.read_csv(audit_template / "tab.csv")
    _, want = predict_run(audit_template / "run", tab, None)
    shuffled = tab[["f_2", "sid", "y", "f_1", "user", "t"]].assign(f_3=1.0)
    _, got = predict_run(audit_template / "run", shuffled, None)
    np.testing.assert_array_equal(got["pred_y"].to_numpy(), want["pred_y"].to_numpy())
    # and the columns matter: the same names over swapped contents change the predictions
    swapped = tab.rename(columns={"f_1": "f_2", "f_2": "f_1"})
    _, other = predict_run(audit_template / "run", swapped, None)
    assert np.abs(other["pred_y"].to_numpy() - want["pred_y"].to_numpy()).max() > 0.1


def test_evaluating_the_training_split_is_flagged(tmp_path, capsys):
    run = make_run_dir(tmp_path / "run", n_users=8, per_user=4)
    code, out, err = run_cli(["evaluate", "--run", run, "--split", "train", "--json"], capsys)
    assert code == 0, err
    codes = [f["code"] for f in json.loads(out)["findings"]]
    assert "SCORED_ON_TRAINING" in codes
    code, out, err = run_cli(["evaluate", "--run", run, "--json"], capsys)  # the default split (test): not flagged
    assert code == 0 and "SCORED_ON_TRAINING" not in [f["code"] for f in json.loads(out)["findings"]]


@pytest.mark.parametrize("reader", ["table", "yaml", "pickle"])
def test_a_file_that_cannot_be_read_is_one_line(tmp_path, monkeypatch, reader):
    """No permission (the tests may run as root, so the OS error is simulated): one line, not a traceback."""
    from affectlab.corpus.mmsa import load_pickle
    from affectlab.core.errors import AffectlabError
    from affectlab.core.io import read_table, read_yaml

    path = tmp_path / "f.bin"
    path.write_bytes(b"x: 1\n")

    def denied(self, *a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    monkeypatch.setattr(Path, "read_text", denied)
    read = {"table": read_table, "yaml": read_yaml, "pickle": load_pickle}[reader]
    with pytest.raises(AffectlabError, match=r"f.bin: cannot read \(Permission denied\)"):
        read(path)


def _holdout_parts(corpus, cfg):
    """(train, val, test) of a hold-out config's one fold."""
    from affectlab.protocols import protocol_for

    fold, = protocol_for(cfg.split).folds(corpus)
    return fold.parts(corpus)

# --------------------------------------------------------------------------- issue 21: honest at the edges

def _ccc(y: np.ndarray, p: np.ndarray) -> float:
    """Lin's CCC written out (population moments), independent of affectlab.metrics."""
    my, mp = y.mean(), p.mean()
    return float(2 * np.mean((y - my) * (p - mp)) / (y.var() + p.var() + (my - mp) ** 2))


def test_21_1_one_bad_cell_in_a_numeric_gold_column_is_refused_naming_it(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.normal(size=30).round(3)
    gold = pd.DataFrame({"id": [f"r{i}" for i in range(30)], "valence": y.astype(object)})
    gold.loc[6, "valence"] = "abc"
    gold.to_csv(tmp_path / "gold.csv", index=False)
    pd.DataFrame({"id": gold["id"], "pred_valence": y + rng.normal(0, 0.3, 30)}).to_csv(tmp_path / "pred.csv", index=False)
    code, _, err = run_cli(["evaluate", "--pred", tmp_path / "pred.csv", "--gold", tmp_path / "gold.csv"], capsys)
    line = one_line_refusal(code, err, "valence value 'abc' in data row 7 (id r6) is not a number")
    assert "29 of the column's 30 labels" in line
    # a column of class names is still scored as classes (accuracy by hand)
    labels = np.array(["sad", "happy", "calm"])[rng.integers(0, 3, 30)]
    pred = np.where(rng.random(30) < 0.7, labels, "sad")
    pd.DataFrame({"id": gold["id"], "emotion": labels}).to_csv(tmp_path / "gold-classes.csv", index=False)
    pd.DataFrame({"id": gold["id"], "pred_emotion": pred}).to_csv(tmp_path / "pred-classes.csv", index=False)
    code, out, err = run_cli(["evaluate", "--pred", tmp_path / "pred-classes.csv", "--gold", tmp_path / "gold-classes.csv",
                              "--json", "--resamples", "50"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["task"] == "classification" and obj["metrics"]["accuracy"]["value"] == pytest.approx(np.mean(pred == labels))


def _split_gold(tmp_path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 90
    split = np.array(["train"] * 50 + ["val"] * 15 + ["test"] * 25)
    y = rng.normal(size=n)
    p = y + rng.normal(0, 0.5, n) + np.where(split == "train", 0.0, 0.4)  # the training rows fit better
    gold = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "split": split, "valence": y.round(4)})
    gold.to_csv(tmp_path / "gold.csv", index=False)
    pd.DataFrame({"id": gold["id"], "pred_valence": p}).to_csv(tmp_path / "pred.csv", index=False)
    return gold, p


def test_21_8_gold_with_splits_is_scored_one_split(tmp_path, capsys):
    gold, p = _split_gold(tmp_path)
    args = ["evaluate", "--pred", tmp_path / "pred.csv", "--gold", tmp_path / "gold.csv"]
    code, _, err = run_cli(args, capsys)
    line = one_line_refusal(code, err, "the predictions cover several splits of gold.csv: test (25 rows), train (50 rows), "
                                       "val (15 rows)")
    assert "--split test" in line
    code, out, err = run_cli([*args, "--split", "test", "--json", "--resamples", "50"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    test = (gold["split"] == "test").to_numpy()
    assert obj["split"] == "test" and obj["n"] == 25
    assert obj["metrics"]["ccc"]["value"] == pytest.approx(_ccc(gold["valence"].to_numpy()[test], p[test]), abs=1e-9)
    # the gold file's own train split gives the baseline: its mean, scored by hand on the test rows
    train_mean = gold.loc[gold["split"] == "train", "valence"].mean()
    assert obj["baselines"]["train mean"]["mae"] == pytest.approx(np.abs(gold["valence"].to_numpy()[test] - train_mean).mean())
    assert "OTHER_SPLITS_LEFT_OUT" in {f["code"] for f in obj["findings"]}
    code, _, err = run_cli([*args, "--split", "dev"], capsys)
    one_line_refusal(code, err, "gold.csv: no rows of split 'dev' (its splits: train, val, test)")
    # predictions of one split only: that split, said in the result
    pd.read_csv(tmp_path / "pred.csv")[test].to_csv(tmp_path / "pred-test.csv", index=False)
    code, out, err = run_cli(["evaluate", "--pred", tmp_path / "pred-test.csv", "--gold", tmp_path / "gold.csv", "--json",
                              "--resamples", "50"], capsys)
    assert code == 0, err and json.loads(out)["split"] == "test"
    assert json.loads(out)["split"] == "test" and json.loads(out)["n"] == 25


def test_21_8_training_on_a_file_with_test_only_columns_is_noted(tmp_path):
    import affectlab

    frame = pd.DataFrame({"id": [str(i) for i in range(40)], "x": [i % 7 for i in range(40)],
                          "y": [0.3 * (i % 7) - 1 for i in range(40)], "is_seen_user": [i % 2 == 0 for i in range(40)]})
    config = {"task": "regression", "features": {"text": {"kind": "none"}},
              "data": {"format": "table", "columns": {"id": "id"}, "targets": [{"name": "y"}], "options": {"features": ["x"]}},
              "split": {"kind": "kfold", "k": 4}, "model": {"name": "sklearn.linear_model:LinearRegression"}}
    run = affectlab.train(config, frame, out=tmp_path / "run")
    [note] = [n for n in run.notes if n.startswith("TEST_FILE_TRAINED_ON")]
    assert "'is_seen_user'" in note
    run = affectlab.train(config, frame.drop(columns="is_seen_user"), out=tmp_path / "run2")
    assert not [n for n in run.notes if n.startswith("TEST_FILE_TRAINED_ON")]


def test_21_4_report_says_when_metrics_csv_is_garbage(tmp_path, capsys):
    run = make_run_dir(tmp_path / "run", n_users=8, per_user=4)
    (run / "metrics.csv").write_text("garbage in\nthis is no history\n")
    code, _, err = run_cli(["report", run, "--resamples", "50"], capsys)
    assert code == 0, err
    assert "metrics.csv has no 'epoch' column (columns: garbage in)" in err and "Traceback" not in err
    page = (run / "report.html").read_text()
    assert "HISTORY_UNUSABLE" in page and "learning curves are left out" in page


def test_21_compare_criteria_with_an_unknown_metric_is_one_line(tmp_path, capsys):
    a = make_run_dir(tmp_path / "a", n_users=8, per_user=4)
    b = make_run_dir(tmp_path / "b", n_users=8, per_user=4, pred_seed=5)
    (tmp_path / "crit.yaml").write_text("levels:\n  nope: {minimum: 0.5}\n")
    code, _, err = run_cli(["compare", a, b, "--criteria", tmp_path / "crit.yaml"], capsys)
    one_line_refusal(code, err, "crit.yaml: levels name 'nope', which the runs do not report on test")
    (tmp_path / "crit-split.yaml").write_text("split: dev\n")
    code, _, err = run_cli(["compare", a, b, "--criteria", tmp_path / "crit-split.yaml"], capsys)
    one_line_refusal(code, err, "crit-split.yaml: split: unknown split 'dev'")

# --------------------------------------------------------------------------- issue 21 (part A): data, prediction, trust

def _frame_config(kind: str = "regression") -> dict:
    target = {"name": "y", "kind": "category"} if kind == "category" else {"name": "y"}
    return {"task": "classification" if kind == "category" else "regression", "features": {"text": {"kind": "none"}},
            "data": {"format": "table", "columns": {"id": "id", "text": "text"}, "targets": [target],
                     "options": {"features": ["x"]}},
            "split": {"kind": "kfold", "k": 3}, "model": {"name": "majority"}, "baselines": []}


def _frame(n: int = 24) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"s{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)],
                         "x": np.arange(n, dtype=float), "y": [("lo", "hi")[i % 2] for i in range(n)]})


@pytest.mark.parametrize("kind", ["category", "regression"])
def test_a_missing_training_label_is_refused_for_category_targets_as_for_numbers(tmp_path, kind):
    """Issue 21.3: a NaN category label was accepted (the row trained as unlabelled); a NaN number never was."""
    import affectlab
    from affectlab.core.errors import AffectlabError

    frame = _frame()
    if kind == "regression":
        frame["y"] = np.linspace(-1, 1, len(frame))
    frame = frame.set_index(pd.Index([100 + i for i in range(len(frame))]))
    frame.loc[105, "y"] = np.nan
    word = "label is missing" if kind == "category" else "value '(empty)'"
    with pytest.raises(AffectlabError, match=rf"DataFrame: y {re.escape(word)} in the row with index 105 \(row 6 of the frame\)"
                                             r".*training needs a label for every sample"):
        affectlab.train(_frame_config(kind), frame, tmp_path / "run")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
    # the same table as a file: refused alike, by its data row
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = tmp_path / "c.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump(_frame_config(kind)))
    code, _, err = run_cli(["train", cfg, "--data", tmp_path / "t.csv", "--out", tmp_path / "run2"])
    assert code == 2
    # and predicting needs no labels: an unlabelled row is fine there
    assert affectlab.train(_frame_config(kind), frame.dropna(), tmp_path / "ok").predict(frame).shape[0] == len(frame)


def test_a_text_pandas_read_as_missing_names_the_index_label_the_id_and_the_reader(tmp_path):
    """Issue 21.6 (EmoBank's sentence 'None'): pd.read_csv makes it NaN; the error named a position that
    was neither the CSV line nor the index. Now: the index label, the id, keep_default_na and read_table."""
    import affectlab
    from affectlab.core.errors import AffectlabError

    frame = _frame(30)
    frame.loc[22, "text"] = "None"
    frame["split"] = ["train" if i % 3 else "test" for i in range(len(frame))]
    path = tmp_path / "emo.csv"
    frame.to_csv(path, index=False)
    subset = pd.read_csv(path).query("split == 'train'")  # what a user does: the 'None' sentence is NaN now
    assert subset["text"].isna().sum() == 1
    with pytest.raises(AffectlabError) as err:
        affectlab.train(_frame_config("category"), subset, tmp_path / "run")
    line = str(err.value)
    assert line.startswith("DataFrame: empty text in the row with index 22 (row 15 of the frame) (id 's22')")
    assert "keep_default_na=False" in line and "affectlab.read_table(path)" in line and "\n" not in line
    # the CLI's own reader keeps the text, and a frame from it trains as the file does
    read = affectlab.read_table(path)
    assert read.loc[22, "text"] == "None" and read["id"].tolist() == frame["id"].tolist()
    run = affectlab.train(_frame_config("category"), read.query("split == 'train'"), tmp_path / "run")
    assert run.predict(read.query("split == 'train'")).shape[0] == 20
    from affectlab.config import DataConfig
    from affectlab.corpus import read_corpus

    cfg = DataConfig.model_validate(_frame_config("category")["data"])
    from_file, from_frame = read_corpus(path, cfg, require_labels=True), read_corpus(read, cfg, require_labels=True)
    pd.testing.assert_frame_equal(from_file.frame, from_frame.frame)
    np.testing.assert_array_equal(from_file.features["tabular"], from_frame.features["tabular"])


def _mosi_ridge(tmp_path: Path) -> Path:
    cfg = tmp_path / "ridge.yaml"
    cfg.write_text("task: mosi\ndata: {format: mmsa}\nsplit: {kind: given, train_split: train, val_split: valid}\n"
                   "model: {name: ridge_all}\nbaselines: []\n")
    return cfg


def _empty_split(n_like: int = 4) -> dict:
    return {k: v[:0] for k, v in make_split(n_like, seed=5, prefix="e").items()}


@pytest.mark.parametrize("splits, fragment", [
    ({"train": 20, "test": 0}, "split 'test' has no samples"),
    ({"test": 0}, "has no samples (every split is empty: test)"),
])
def test_predicting_an_empty_mmsa_split_is_one_line(tmp_path, capsys, splits, fragment):
    """Issue 21: predict --split test on an MMSA split with 0 samples was a reshape traceback."""
    run = tmp_path / "run"
    train = make_mmsa(tmp_path / "train.pkl", {"train": 30, "valid": 10})
    assert run_cli(["train", _mosi_ridge(tmp_path), "--data", train, "--out", run])[0] == 0
    capsys.readouterr()  # train's own notes (the synthetic file is not CMU-MOSI: references not compared)
    data = {name: (make_split(n, seed=1, prefix=name) if n else _empty_split()) for name, n in splits.items()}
    (tmp_path / "new.pkl").write_bytes(pickle.dumps(data))
    code, _, err = run_cli(["predict", run, "--data", tmp_path / "new.pkl", "--split", "test", "--out", tmp_path / "p.csv"], capsys)
    one_line_refusal(code, err, fragment)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("audio", [
    [np.zeros((3, 4), np.float32), np.zeros((5, 4), np.float32)],  # different lengths
    [np.zeros((3, 4), np.float32), np.zeros((3, 2), np.float32)],  # same length, different sizes: numpy raised here
])
def test_ragged_per_sample_mmsa_arrays_are_one_line(tmp_path, capsys, audio):
    """Issue 21: a list of per-sample audio arrays that differ after their first axis was a ValueError."""
    part = make_split(2, seed=0, prefix="r")
    part["audio"] = audio
    del part["audio_lengths"]
    (tmp_path / "r.pkl").write_bytes(pickle.dumps({"train": part, "valid": make_split(2, seed=1, prefix="v")}))
    code, _, err = run_cli(["train", _mosi_ridge(tmp_path), "--data", tmp_path / "r.pkl", "--out", tmp_path / "run"], capsys)
    one_line_refusal(code, err, "split 'train': 'audio' is ragged (samples of different shapes)")


def test_a_last_training_batch_of_one_sample_with_a_ccc_loss_trains(tmp_path, capsys):
    """Issue 21: early_lstm under group_kfold crashed in a fold ('element 0 of tensors does not require grad'):
    that fold's training rows were 1 modulo the batch size, and CCC (the default loss) is skipped on one
    sample, leaving a constant loss. 33 training rows and batches of 32 give the same last batch."""
    pytest.importorskip("lightning")
    data = tmp_path / "m.pkl"
    data.write_bytes(pickle.dumps({"train": make_split(33, seed=0, prefix="t"), "valid": make_split(12, seed=1, prefix="v")}))
    cfg = tmp_path / "lstm.yaml"
    cfg.write_text("task: mosi\ndata: {format: mmsa}\nsplit: {kind: given, train_split: train, val_split: valid}\n"
                   "model: {name: early_lstm, hidden: 8}\ntraining: {max_epochs: 2, batch_size: 32, patience: 5}\nbaselines: []\n")
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "-q"], capsys)
    assert code == 0, err
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert history["epoch"].tolist() == [1, 2] and np.isfinite(history["train_loss"]).all()


USER_MODULE = '''
import pathlib, os
pathlib.Path(os.environ["AFFECTLAB_TEST_MARKER"]).write_text("module-level code ran")
from sklearn.linear_model import LinearRegression as Model
'''


def test_predict_on_a_run_naming_outside_code_needs_trust(tmp_path, capsys, monkeypatch):
    """Issue 21, trust: a run directory's model.name module:Class is imported (its module-level code runs)."""
    import sys

    from affectlab.models import external

    pkg = tmp_path / "code"
    pkg.mkdir()
    (pkg / "sideeffect_model.py").write_text(USER_MODULE)
    marker = tmp_path / "marker.txt"
    monkeypatch.setenv("AFFECTLAB_TEST_MARKER", str(marker))
    monkeypatch.delenv("AFFECTLAB_TRUST_CODE", raising=False)
    monkeypatch.syspath_prepend(str(pkg))
    frame = _frame()
    frame["y"] = 2 * frame["x"] + 1
    frame.to_csv(tmp_path / "t.csv", index=False)
    import yaml

    config = {**_frame_config(), "model": {"name": "sideeffect_model:Model"}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    code, _, err = run_cli(["train", tmp_path / "c.yaml", "--data", tmp_path / "t.csv", "--out", tmp_path / "run", "-q"], capsys)
    assert code == 0, err
    assert "note: model sideeffect_model:Model imports module 'sideeffect_model' (code outside affectlab runs)" in err

    def forget() -> None:  # as a fresh process that never imported the module
        marker.unlink(missing_ok=True)
        sys.modules.pop("sideeffect_model", None)
        external._CACHE.pop("sideeffect_model:Model", None)
        external._NOTED.discard("sideeffect_model")

    forget()
    args = ["predict", tmp_path / "run", "--data", tmp_path / "t.csv", "--out", tmp_path / "p.csv"]
    code, _, err = run_cli(args, capsys)
    line = one_line_refusal(code, err, "names model sideeffect_model:Model, and predicting imports module 'sideeffect_model'")
    assert "--trust-code" in line and "AFFECTLAB_TRUST_CODE=1" in line
    assert not marker.exists() and not (tmp_path / "p.csv").exists()  # refused before the import
    code, _, err = run_cli([*args, "--trust-code"], capsys)
    assert code == 0 and marker.exists() and "imports module 'sideeffect_model'" in err
    np.testing.assert_allclose(pd.read_csv(tmp_path / "p.csv")["pred_y"], frame["y"], atol=1e-6)
    forget()
    monkeypatch.setenv("AFFECTLAB_TRUST_CODE", "1")
    code, _, err = run_cli([*args[:-1], tmp_path / "p2.csv"], capsys)
    assert code == 0 and marker.exists(), err
    # a run that names only affectlab's own models needs no trust
    monkeypatch.delenv("AFFECTLAB_TRUST_CODE")
    config["model"] = {"name": "affectlab.models.baselines:GlobalMean"}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert run_cli(["train", tmp_path / "c.yaml", "--data", tmp_path / "t.csv", "--out", tmp_path / "own", "-q"])[0] == 0
    assert run_cli(["predict", tmp_path / "own", "--data", tmp_path / "t.csv", "--out", tmp_path / "p3.csv"])[0] == 0
    # reading a run (compare's config diff, the API's config) does not import its module either
    forget()
    code, _, err = run_cli(["compare", tmp_path / "run", tmp_path / "own"], capsys)
    assert code == 0 and not marker.exists(), err
    import affectlab
    from affectlab.core.errors import AffectlabError

    with pytest.raises(AffectlabError, match="and loading its config imports module 'sideeffect_model'"):
        affectlab.load(tmp_path / "run").config
    assert not marker.exists()
    assert affectlab.load(tmp_path / "run", trust_code=True).config.model.name == "sideeffect_model:Model"


def test_a_checkpoint_naming_outside_code_needs_trust_even_when_config_yaml_does_not(tmp_path):
    """The checkpoint's own model and config are checked too (config.yaml may be removed or edited)."""
    import torch

    from affectlab.core.errors import AffectlabError
    from affectlab.runs.trust import require_trusted_run

    import affectlab

    run = affectlab.train(_frame_config("category"), _frame(), tmp_path / "run").path
    require_trusted_run(run, trust=False)  # affectlab's own model: nothing to trust
    ckpt = torch.load(run / "checkpoint.ckpt", weights_only=True)
    ckpt["config"]["baselines"] = ["evil_pkg:Model"]
    torch.save(ckpt, run / "checkpoint.ckpt")
    (run / "config.yaml").unlink()  # the checkpoint's config is the one used now
    with pytest.raises(AffectlabError, match="names model evil_pkg:Model"):
        require_trusted_run(run, trust=False)
    with pytest.raises(AffectlabError, match="pass trust_code=True"):
        affectlab.load(run).predict(_frame())
    require_trusted_run(run, trust=True)


@pytest.fixture
def media_ws(tmp_path: Path) -> Path:
    pytest.importorskip("opensmile", reason="audio extra not installed (pip install affectlab[audio])")
    import soundfile as sf

    from conftest_media import tone

    media = tmp_path / "media"
    media.mkdir()
    sf.write(media / "a.wav", tone(180, 0.6), 16000)
    sf.write(tmp_path / "outside.wav", tone(240, 0.6), 16000)  # beside --media, not in it
    (media / "link.wav").symlink_to(tmp_path / "outside.wav")
    (tmp_path / "cfg.yaml").write_text("targets:\n  - name: valence\nbatch:\n  workers: 1\n")
    return tmp_path


@pytest.mark.parametrize("name", ["../outside.wav", "{ws}/outside.wav", "link.wav", "/etc/passwd"])
def test_extract_reads_only_files_inside_media(media_ws, capsys, name):
    """Issue 21, trust: labels.csv paths led out of --media ('../', absolute paths, symbolic links)."""
    ws = media_ws
    name = name.format(ws=ws)
    pd.DataFrame({"file": ["a.wav", name], "group": ["x", "y"], "valence": ["0.5", "-1"]}).to_csv(ws / "labels.csv", index=False)
    args = ["extract", ws / "cfg.yaml", "--media", ws / "media", "--labels", ws / "labels.csv", "--out", ws / "o.pkl",
            "--no-cache", "-q"]
    code, _, err = run_cli(args, capsys)
    line = one_line_refusal(code, err, f"labels.csv line 3: file {name!r} leads outside --media")
    assert "--allow-outside-media" in line and not (ws / "o.pkl").exists() and not (ws / "errors.csv").exists()
    if name == "/etc/passwd":
        return
    code, _, err = run_cli([*args, "--allow-outside-media"], capsys)  # asked for: read as before
    assert code == 0, err
    assert len(pickle.loads((ws / "o.pkl").read_bytes())["train"]["id"]) == 2


# --------------------------------------------------------------------------- issue 21 (part B): train at the edges
# Issue 21, ``train`` at the edges: cases that gave a wrong result with exit code 0.
#
# - a model (or a baseline) whose ``predict`` returns NaN is refused in one line, hold-out and
#   cross-validation alike, and nothing is written (it used to report CCC 0.000 in every fold);
# - a speaker with a single recording under leave-one-speaker-out is a finding (SINGLE_SAMPLE_FOLD)
#   that says what it does to the pooled score (it was only a `score nan` note for its fold);

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


def _ccc_train_edges(y, p) -> float:
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
    assert f"pooled score {_ccc_train_edges(pred['y'], pred['pred_y']):.3f} with it, {_ccc_train_edges(rest['y'], rest['pred_y']):.3f} without" in message


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


# --------------------------------------------------------------------------- a model that loses to its own baseline

@pytest.mark.parametrize("split, where", [("{kind: group}", "val"), ("{kind: leave_one_group_out}", "oof")])
def test_a_model_below_its_own_baseline_is_a_finding_naming_it_with_both_scores(tmp_path, capsys, split, where):
    """Issue 20 item 9 (EmoBank: ridge_text 0.380 beat the model 0.377 without a remark): a constant model
    against a ridge on the feature y follows; the finding quotes the summary's own headline scores."""
    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "c.yaml", "global_mean", split=split, extra="baselines: [ridge_tabular]\n")
    out = tmp_path / "run"
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    [found] = [f for f in summary["findings"] if f["code"] == "MODEL_BELOW_BASELINE"]
    a, b = summary["metrics"][where]["score"], summary["baselines"]["ridge_tabular"][where]["score"]
    assert b > a and found["severity"] == "warning" and found["message"] in err
    assert f"global_mean scores score {a:.3f} on {where}, below its baseline ridge_tabular ({b:.3f})" in found["message"]
    if where == "oof":  # cross-validation: the paired bootstrap over the speakers says whether it is significant
        assert "paired bootstrap over 6 groups" in found["message"] and "(significant)" in found["message"]


def test_a_model_above_its_baselines_gets_no_such_finding(tmp_path, capsys):
    cfg = table_config(tmp_path / "c.yaml", split="{kind: leave_one_group_out}", extra="baselines: [global_mean]\n")
    out = tmp_path / "run"
    assert run_cli(["train", cfg, "--data", speaker_table(tmp_path / "t.csv"), "--out", out], capsys)[0] == 0
    assert not [f for f in json.loads((out / "summary.json").read_text())["findings"] if f["code"] == "MODEL_BELOW_BASELINE"]


def test_evaluate_run_says_the_model_is_below_its_own_baseline_once(tmp_path, capsys):
    """``evaluate --run`` re-tests the pair on the evaluated rows: one MODEL_BELOW_BASELINE line with the paired
    bootstrap, in place of the BELOW_BASELINE line for the same baseline."""
    cfg = table_config(tmp_path / "c.yaml", "global_mean", split="{kind: group}", extra="baselines: [ridge_tabular]\n")
    out = tmp_path / "run"
    assert run_cli(["train", cfg, "--data", speaker_table(tmp_path / "t.csv"), "--out", out], capsys)[0] == 0
    code, text, err = run_cli(["evaluate", "--run", out, "--json"], capsys)
    assert code == 0, err
    found = json.loads(text)["findings"]
    [below] = [f for f in found if f["code"] == "MODEL_BELOW_BASELINE"]
    summary = json.loads((out / "summary.json").read_text())
    a, b = summary["metrics"]["val"]["score"], summary["baselines"]["ridge_tabular"]["val"]["score"]
    assert f"global_mean scores score {a:.3f} on val, below its baseline ridge_tabular ({b:.3f}); paired bootstrap" in below["message"]
    assert not [f for f in found if f["code"] == "BELOW_BASELINE" and "ridge_tabular" in f["message"]]

# --------------------------------------------------------------------------- issue 20, item 5: predict ignores labels

def test_labels_of_a_predicted_file_never_refuse_it_and_are_said_unused(tmp_path, capsys):
    """A value outside the declared range, a word in a number column, a class the model never saw:
    prediction needs no labels, so it reads none; the predictions are those of the same file without them."""
    data = speaker_table(tmp_path / "t.csv")
    frame = pd.read_csv(data)
    frame["emo"] = np.where(frame["f_a"] > 0, "calm", "tense")
    frame.to_csv(data, index=False)
    reg = table_config(tmp_path / "reg.yaml", extra="baselines: []\n")
    cat = table_config(tmp_path / "cat.yaml", model="logistic_tabular", extra="baselines: []\n")
    cat.write_text(cat.read_text().replace("task: regression", "task: classification").replace(
        "targets: [{name: y, low: -2, high: 2}]", "targets: [{name: emo, kind: category, classes: [calm, tense]}]"))
    bare = frame.drop(columns=["y", "emo"])
    bare.to_csv(tmp_path / "bare.csv", index=False)
    odd = frame.copy()
    odd["y"] = odd["y"].astype(object)
    odd.loc[0, "y"], odd.loc[1, "y"] = 7.0, "abc"  # outside [-2, 2]; not a number
    odd.loc[0, "emo"] = "angry"  # not one of the declared classes
    odd.to_csv(tmp_path / "odd.csv", index=False)
    for cfg, column in ((reg, "pred_y"), (cat, "pred_emo")):
        run = tmp_path / f"run-{column}"
        assert run_cli(["train", cfg, "--data", data, "--out", run], capsys)[0] == 0
        assert run_cli(["predict", run, "--data", tmp_path / "bare.csv", "--out", tmp_path / "bare-pred.csv"], capsys)[0] == 0
        code, _, err = run_cli(["predict", run, "--data", tmp_path / "odd.csv", "--out", tmp_path / "odd-pred.csv"], capsys)
        assert code == 0 and "Traceback" not in err, err
        assert f"odd.csv: labels {column[5:]} were not used (prediction needs none)" in err
        got, ref = pd.read_csv(tmp_path / "odd-pred.csv"), pd.read_csv(tmp_path / "bare-pred.csv")
        assert len(got) == len(frame)
        pd.testing.assert_series_equal(got[column], ref[column])
