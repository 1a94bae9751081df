"""Cross-corpus runs: several --data sources, label maps, split.kind cross_corpus, standardize: corpus."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler

from affectlab.corpus.labelmap import TargetMap, map_labels
from affectlab.corpus.speech.circumplex import CIRCUMPLEX
from affectlab.models.tabular import Standardizer
from test_corpus_datasets import one_error_line, run

REPO = Path(__file__).resolve().parents[1]
#: a class's place in feature space, shared by both corpora (so that training on one can transfer)
CENTRES = {"anger": 0, "happiness": 1, "neutral": 2, "sadness": 3, "boredom": 4}
EMODB_NAMES = {"anger": "anger", "happiness": "happiness", "neutral": "neutral", "sadness": "sadness", "boredom": "boredom"}
URDU_NAMES = {"anger": "angry", "happiness": "happy", "neutral": "neutral", "sadness": "sad"}


def speech_pickle(path: Path, names: dict[str, str], speakers: int, offset: float, seed: int, *,
                  groups: bool = True, extra: str | None = None) -> Path:
    """A tiny MMSA pickle: per speaker 2 clips of every class, features = class centre + corpus offset + noise."""
    rng = np.random.default_rng(seed)
    ids, grp, labels, x = [], [], [], []
    for s in range(speakers):
        for emotion, name in names.items():
            for k in range(2):
                ids.append(f"{path.stem}_{s}_{name}_{k}")
                grp.append(f"s{s}")
                labels.append(name)
                v = np.full(6, offset) + rng.normal(0, 0.3, 6)
                v[CENTRES[emotion]] += 3.0
                x.append(v)
    if extra is not None:
        ids.append(f"{path.stem}_x")
        grp.append("s0")
        labels.append(extra)
        x.append(rng.normal(0, 1, 6))
    part = {"id": ids, "category_emotion": labels, "audio": np.asarray(x, np.float32)[:, None, :]}
    if groups:
        part["group"] = grp
    with open(path, "wb") as f:
        pickle.dump({"train": part}, f)
    return path


def write_config(path: Path, target: dict, split: dict, standardize: str = "corpus", **more) -> Path:
    cfg = {"task": "classification", "data": {"format": "mmsa", "targets": [target], "options": {"modalities": ["audio"]}},
           "split": split, "model": {"name": "logistic_audio", "standardize": standardize, "Cs": [0.1, 1.0],
                                     "inner_folds": 2}, "baselines": ["majority"], "seed": 1, **more}
    path.write_text(yaml.safe_dump(cfg))
    return path


FOUR = {"name": "emotion", "kind": "category", "classes": ["angry", "happy", "neutral", "sad"], "map": "emotion",
        "unmapped": "drop"}


@pytest.fixture()
def corpora(tmp_path: Path) -> tuple[Path, Path]:
    return (speech_pickle(tmp_path / "emo.pkl", EMODB_NAMES, 4, 0.0, 1),
            speech_pickle(tmp_path / "urd.pkl", URDU_NAMES, 5, 2.0, 2))


def test_cross_corpus_run_scores_within_and_cross_as_sklearn(tmp_path, capsys, corpora):
    emo, urd = corpora
    cfg = write_config(tmp_path / "c.yaml", FOUR, {"kind": "cross_corpus"})
    code, out, err = run(capsys, "train", str(cfg), "--data", str(emo), "--data", str(urd), "--out", str(tmp_path / "run"))
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    pred = pd.read_csv(tmp_path / "run" / "predictions.csv")
    oof, test = pred[pred["split"] == "oof"], pred[pred["split"] == "test"]
    # within: LOSO inside the training corpus only (4 speakers, boredom left out); cross: the other corpus, once
    assert set(oof["group"]) == {f"emo/s{i}" for i in range(4)} and len(oof) == 4 * 4 * 2
    assert set(test["group"]) == {f"urd/s{i}" for i in range(5)} and len(test) == 5 * 4 * 2
    within = balanced_accuracy_score(oof["emotion"], oof["pred_emotion"])
    cross = balanced_accuracy_score(test["emotion"], test["pred_emotion"])
    cc = summary["cross_corpus"]
    assert cc["within"]["metrics"]["uar"] == pytest.approx(within) and summary["metrics"]["oof"]["uar"] == pytest.approx(within)
    assert cc["cross"]["metrics"]["uar"] == pytest.approx(cross) and summary["metrics"]["test"]["uar"] == pytest.approx(cross)
    assert cc["cross"]["cis"]["uar"]["ci_low"] <= cross <= cc["cross"]["cis"]["uar"]["ci_high"]
    assert cc["dropped"] == {"emo": {"emotion": {"boredom": 8}}, "urd": {}}
    assert cc["normalisation"] == "corpus" and cc["within"]["corpora"] == ["emo"] and cc["cross"]["corpora"] == ["urd"]
    assert "boredom 8" in err and "cross-corpus" in out
    assert summary["data"]["sources"][1]["path"] == str(urd.resolve())
    # the separable toy corpora transfer once each corpus is normalised with its own statistics
    assert cross > 0.9


def test_no_label_of_the_test_corpus_reaches_the_model(tmp_path, capsys, corpora):
    """The test corpus's labels, permuted, change its scores but not one prediction."""
    emo, urd = corpora
    with open(urd, "rb") as f:
        raw = pickle.load(f)
    raw["train"]["category_emotion"] = list(np.random.default_rng(0).permutation(raw["train"]["category_emotion"]))
    shuffled = tmp_path / "shuffled" / "urd.pkl"
    shuffled.parent.mkdir()
    with open(shuffled, "wb") as f:
        pickle.dump(raw, f)
    cfg = write_config(tmp_path / "c.yaml", FOUR, {"kind": "cross_corpus"})
    preds = []
    for i, data in enumerate((urd, shuffled)):
        code, _, err = run(capsys, "train", str(cfg), "--data", str(emo), "--data", str(data), "--out", str(tmp_path / f"r{i}"))
        assert code == 0, err
        p = pd.read_csv(tmp_path / f"r{i}" / "predictions.csv")
        preds.append(p.sort_values("id").reset_index(drop=True))
    assert preds[0]["pred_emotion"].tolist() == preds[1]["pred_emotion"].tolist()
    assert preds[0]["emotion"].tolist() != preds[1]["emotion"].tolist()


