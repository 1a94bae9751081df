"""CMU-SDK .csd reading, SDK-style interval alignment and conversion to a Corpus (files made with h5py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from affectlab.config import DataConfig  # noqa: E402
from affectlab.corpus import read_corpus  # noqa: E402
from affectlab.corpus.csd import collapse_onto, overlapping, read_csd  # noqa: E402
from affectlab.core.errors import AffectlabError  # noqa: E402


def write_csd(path: Path, name: str, data: dict[str, tuple[np.ndarray, np.ndarray]], metadata: bool = True) -> Path:
    """A computational sequence laid out as the CMU SDK writes it."""
    with h5py.File(path, "w") as f:
        root = f.create_group(name)
        d = root.create_group("data")
        for video, (feats, ivals) in data.items():
            g = d.create_group(video)
            g.create_dataset("features", data=feats)
            g.create_dataset("intervals", data=ivals)
        if metadata:
            meta = root.create_group("metadata")
            meta.create_dataset("root name", data=name)
            meta.create_dataset("computational sequence description", data=f"test {name}")
    return path


def sdk_intersect(ref, sub, epsilon=1e-6):
    """The SDK's ``__intersect_and_copy`` selection, transcribed (inverted copies and all)."""
    ref_copy = ref.copy()
    ref_copy[1] = -ref_copy[1]
    ref_copy = ref_copy[::-1]
    sub_copy = sub.copy()
    sub_copy[:, 0] = -sub_copy[:, 0]
    where = np.all((sub_copy - ref_copy) > (-epsilon), axis=1)
    inter = sub[where, :]
    inter = np.concatenate([np.maximum(inter[:, 0], ref[0])[:, None], np.minimum(inter[:, 1], ref[1])[:, None]], axis=1)
    keep = np.abs(inter[:, 0] - inter[:, 1]) > epsilon
    return np.flatnonzero(where)[keep]


@pytest.mark.parametrize("seed", range(5))
def test_overlap_matches_the_sdk(seed):
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.uniform(0, 10, 40))
    sub = np.stack([starts, starts + rng.uniform(0, 1.5, 40)], axis=1)
    for _ in range(20):
        a = rng.uniform(0, 10)
        ref = np.array([a, a + rng.uniform(0, 2)])
        assert np.flatnonzero(overlapping(sub, ref)).tolist() == sdk_intersect(ref, sub).tolist()
    # touching intervals do not overlap
    assert not overlapping(np.array([[0.0, 1.0]]), np.array([1.0, 2.0])).any()


def test_collapse_mean_and_others():
    feats = np.array([[1.0, 10.0], [3.0, 30.0], [8.0, 80.0]])
    iv = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]])
    refs = np.array([[0.0, 2.0], [1.5, 3.0], [9.0, 10.0]])
    mean, found = collapse_onto(feats, iv, refs)
    np.testing.assert_allclose(mean[:2], [[2.0, 20.0], [5.5, 55.0]])
    assert found.tolist() == [True, True, False] and np.isnan(mean[2]).all()
    assert collapse_onto(feats, iv, refs, "max")[0][1].tolist() == [8.0, 80.0]


@pytest.fixture
def csd_folder(tmp_path: Path) -> Path:
    """Two videos; words every second, audio every half second, vision only for video a; 2 label segments each."""
    rng = np.random.default_rng(0)
    words, audio, vision, labels = {}, {}, {}, {}
    for v, y in (("a", [1.5, -2.0]), ("b", [0.0, 3.0])):
        w_iv = np.array([[i, i + 1.0] for i in range(6)])
        words[v] = (np.array([[b"hello"], [b"sp"], [b"good"], [b"bad"], [b"film"], [b"sp"]]), w_iv)
        a_iv = np.array([[i / 2, i / 2 + 0.5] for i in range(12)])
        audio[v] = (rng.normal(size=(12, 3)).astype(np.float32), a_iv)
        if v == "a":
            vis = rng.normal(size=(6, 2)).astype(np.float32)
            vis[0, 0] = -np.inf
            vision[v] = (vis, w_iv.copy())
        labels[v] = (np.array([[y[1]], [y[0]]]), np.array([[3.0, 6.0], [0.0, 3.0]]))  # stored out of time order
    write_csd(tmp_path / "words.csd", "words", words)
    write_csd(tmp_path / "audio.csd", "covarep", audio)
    write_csd(tmp_path / "vision.csd", "facet", vision)
    write_csd(tmp_path / "labels.csd", "opinion", labels)
    # numeric "text" features per word (a glove-like stand-in)
    text = {v: (np.arange(12, dtype=np.float32).reshape(6, 2) + (10 if v == "b" else 0), words[v][1]) for v in words}
    write_csd(tmp_path / "text.csd", "glove", text)
    return tmp_path


def config(**options) -> DataConfig:
    base = {"files": {"text": "text.csd", "audio": "audio.csd", "vision": "vision.csd"}, "labels": "labels.csd",
            "words": "words.csd"}
    return DataConfig(format="csd", options={**base, **options})


def test_read_csd_and_metadata(csd_folder):
    seq = read_csd(csd_folder / "audio.csd")
    assert seq.name == "covarep" and seq.metadata["root name"] == "covarep"
    assert seq.data["a"][0].shape == (12, 3) and not seq.is_text and read_csd(csd_folder / "words.csd").is_text


