"""The example table configs (configs/examples/) train end to end on small tables of their layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import affectlab
from conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "configs" / "examples"


def emobank_like(n: int = 90, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pos, neg = "wonderful lovely calm happy".split(), "awful sad tense angry".split()
    rows = []
    for i in range(n):
        v = rng.uniform(1, 5)
        rows.append({"id": f"doc{i}", "split": ("train", "train", "train", "dev", "test")[i % 5],
                     "V": round(v, 2), "A": round(rng.uniform(1, 5), 2), "D": round(rng.uniform(2, 4), 2),
                     "text": f"a {rng.choice(pos if v > 3 else neg)} sentence, number {i}"})
    return pd.DataFrame(rows)


def clips(n_speakers: int = 6, per_class: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        shift = rng.normal(0, 1.0, 3)
        for c, name in enumerate(["angry", "happy", "neutral", "sad"]):
            for i in range(per_class):
                f = shift + np.eye(4, 3)[c] * 2.5 + rng.normal(0, 0.5, 3)
                rows.append({"id": f"s{s}-{name}-{i}", "speaker": f"spk{s}", "f_1": f[0], "f_2": f[1], "f_3": f[2],
                             "emotion": name})
    return pd.DataFrame(rows)


def test_table_regression_example_uses_the_files_own_splits(tmp_path, capsys):
    emobank_like().to_csv(tmp_path / "sentences.csv", index=False)
    code, _, err = run_cli(["train", str(EXAMPLES / "table-regression.yaml"), "--data", str(tmp_path / "sentences.csv"),
                            "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["task"] == "regression" and summary["splits"] == {"train": 54, "val": 18, "test": 18}
    assert {"ccc_V", "ccc_A", "score"} <= set(summary["metrics"]["test"])
    assert summary["metrics"]["test"]["pearson_V"] > 0.5  # the words carry valence
    code, _, err = run_cli(["predict", str(tmp_path / "run"), "--data", str(tmp_path / "sentences.csv"),
                            "--out", str(tmp_path / "pred.csv")], capsys)
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert code == 0 and list(pred.columns) == ["id", "pred_V", "pred_A", "pred_D"] and len(pred) == 90
    assert pred[["pred_V", "pred_A", "pred_D"]].stack().between(1, 5).all()


def test_table_classification_example_from_a_dataframe(tmp_path):
    frame = clips()
    run = affectlab.train(str(EXAMPLES / "table-classification.yaml"), frame, out=tmp_path / "run")
    pred = run.predictions()
    assert len(pred) == len(frame) and set(pred["fold"]) == {1, 2, 3, 4, 5}
    assert set(pred["pred_emotion"]) <= {"angry", "happy", "neutral", "sad"}
    assert run.summary.metrics["oof"]["uar"] > 0.7  # speaker-normalised features separate the classes
    new = run.predict(frame.drop(columns=["emotion"]).head(8))
    assert list(new.columns) == ["speaker", "id", "pred_emotion"]  # group and id under their own names