def test_single_source_maps_classes_and_drops_unmapped(tmp_path, capsys, corpora):
    emo, _ = corpora
    cfg = write_config(tmp_path / "c.yaml", FOUR, {"kind": "leave_one_group_out"}, standardize="group")
    code, _, err = run(capsys, "train", str(cfg), "--data", str(emo), "--out", str(tmp_path / "run"))
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert sorted(set(pred["emotion"])) == ["angry", "happy", "neutral", "sad"] and len(pred) == 32
    assert pred["id"].str.startswith("emo_").all()  # one source: ids as in the file
    assert "left out whose emotion label does not map (boredom 8)" in err


def test_corpus_standardizer_matches_sklearn():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 3)) * [1, 5, 9] + [0, 10, -4]
    corpora = np.array(["a"] * 6 + ["b"] * 4)
    s = Standardizer("corpus").fit(x[:6], np.zeros(6), corpora[:6])
    z = s.transform(x, np.zeros(10), corpora)
    np.testing.assert_allclose(z[:6], StandardScaler().fit(x[:6]).transform(x[:6]))  # trained corpus: its training stats
    np.testing.assert_allclose(z[6:], StandardScaler().fit_transform(x[6:]))  # unseen corpus: its own, unlabelled


def test_circumplex_maps_agree_with_the_emodb_extract_config():
    documented = yaml.safe_load((REPO / "configs" / "extract" / "emodb.yaml").read_text())["targets"][0]["map"]
    labels = list(documented["arousal"])
    for dim in ("valence", "arousal"):
        got = map_labels(labels, TargetMap(dim, dim, "regression"), "t").values
        assert got == [documented[dim][label] for label in labels]
    binary = map_labels(["angry", "sad", "happy", "neutral", "boredom"],
                        TargetMap("a", "arousal_binary", "category", ("low", "high"), "drop"), "t")
    assert binary.values == ["high", "low", "high", None, "low"] and binary.keep == [True, True, True, False, True]
    quad = map_labels(["anger", "happiness", "sadness"], TargetMap("q", "quadrant", "category", (), "error"), "t").values
    assert quad == ["high_negative", "high_positive", "low_negative"]
    assert {k: v for k, v in CIRCUMPLEX.items()}["fear"] == (-0.64, 0.60)


