"""MMSA pickle reader: layout, safety (restricted unpickler), non-finite rule, bad input."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from affectlab.config import DataConfig
from affectlab.corpus import read_corpus
from affectlab.corpus.mmsa import SAFE_GLOBALS, RestrictedUnpickler, read_mmsa
from affectlab.core.errors import AffectlabError

SHARED_PKL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mosi" / "mosi_dev.pkl"


def make_split(n: int, videos: int = 3, seq: tuple[int, int, int] = (1, 1, 1), seed: int = 0, signal: float = 1.0,
               prefix: str = "v") -> dict:
    """A synthetic MMSA split whose label is a noisy function of text, audio and vision."""
    rng = np.random.default_rng(seed)
    y = np.clip(rng.normal(0, 1.4, n), -3, 3).round(1)
    y[:2] = [0.0, -3.0]  # a zero and a boundary value
    def modality(dim: int, length: int, weight: float) -> np.ndarray:
        x = rng.normal(0, 1, (n, length, dim)).astype(np.float32)
        x[:, :, 0] += weight * signal * y[:, None].astype(np.float32)
        return x
    ids = [f"{prefix}{k % videos}$_${k // videos + 1}" for k in range(n)]
    return {
        "id": ids, "raw_text": [f"clip {k} says {'good' if y[k] > 0 else 'bad'}" for k in range(n)],
        "text": modality(6, seq[0], 1.0), "audio": modality(4, seq[1], 0.3), "vision": modality(5, seq[2], 0.5),
        "audio_lengths": np.full(n, seq[1]), "vision_lengths": np.full(n, seq[2]),
        "regression_labels": y.astype(np.float32), "annotations": ["x"] * n,
    }


def make_mmsa(path: Path, sizes: dict[str, int] | None = None, **kw) -> Path:
    sizes = sizes or {"train": 60, "valid": 20, "test": 20}
    data = {name: make_split(n, seed=i, prefix=f"{name}_v", **kw) for i, (name, n) in enumerate(sizes.items())}
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def dump(path: Path, data) -> Path:
    path.write_bytes(pickle.dumps(data))
    return path


def cfg(**options) -> DataConfig:
    return DataConfig(format="mmsa", options=options)


def test_reads_every_split_with_ids_groups_and_features(tmp_path):
    p = make_mmsa(tmp_path / "m.pkl", seq=(5, 7, 3))
    c = read_corpus(p, cfg(), require_labels=True)
    assert len(c) == 100 and c.frame["split"].value_counts().to_dict() == {"train": 60, "valid": 20, "test": 20}
    raw = pickle.loads(p.read_bytes())
    assert c.frame["id"].tolist()[:60] == raw["train"]["id"]  # ids exactly as in the file
    assert c.frame["group"].iloc[4] == "train_v1" and c.frame["order"].iloc[4] == 2.0
    assert c.frame["text"].iloc[0] == raw["train"]["raw_text"][0]
    assert c.features["audio"].shape == (100, 7, 4) and c.features["vision"].shape == (100, 3, 5)
    assert np.array_equal(c.features["text"][:60], raw["train"]["text"])
    np.testing.assert_allclose(c.frame["sentiment"].to_numpy()[:60], raw["train"]["regression_labels"])
    assert c.meta["nonfinite"] == {"text": 0, "audio": 0, "vision": 0}
    assert c.output_frame().columns.tolist() == ["id"]


def test_real_file_layout_when_present():
    if not SHARED_PKL.is_file():
        pytest.skip(f"{SHARED_PKL} not present (shared data is optional)")
    c = read_corpus(SHARED_PKL, cfg(), require_labels=True)
    assert c.frame["split"].value_counts().to_dict() == {"train": 1086, "valid": 184, "test": 177}
    assert c.frame.groupby("split")["group"].nunique().to_dict() == {"train": 44, "valid": 8, "test": 10}
    assert {k: v.shape[1:] for k, v in c.features.items()} == {"text": (1, 100), "audio": (1, 73), "vision": (1, 100)}


def test_subset_of_splits_unlabelled_and_lengths_pad(tmp_path):
    train = make_split(10, seq=(1, 4, 1))
    test = make_split(6, seq=(1, 9, 1), seed=1)
    del test["regression_labels"]
    test["audio_lengths"] = np.array([9, 3, 0, 12, 1, 2])  # 12 > L: truncated by whoever padded; 0: missing
    c = read_mmsa(dump(tmp_path / "t.pkl", {"test": test}), cfg())
    assert c.frame["sentiment"].isna().all() and c.lengths["audio"].tolist() == [9, 3, 0, 9, 1, 2]
    assert c.meta["lengths_clipped"] == {"audio": 1} and c.meta["missing"]["audio"] == 1
    with pytest.raises(AffectlabError, match="lacks the labels .*'regression_labels' of target 'sentiment' needed for training"):
        read_mmsa(tmp_path / "t.pkl", cfg(), require_labels=True)
    both = read_mmsa(dump(tmp_path / "b.pkl", {"train": train, "test": make_split(6, seq=(1, 9, 1), seed=1, prefix="t")}), cfg())
    assert both.features["audio"].shape == (16, 9, 4)
    assert np.all(both.features["audio"][:10, 4:] == 0)  # shorter split zero-padded


def test_restricted_unpickler_refuses_foreign_objects_and_trust_lifts_it(tmp_path):
    class Sneaky:
        def __reduce__(self):
            return (print, ("owned",))

    data = {"test": {**make_split(4), "payload": Sneaky()}}
    p = dump(tmp_path / "evil.pkl", data)
    with pytest.raises(AffectlabError, match=r"refused to load object builtins.print .*--trust-pickle"):
        read_mmsa(p, cfg())
    with pytest.warns(UserWarning, match="trust-pickle"):
        c = read_mmsa(p, cfg(trust_pickle=True))
    assert len(c) == 4
    # numpy arrays of several dtypes and protocol 5 load without trust
    arrays = {"a": np.arange(3, dtype=np.int16), "b": np.ones((2, 2), np.float64), "c": np.float32(1.5), "d": np.dtype("f4")}
    for proto in (2, 4, 5):
        import io
        out = RestrictedUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=proto))).load()
        assert out["b"].tolist() == [[1.0, 1.0], [1.0, 1.0]] and out["c"] == np.float32(1.5)
    assert ("numpy._core.multiarray", "_reconstruct") in SAFE_GLOBALS  # files written by numpy 2


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["train"].pop("id"), "lacks key 'id'"),
    (lambda d: d["train"].update(audio=d["train"]["audio"][:-1]), "'audio' has 9 samples but 'id' has 10"),
    (lambda d: d["train"].update(audio=[np.zeros((1, 4))] * 5 + [np.zeros((2, 4))] * 5), "ragged"),
    (lambda d: d["train"].update(audio_lengths=np.arange(3)), "'audio_lengths' has 3 values"),
    (lambda d: d["train"].update(audio_lengths=-np.ones(10)), "not a count of time steps"),
    (lambda d: d["train"].update(raw_text=["a"]), "'raw_text' has 1 entries"),
    (lambda d: d["train"].update(regression_labels=np.full(10, 3.5)), r"label 3.5 of id .* outside \[-3, 3\]"),
    (lambda d: d["train"].update(regression_labels=np.full(10, np.inf)), "not a number"),
    (lambda d: d["train"].update(id=["a"] * 10), "duplicate id 'a'"),
    (lambda d: d.update(train=[1, 2]), "split 'train' is a list"),
    (lambda d: d["train"].update(vision=np.full((10, 1, 5), np.nan, np.float32)), "modality 'vision' has no finite values"),
    (lambda d: d["train"].update(text=np.zeros((10,))), r"shape \(10,\)"),
])
def test_bad_input_is_one_line(tmp_path, mutate, message):
    data = {"train": make_split(10)}
    mutate(data)
    with pytest.raises(AffectlabError, match=message) as err:
        read_mmsa(dump(tmp_path / "bad.pkl", data), cfg(), require_labels=True)
    assert "\n" not in str(err.value)


def test_not_a_pickle_and_not_a_dict(tmp_path):
    (tmp_path / "x.pkl").write_text("hello")
    with pytest.raises(AffectlabError, match="not a readable pickle"):
        read_mmsa(tmp_path / "x.pkl", cfg())
    with pytest.raises(AffectlabError, match="expected a dict of splits"):
        read_mmsa(dump(tmp_path / "l.pkl", [1, 2]), cfg())
    with pytest.raises(AffectlabError, match="unknown data.options"):
        read_mmsa(dump(tmp_path / "ok.pkl", {"train": make_split(4)}), cfg(nonfinte="zero"))


def test_nonfinite_rules_count_and_replace(tmp_path):
    split = make_split(10, seq=(1, 3, 1))
    split["audio"][0, 0, 1] = -np.inf
    split["audio"][1, :, :] = np.nan  # a whole sample: becomes missing, not a row of zeros
    split["vision"][2, 0, 0] = np.nan
    p = dump(tmp_path / "nf.pkl", {"train": split})
    c = read_mmsa(p, cfg(nonfinite="zero"))
    assert c.meta["nonfinite"] == {"text": 0, "audio": 1 + 12, "vision": 1}
    assert c.features["audio"][0, 0, 1] == 0.0 and c.lengths["audio"][1] == 0 and c.meta["missing"]["audio"] == 1
    m = read_mmsa(p, cfg(nonfinite="mean"))
    finite = np.delete(split["vision"][:, 0, 0], 2)
    assert m.features["vision"][2, 0, 0] == pytest.approx(finite.mean(), rel=1e-5)
    with pytest.raises(AffectlabError, match="modality 'audio' has 13 non-finite value.*first at id 'v0\\$_\\$1'"):
        read_mmsa(p, cfg(nonfinite="error"))
    with pytest.raises(AffectlabError, match="nonfinite must be one of"):
        read_mmsa(p, cfg(nonfinite="drop"))


def test_modalities_and_text_source_options(tmp_path):
    data = {"train": make_split(8), "test": make_split(4, seed=2, prefix="t")}
    data["test"].pop("vision")
    p = dump(tmp_path / "m.pkl", data)
    assert sorted(read_mmsa(p, cfg()).features) == ["audio", "text"]  # only those every split has
    with pytest.raises(AffectlabError, match="split 'test' lacks key 'vision'"):
        read_mmsa(p, cfg(modalities=["text", "vision"]))
    enc = read_mmsa(p, cfg(text_source="encoder"))
    assert "text" not in enc.features and enc.has_text  # the pipeline re-encodes raw_text
    data["train"].pop("raw_text")
    with pytest.raises(AffectlabError, match="has no 'raw_text'"):
        read_mmsa(dump(tmp_path / "n.pkl", data), cfg(text_source="encoder"))


def emotion_part(n: int = 6) -> dict:
    """A split as 'affectlab extract' writes it: speaker groups, category strings and indices, mapped numbers."""
    classes = ["anger", "joy", "sadness"]
    codes = np.arange(n) % 3
    return {"id": [f"s{k % 2}$_$f{k}" for k in range(n)], "group": [f"spk{k % 2}" for k in range(n)],
            "audio": np.ones((n, 1, 4), np.float32), "category_emotion": [classes[c] for c in codes],
            "classification_labels_emotion": codes, "classification_labels": codes,
            "regression_labels_arousal": np.array([0.6, 0.5, -0.3] * (n // 3), np.float32),
            "regression_labels": np.array([0.6, 0.5, -0.3] * (n // 3), np.float32)}


EMOTION = {"name": "emotion", "kind": "category", "classes": ["anger", "joy", "sadness"]}
AROUSAL = {"name": "arousal", "low": -1, "high": 1}


def test_category_and_regression_targets_with_speaker_groups(tmp_path):
    p = dump(tmp_path / "e.pkl", {"train": emotion_part(), "config": {"classes": {"emotion": ["anger", "joy", "sadness"]}}})
    c = read_mmsa(p, DataConfig(format="mmsa", targets=[EMOTION, AROUSAL]), require_labels=True)
    assert c.frame["emotion"].tolist() == ["anger", "joy", "sadness"] * 2  # strings kept
    assert c.frame["group"].tolist() == ["spk0", "spk1"] * 3  # the file's group list, not the id prefix
    np.testing.assert_allclose(c.target_matrix(), np.c_[[0, 1, 2] * 2, [0.6, 0.5, -0.3] * 2], rtol=1e-6)
    assert [t.kind for t in c.targets] == ["category", "regression"]


def test_category_from_indices_uses_the_files_classes_and_infers_undeclared_ones(tmp_path):
    part = emotion_part()
    del part["category_emotion"]
    p = dump(tmp_path / "e.pkl", {"train": part, "config": {"classes": {"emotion": ["anger", "joy", "sadness"]}}})
    c = read_mmsa(p, DataConfig(format="mmsa", targets=[{"name": "emotion", "kind": "category"}]))
    assert c.targets[0].classes == ("anger", "joy", "sadness") and c.frame["emotion"].iloc[1] == "joy"
    part = emotion_part()
    part["category_emotion"][0] = "zeal"
    c = read_mmsa(dump(tmp_path / "z.pkl", {"train": part}), DataConfig(format="mmsa", targets=[{"name": "emotion", "kind": "category"}]))
    assert c.targets[0].classes == ("anger", "joy", "sadness", "zeal")  # sorted labels found
    part["classification_labels_emotion"] = np.array([0, 1, -1, 0, 1, 2])
    del part["category_emotion"]
    c = read_mmsa(dump(tmp_path / "i.pkl", {"train": part}), DataConfig(format="mmsa", targets=[EMOTION]))
    assert c.frame["emotion"].tolist()[:2] == ["anger", "joy"] and c.frame["emotion"].isna().tolist()[2]
    assert np.isnan(c.target_matrix()[2, 0])  # -1 = missing


@pytest.mark.parametrize("change, message", [
    (lambda p: p["category_emotion"].__setitem__(2, "zeal"),
     r"emotion label 'zeal' in data row 3 is not one of the declared classes \(anger, joy, sadness\)"),
    (lambda p: (p.pop("category_emotion"), p.__setitem__("classification_labels_emotion", np.array([0, 1, 7, 0, 1, 2]))),
     r"'classification_labels_emotion' value 7 in data row 3 is not a class index"),
    (lambda p: [p.pop(k) for k in ("category_emotion", "classification_labels_emotion", "classification_labels")],
     r"lacks the labels 'category_emotion' or .* of target 'emotion'"),
    # issue 21.3: a single category target's missing label is refused for training, as a single number's NaN is
    (lambda p: (p.pop("category_emotion"), p.__setitem__("classification_labels_emotion", np.array([0, 1, -1, 0, 1, 2]))),
     r"label of id 's0\$_\$f2' is missing \('classification_labels_emotion'\); training needs a label for every sample"),
])
def test_bad_category_labels_are_one_line_errors(tmp_path, change, message):
    part = emotion_part()
    change(part)
    with pytest.raises(AffectlabError, match=message) as err:
        read_mmsa(dump(tmp_path / "b.pkl", {"train": part}), DataConfig(format="mmsa", targets=[EMOTION]), require_labels=True)
    assert "\n" not in str(err.value)


def test_label_key_is_for_a_single_target(tmp_path):
    p = dump(tmp_path / "e.pkl", {"train": emotion_part()})
    with pytest.raises(AffectlabError, match="label_key names one label array"):
        read_mmsa(p, DataConfig(format="mmsa", targets=[EMOTION, AROUSAL], options={"label_key": "regression_labels"}))


def test_an_id_in_two_splits_is_refused(tmp_path):
    """The same sample in train and test would be trained on and scored on (and predicted twice)."""
    p = dump(tmp_path / "m.pkl", {"train": make_split(6), "test": make_split(4, seed=2)})
    with pytest.raises(AffectlabError, match=r"id 'v0\$_\$1' is in splits test, train; an id belongs to one split"):
        read_mmsa(p, cfg())


def test_ignore_labels_reads_none_and_names_them(tmp_path):
    """Prediction: a class the config does not declare refuses nothing; the labels are not read."""
    data = {"test": make_split(6, seed=3)}
    data["test"]["category_emotion"] = ["angry"] * 6
    p = dump(tmp_path / "m.pkl", data)
    declared = DataConfig(format="mmsa", targets=[{"name": "emotion", "kind": "category", "classes": ["calm", "sad"]}])
    with pytest.raises(AffectlabError, match="'angry' in data row 1 is not one of the declared classes"):
        read_corpus(p, declared)
    c = read_corpus(p, declared, ignore_labels=True)
    assert c.frame["emotion"].isna().all() and c.meta["ignored_labels"] == ["emotion"]
    assert read_corpus(p, cfg(), ignore_labels=True).meta["ignored_labels"] == ["sentiment"]  # regression_labels
    del data["test"]["regression_labels"]
    assert "ignored_labels" not in read_corpus(dump(tmp_path / "bare.pkl", data), cfg(), ignore_labels=True).meta


def test_named_feature_arrays_such_as_audio_ssl_are_read(tmp_path):
    part = emotion_part(6)
    part["audio_ssl"] = np.arange(6 * 2 * 3, dtype=np.float32).reshape(6, 2, 3)
    part["audio_ssl_lengths"] = np.array([2, 1, 2, 0, 2, 2])
    p = dump(tmp_path / "s.pkl", {"train": part})
    c = read_mmsa(p, DataConfig(format="mmsa", targets=[EMOTION], options={"modalities": ["audio", "audio_ssl"]}))
    assert sorted(c.features) == ["audio", "audio_ssl"] and c.features["audio_ssl"].shape == (6, 2, 3)
    assert c.lengths["audio_ssl"].tolist() == [2, 1, 2, 0, 2, 2]
    assert sorted(read_mmsa(p, DataConfig(format="mmsa", targets=[EMOTION])).features) == ["audio"]  # only when named
    for bad in ("audio_ssl_lengths", "speech"):
        with pytest.raises(AffectlabError, match=f"unknown modality '{bad}'"):
            read_mmsa(p, DataConfig(format="mmsa", targets=[EMOTION], options={"modalities": [bad]}))
    with pytest.raises(AffectlabError, match="lacks key 'audio_wavlm'"):
        read_mmsa(p, DataConfig(format="mmsa", targets=[EMOTION], options={"modalities": ["audio_wavlm"]}))
