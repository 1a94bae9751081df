"""Transfer of classifiers (category targets): a synthetic cross-corpus pair end to end, the UAR
comparison against sklearn, same-class pseudo-targets, and the one-line refusals."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.metrics import accuracy_score, recall_score

from test_transfer import cli

ROOT = Path(__file__).resolve().parents[1]
DIM = 8
#: canonical emotion -> (source corpus's name, target corpus's name); boredom only in the source
EMOTIONS = {"angry": ("anger", "angry"), "happy": ("happiness", "happy"), "neutral": ("neutral", "neutral"),
            "sad": ("sadness", "sad"), "bored": ("boredom", None)}


def _split(n: int, speakers: int, corpus: int, seed: int, prefix: str, with_bored: bool = False) -> dict:
    """``n`` clips of ``speakers`` speakers, one class centre per emotion plus noise; corpus 1 (the target)
    sees the same centres through another scale and offset (another corpus's recording conditions)."""
    rng = np.random.default_rng(seed)
    names = list(EMOTIONS)[: 5 if with_bored else 4]
    centres = np.random.default_rng(0).normal(0, 1.5, (5, DIM))
    cls = np.arange(n) % len(names)
    x = centres[cls] + rng.normal(0, 1.0, (n, DIM))
    if corpus == 1:
        x = x * 1.7 + 2.5
    spk = np.arange(n) % speakers
    return {"id": [f"{prefix}{s}$_${k}" for k, s in enumerate(spk)], "raw_text": [""] * n,
            "audio": x[:, None, :].astype(np.float32), "audio_lengths": np.ones(n, dtype=int),
            "category_emotion": [EMOTIONS[names[c]][corpus] for c in cls]}


def _pickles(tmp: Path) -> tuple[Path, Path]:
    src = {"source_train": _split(100, 8, 0, 1, "s", with_bored=True), "source_valid": _split(40, 3, 0, 2, "sv", with_bored=True)}
    tgt = {"train": _split(60, 6, 1, 3, "t"), "valid": _split(24, 3, 1, 4, "tv"), "test": _split(48, 6, 1, 5, "tt")}
    (tmp / "src.pkl").write_bytes(pickle.dumps(src, protocol=4))
    (tmp / "tgt.pkl").write_bytes(pickle.dumps(tgt, protocol=4))
    return tmp / "src.pkl", tmp / "tgt.pkl"


def _transfer_config(tmp: Path, **transfer) -> Path:
    raw = yaml.safe_load((ROOT / "configs" / "speech" / "transfer-emotion.yaml").read_text())
    raw["training"].update(max_epochs=4, patience=2, batch_size=16)
    raw["transfer"].update({"bootstrap": 200, "adapters": {"audio": {"kind": "mlp", "depth": 1, "width": 16, "residual": True}},
                            "stages": [{"kind": "pseudo", "scheme": "label", "neighbours": 3, "epochs": 2},
                                       {"kind": "pseudo", "scheme": "random", "exclude": "none", "epochs": 2},
                                       {"kind": "standardize"}, {"kind": "mmd", "epochs": 1},
                                       {"kind": "supervised", "epochs": 3}]}, **transfer)
    p = tmp / "transfer-emotion.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(source run, source pickle, target pickle): the shipped source config on the synthetic source corpus."""
    from affectlab.experiment import load_config
    from affectlab.pipeline import train_run

    tmp = tmp_path_factory.mktemp("transfer-classes")
    src, tgt = _pickles(tmp)
    cfg = load_config(ROOT / "configs" / "speech" / "transfer-emotion-source.yaml",
                      ["training.max_epochs=8", "model.hidden=16", "baselines=[]"])
    return train_run(cfg, src, tmp / "src-run"), src, tgt


def _uar(gold: pd.Series, pred: pd.Series) -> float:
    return float(recall_score(gold, pred, average="macro"))


def test_classifier_transfer_end_to_end_with_a_uar_verdict(pair, tmp_path, capsys):
    run, _, target = pair
    out = tmp_path / "adapted"
    code, stdout, err = cli(["transfer", _transfer_config(tmp_path, k=12), "--source-run", run, "--data", target,
                             "--out", out, "--seed", "2", "-q"], capsys)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["targets"][0]["kind"] == "category" and s["targets"][0]["classes"] == ["angry", "happy", "neutral", "sad"]
    comp = s["transfer_comparison"]
    assert comp["headline"] == "uar" and set(comp["rows"]) == {"adapted", "scratch_k", "standardization_map", "oracle"}
    assert list(comp["rows"]["adapted"]) == ["uar", "accuracy", "macro_f1"]
    # every row's UAR (and accuracy) is sklearn's on comparison_predictions.csv, class names as predictions.csv writes them
    cp = pd.read_csv(out / "comparison_predictions.csv", dtype={"id": str})
    assert set(cp["emotion"]) == {"angry", "happy", "neutral", "sad"}
    uar = {}
    for name, row in comp["rows"].items():
        sub = cp[cp.model == name]
        uar[name] = _uar(sub["emotion"], sub["pred_emotion"])
        assert row["uar"]["value"] == pytest.approx(uar[name])
        assert row["accuracy"]["value"] == pytest.approx(accuracy_score(sub["emotion"], sub["pred_emotion"]))
        assert row["uar"]["ci_low"] <= row["uar"]["value"] <= row["uar"]["ci_high"]
    # the paired tests and the verdict are on UAR: differences are sklearn's, the sentences name UAR
    for other in ("scratch_k", "standardization_map", "oracle"):
        p = comp["paired"][other]["uar"]
        assert p["diff"] == pytest.approx(uar["adapted"] - uar[other]) and p["ci_low"] <= p["diff"] <= p["ci_high"]
        assert set(comp["paired"][other]) == {"uar", "accuracy"}
    assert any(f"UAR {uar['adapted']:.3f} vs {uar['scratch_k']:.3f}" in v for v in comp["verdict"])
    assert any(f"UAR {uar['adapted']:.3f} vs {uar['oracle']:.3f}" in v for v in comp["verdict"])
    assert comp["n_units"] == 6 and "uar" in stdout and "accuracy" in stdout
    # the stages all ran, the label pseudo-targets on the K labelled clips (a finite loss), cross-entropy after
    stages = pd.read_csv(out / "stages.csv")
    assert {"0:pseudo", "1:pseudo", "2:standardize", "3:mmd", "4:supervised/model", "4:supervised/all"} <= set(stages.stage)
    assert np.isfinite(stages.loc[(stages.stage == "0:pseudo") & (stages.epoch > 0), "train_loss"]).all()
    preds = pd.read_csv(out / "predictions.csv", dtype={"id": str})
    assert preds.k_shot.sum() == 12 and set(preds["pred_emotion"]) <= {"angry", "happy", "neutral", "sad"}
    # predict reads the adapted run like any run
    torch.load(out / "checkpoint.ckpt", weights_only=True)
    code, _, err = cli(["predict", out, "--data", target, "--split", "test", "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    p = pd.read_csv(tmp_path / "p.csv", dtype={"id": str})
    assert p["pred_emotion"].tolist() == preds.loc[preds.split == "test", "pred_emotion"].tolist()


def test_k_zero_classifier_transfer_uses_no_labels(pair, tmp_path):
    from affectlab.transfer.config import load_transfer_config
    from affectlab.transfer.run import transfer_run

    run, _, target = pair
    cfg, t_cfg = load_transfer_config(_transfer_config(tmp_path, k=0), [])
    out = transfer_run(cfg, t_cfg, run, target, tmp_path / "k0")
    s = json.loads((out / "summary.json").read_text())
    assert s["selection"]["val_labels_used"] == 0 and s["transfer"]["k_ids"] == []
    comp = s["transfer_comparison"]
    assert "scratch_k" not in comp["rows"] and comp["headline"] == "uar"
    assert any("K=0" in v for v in comp["verdict"])
    stages = pd.read_csv(out / "stages.csv")
    assert "skipped" in stages.loc[stages.stage == "0:pseudo", "note"].iloc[0]  # label pseudo-targets need labels
    assert len(stages[stages.stage == "1:pseudo"]) == 2  # random pseudo-targets need none: trained


def test_reference_findings_apply_to_a_classifier_transfer(pair, tmp_path):
    """A config's published UAR below every row's interval: ABOVE_STATE_OF_THE_ART for each row."""
    from affectlab.transfer.config import load_transfer_config
    from affectlab.transfer.run import transfer_run

    run, _, target = pair
    cfg, t_cfg = load_transfer_config(_transfer_config(tmp_path, k=0, compare_rows=["standardization_map"]),
                                      ["references=[{system: toy, metric: uar, value: 0.01}]"])
    s = json.loads((transfer_run(cfg, t_cfg, run, target, tmp_path / "ref") / "summary.json").read_text())
    found = s["transfer_comparison"]["findings"]
    assert {f["code"] for f in found} == {"ABOVE_STATE_OF_THE_ART"} and len(found) == 2


def test_same_class_pseudo_targets():
    """Label pseudo-targets of a category: the mean of source vectors of the same class, never another's."""
    from affectlab.transfer.align import label_targets

    rng = np.random.default_rng(0)
    ys_labels = np.repeat([0.0, 1.0, 2.0, 3.0], 5)[:, None]
    ys = rng.normal(size=(20, 3)) + 10 * ys_labels
    yt = np.array([[3.0], [0.0], [2.0]])
    out = label_targets(yt, ys_labels, ys, neighbours=5, category=[True])
    for row, c in zip(out, yt[:, 0]):
        np.testing.assert_allclose(row, ys[ys_labels[:, 0] == c].mean(0))
    # as numbers, class 1's ten nearest labels mix classes 0 and 2 in; as a category only its own five count
    mixed = label_targets(np.array([[1.0]]), ys_labels, ys, neighbours=10)
    same = label_targets(np.array([[1.0]]), ys_labels, ys, neighbours=10, category=[True])
    assert not np.allclose(mixed, ys[5:10].mean(0))
    np.testing.assert_allclose(same[0], ys[5:10].mean(0))
    # a class no source sample has: no pseudo-target (NaN; the stage's loss skips the row)
    assert np.isnan(label_targets(np.array([[4.0]]), ys_labels, ys, neighbours=3, category=[True])).all()


@pytest.mark.parametrize("case", ["fewer_classes", "other_order", "binary_for_four", "regression_for_category"])
def test_classifier_transfer_refusals_are_one_line_exit_2(pair, tmp_path, capsys, case):
    run, _, target = pair
    sets = {
        # the target config maps onto three classes: the source network has four outputs
        "fewer_classes": ["data.targets=[{name: emotion, kind: category, classes: [angry, happy, sad], map: emotion, "
                          "unmapped: drop}]"],
        # the same classes in another order: class indices would mean other emotions
        "other_order": ["data.targets=[{name: emotion, kind: category, classes: [happy, angry, neutral, sad], "
                        "map: emotion, unmapped: drop}]"],
        "binary_for_four": ["data.targets=[{name: arousal, column: emotion, kind: category, classes: [low, high], "
                            "map: arousal_binary, unmapped: drop}]"],
        "regression_for_category": ["task=regression", "data.targets=[{name: emotion, column: emotion, map: arousal}]"],
    }[case]
    message = {
        "fewer_classes": "the source model's classes of 'emotion' are angry, happy, neutral, sad; the target data's "
                         "(after data.targets[].map) are angry, happy, sad",
        "other_order": "are happy, angry, neutral, sad: map both corpora onto the same classes",
        "binary_for_four": "trained on emotion (category); this transfer config declares arousal (category)",
        "regression_for_category": "the source run is a classification run",
    }[case]
    out = tmp_path / "out"
    args = ["transfer", _transfer_config(tmp_path), "--source-run", run, "--data", target, "--out", out, "-q"]
    for s in sets:
        args += ["--set", s]
    code, _, err = cli(args, capsys)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))