def bad(capsys, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "out"
    code, _, err = run(capsys, "train", *args, "--out", str(out))
    assert code == 2, err
    assert not out.exists()  # nothing written
    return one_error_line(err)


def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, corpora):
    emo, urd = corpora
    cross = write_config(tmp_path / "cross.yaml", FOUR, {"kind": "cross_corpus"})
    # a class no table maps
    odd = speech_pickle(tmp_path / "odd.pkl", URDU_NAMES, 3, 0.0, 5, extra="contempt")
    assert "label 'contempt' of target 'emotion' has no mapping" in bad(capsys, tmp_path, str(cross), "--data", str(emo),
                                                                          "--data", str(odd))
    # a known class with no place among the declared classes, without unmapped: drop
    strict = write_config(tmp_path / "strict.yaml", {**FOUR, "unmapped": "error"}, {"kind": "cross_corpus"})
    assert "'boredom'" in bad(capsys, tmp_path, str(strict), "--data", str(emo), "--data", str(urd))
    # a test corpus that is also the training corpus: the same file, or a copy of it
    assert "must not also be a training corpus" in bad(capsys, tmp_path, str(cross), "--data", str(emo), "--data", str(emo))
    copy = tmp_path / "copy.pkl"
    shutil.copy(emo, copy)
    assert "same data as source emo" in bad(capsys, tmp_path, str(cross), "--data", str(emo), "--data", str(copy))
    # train_corpora naming every source, or none of them
    every = write_config(tmp_path / "every.yaml", FOUR, {"kind": "cross_corpus", "train_corpora": ["emo", "urd"]})
    assert "no corpus is left to test on" in bad(capsys, tmp_path, str(every), "--data", str(emo), "--data", str(urd))
    unknown = write_config(tmp_path / "unknown.yaml", FOUR, {"kind": "cross_corpus", "train_corpora": ["iemocap"]})
    assert "'iemocap' is not a data source" in bad(capsys, tmp_path, str(unknown), "--data", str(emo), "--data", str(urd))
    # speaker normalisation asked for a corpus without speakers
    flat = speech_pickle(tmp_path / "flat.pkl", URDU_NAMES, 3, 0.0, 6, groups=False)
    speaker = write_config(tmp_path / "speaker.yaml", FOUR, {"kind": "cross_corpus"}, standardize="group")
    assert "no speaker ids" in bad(capsys, tmp_path, str(speaker), "--data", str(emo), "--data", str(flat))
    # one corpus for a cross-corpus split; two corpora for a single-corpus split
    assert "two or more data sources" in bad(capsys, tmp_path, str(cross), "--data", str(emo))
    loso = write_config(tmp_path / "loso.yaml", FOUR, {"kind": "leave_one_group_out"})
    assert "split.kind: cross_corpus" in bad(capsys, tmp_path, str(loso), "--data", str(emo), "--data", str(urd))
    # maps checked before any data is read
    numbers = write_config(tmp_path / "numbers.yaml", {"name": "a", "column": "emotion", "kind": "category",
                                                       "classes": ["low", "high"], "map": "arousal"}, {"kind": "cross_corpus"})
    assert "declare the target with kind: regression" in bad(capsys, tmp_path, str(numbers), "--data", str(emo),
                                                              "--data", str(urd))
    joyful = write_config(tmp_path / "joy.yaml", {**FOUR, "classes": ["angry", "joyful"]}, {"kind": "cross_corpus"})
    assert "class 'joyful' is no emotion" in bad(capsys, tmp_path, str(joyful), "--data", str(emo), "--data", str(urd))
    sources = write_config(tmp_path / "sources.yaml", FOUR, {"kind": "cross_corpus"})
    raw = yaml.safe_load(sources.read_text())
    raw["data"]["sources"] = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    sources.write_text(yaml.safe_dump(raw))
    assert "names 3 sources" in bad(capsys, tmp_path, str(sources), "--data", str(emo), "--data", str(urd))


def test_the_contract_configs_resolve():
    from affectlab.experiment import resolve

    loso = resolve(REPO / "configs" / "speech" / "emotion-loso.yaml")
    assert loso.declared_targets[0].classes == ("angry", "happy", "neutral", "sad")
    arousal = resolve(REPO / "configs" / "speech" / "cross-corpus-arousal.yaml")
    assert arousal.protocol.kind == "cross_corpus" and arousal.declared_targets[0].classes == ("low", "high")