def test_label_segments_as_samples(csd_folder):
    c = read_corpus(csd_folder, config(splits={"train": ["a"], "test": ["b"]}), require_labels=True)
    assert c.frame["id"].tolist() == ["a[1]", "a[0]", "b[1]", "b[0]"]  # time order within a video
    assert c.frame["sentiment"].tolist() == [1.5, -2.0, 0.0, 3.0] and c.frame["split"].tolist() == ["train", "train", "test", "test"]
    assert c.frame["text"].tolist()[:2] == ["hello good", "bad film"]  # 'sp' (silence) dropped
    # segment [0, 3) holds audio rows 0..5 (6 half-second frames) and words 0..2
    assert c.lengths["audio"].tolist() == [6, 6, 6, 6] and c.features["audio"].shape == (4, 6, 3)
    audio = read_csd(csd_folder / "audio.csd").data["a"][0]
    np.testing.assert_allclose(c.features["audio"][0], audio[:6])
    assert c.lengths["vision"].tolist() == [3, 3, 0, 0] and c.meta["missing"]["vision"] == 2  # video b has no vision
    assert c.meta["nonfinite"]["vision"] == 1 and c.features["vision"][0, 0, 0] == 0.0


def test_word_reference_aligns_every_modality_to_words(csd_folder):
    c = read_corpus(csd_folder, config(reference="text"), require_labels=True)
    assert c.lengths["text"].tolist() == c.lengths["audio"].tolist() == [3, 3, 3, 3]
    audio = read_csd(csd_folder / "audio.csd").data["a"][0]
    # word 0 = [0, 1) collapses audio frames [0, .5) and [.5, 1) by their mean
    np.testing.assert_allclose(c.features["audio"][0, 0], audio[:2].mean(axis=0), rtol=1e-6)
    pooled = read_corpus(csd_folder, config(pool="mean"), require_labels=True)
    np.testing.assert_allclose(pooled.features["audio"][0, 0], audio[:6].mean(axis=0), rtol=1e-5)
    assert pooled.features["audio"].shape == (4, 1, 3)


def test_bad_csd_input(csd_folder, tmp_path):
    write_csd(csd_folder / "nometa.csd", "x", {"a": (np.zeros((2, 1)), np.array([[0, 1], [1, 2.0]]))}, metadata=False)
    with pytest.raises(AffectlabError, match="has no metadata"):
        read_corpus(csd_folder, config(files={"audio": "nometa.csd"}))
    write_csd(csd_folder / "ragged.csd", "x", {"a": (np.zeros((3, 1)), np.array([[0, 1], [1, 2.0]]))})
    with pytest.raises(AffectlabError, match="3 feature rows but intervals of shape"):
        read_csd(csd_folder / "ragged.csd")
    (csd_folder / "junk.csd").write_text("not hdf5")
    with pytest.raises(AffectlabError, match="not a readable HDF5"):
        read_csd(csd_folder / "junk.csd")
    with pytest.raises(AffectlabError, match="no such .csd file"):
        read_corpus(csd_folder, config(labels="missing.csd"))
    with pytest.raises(AffectlabError, match="holds words"):
        read_corpus(csd_folder, config(files={"text": "words.csd"}))
    write_csd(csd_folder / "big.csd", "y", {"a": (np.array([[5.0]]), np.array([[0, 3.0]]))})
    with pytest.raises(AffectlabError, match="outside the declared range"):
        read_corpus(csd_folder, config(labels="big.csd"))
    with pytest.raises(AffectlabError, match="in splits 'train' and 'test'"):
        read_corpus(csd_folder, config(splits={"train": ["a"], "test": ["a"]}))


def test_audit_csd_options(csd_folder):
    """Issue 12 audit: a folder where a .csd file belongs, no labels file named, and a split naming
    a video the labels lack (it was silently ignored) are one line each."""
    (csd_folder / "sub").mkdir()
    with pytest.raises(AffectlabError, match="sub: is a folder, expected a .csd file"):
        read_corpus(csd_folder, config(files={"audio": "sub"}))
    with pytest.raises(AffectlabError, match="data.options.labels must name the label .csd file"):
        read_corpus(csd_folder, config(labels=None))
    with pytest.raises(AffectlabError, match=r"splits names video 'zzz' \(split 'test'\), which the labels file has no segment of"):
        read_corpus(csd_folder, config(splits={"train": ["a"], "test": ["zzz"]}))
    assert len(read_corpus(csd_folder, config(splits={"train": ["a"], "test": ["b"]}))) == 4


def test_ignore_labels_keeps_the_segments_and_reads_no_value(csd_folder):
    """Prediction: the label file still gives the segments; a value outside the range refuses nothing."""
    write_csd(csd_folder / "big.csd", "y", {"a": (np.array([[5.0]]), np.array([[0, 3.0]]))})
    c = read_corpus(csd_folder, config(labels="big.csd"), ignore_labels=True)
    assert c.frame["id"].tolist() == ["a[0]"] and np.isnan(c.frame["sentiment"]).all()
    assert c.meta["ignored_labels"] == ["sentiment"]