def test_leave_one_corpus_out_selection_uses_training_corpora_only(tmp_path, capsys, corpora):
    emo, urd = corpora
    third = speech_pickle(tmp_path / "third.pkl", URDU_NAMES, 3, -1.0, 7)
    cfg = write_config(tmp_path / "c.yaml", FOUR, {"kind": "cross_corpus", "train_corpora": ["emo", "third"]})
    raw = yaml.safe_load(cfg.read_text())
    raw["model"]["inner_folds"] = "corpora"
    cfg.write_text(yaml.safe_dump(raw))
    code, out, err = run(capsys, "train", str(cfg), "--data", str(emo), "--data", str(urd), "--data", str(third),
                         "--out", str(tmp_path / "run"))
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["cross_corpus"]["within"]["corpora"] == ["emo", "third"]
    assert summary["cross_corpus"]["cross"]["corpora"] == ["urd"]
    # with one training corpus there is no corpus to leave out: refused before any data is read
    one = write_config(tmp_path / "one.yaml", FOUR, {"kind": "cross_corpus"})
    raw = yaml.safe_load(one.read_text())
    raw["model"]["inner_folds"] = "corpora"
    one.write_text(yaml.safe_dump(raw))
    assert "leave-one-corpus-out" in bad(capsys, tmp_path, str(one), "--data", str(emo), "--data", str(urd))


def test_python_api_takes_a_list_of_sources(tmp_path, corpora):
    import affectlab

    emo, urd = corpora
    cfg = yaml.safe_load(write_config(tmp_path / "c.yaml", FOUR, {"kind": "cross_corpus"}).read_text())
    run_ = affectlab.train(cfg, [emo, urd], tmp_path / "run")
    summary = json.loads((run_.path / "summary.json").read_text())
    assert summary["cross_corpus"]["cross"]["corpora"] == ["urd"]


def test_within_scores_are_those_of_the_training_corpus_alone(tmp_path, capsys, corpora):
    """The within-corpus part is leave-one-speaker-out on the training corpus as if the test corpus did not exist."""
    emo, urd = corpora
    cross = write_config(tmp_path / "cross.yaml", FOUR, {"kind": "cross_corpus"})
    alone = write_config(tmp_path / "alone.yaml", FOUR, {"kind": "leave_one_group_out"})
    assert run(capsys, "train", str(cross), "--data", str(emo), "--data", str(urd), "--out", str(tmp_path / "c"))[0] == 0
    assert run(capsys, "train", str(alone), "--data", str(emo), "--out", str(tmp_path / "a"))[0] == 0
    c = pd.read_csv(tmp_path / "c" / "predictions.csv")
    c = c[c["split"] == "oof"].assign(id=lambda f: f["id"].str.removeprefix("emo/")).sort_values("id")
    a = pd.read_csv(tmp_path / "a" / "predictions.csv").sort_values("id")
    assert c["id"].tolist() == a["id"].tolist() and c["pred_emotion"].tolist() == a["pred_emotion"].tolist()
    ca = json.loads((tmp_path / "a" / "summary.json").read_text())["cis"]["pooled"]["uar"]
    cc = json.loads((tmp_path / "c" / "summary.json").read_text())["cross_corpus"]["within"]["cis"]["uar"]
    assert cc == pytest.approx(ca)


def test_several_test_corpora_are_scored_each_with_its_own_speakers(tmp_path, capsys, corpora):
    emo, urd = corpora
    third = speech_pickle(tmp_path / "third.pkl", URDU_NAMES, 3, -1.0, 7)
    cfg = write_config(tmp_path / "c.yaml", FOUR, {"kind": "cross_corpus", "train_corpora": ["emo"]})
    code, _, err = run(capsys, "train", str(cfg), "--data", str(emo), "--data", str(urd), "--data", str(third),
                       "--out", str(tmp_path / "run"))
    assert code == 0, err
    cc = json.loads((tmp_path / "run" / "summary.json").read_text())["cross_corpus"]
    pred = pd.read_csv(tmp_path / "run" / "predictions.csv")
    for name in ("urd", "third"):
        part = pred[(pred["split"] == "test") & pred["id"].str.startswith(f"{name}/")]
        assert cc["per_corpus"][name]["n"] == len(part)
        assert cc["per_corpus"][name]["metrics"]["uar"] == pytest.approx(balanced_accuracy_score(part["emotion"], part["pred_emotion"]))
    assert cc["cross"]["corpora"] == ["third", "urd"]
