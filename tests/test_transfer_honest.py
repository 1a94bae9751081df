"""The MOSI transfer scenario on honest features (configs/mosi/transfer-source.yaml ->
configs/mosi/transfer-text-encoder.yaml), ABOVE_STATE_OF_THE_ART on every comparison row, and the
Hugging Face encoder's layer/pooling options the source extractor uses."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_corpus_mmsa import make_mmsa

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "mosi" / "transfer-source.yaml"
TRANSFER = ROOT / "configs" / "mosi" / "transfer-text-encoder.yaml"
FAST = ["--set", "training.max_epochs=2", "--set", "training.patience=1"]


def cli(args, capsys):
    from conftest import run_cli

    return run_cli(args, capsys)


def _honest_pickle(tmp: Path) -> Path:
    """A synthetic MMSA file with MOSI-like ids and NO text or vision arrays: a config that read a leaked
    array could not run on it."""
    path = make_mmsa(tmp / "mosi-like.pkl", sizes={"train": 60, "valid": 24, "test": 24})
    data = pickle.loads(path.read_bytes())
    for name, part in data.items():
        del part["text"], part["vision"], part["vision_lengths"]
        part["id"] = [f"{name[:2]}vid{i.split('$_$')[0][-1]}xxxxx$_${i.split('$_$')[1]}" for i in part["id"]]  # 11-char video ids
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """``affectlab train configs/mosi/transfer-source.yaml`` exactly as documented (fewer epochs)."""
    from conftest import run_cli

    tmp = tmp_path_factory.mktemp("honest")
    data = _honest_pickle(tmp)
    code, _, err = run_cli(["train", SOURCE, "--data", data, "--out", tmp / "src", "-q", *FAST])
    assert code == 0, err
    return tmp / "src", data


def test_source_and_transfer_configs_use_no_leaked_array_and_predict(scenario, tmp_path, capsys):
    src, data = scenario
    s = json.loads((src / "summary.json").read_text())
    assert s["model"] == "late_fusion" and s["selection"]["test_used_for_selection"] is False
    out = tmp_path / "run2"
    code, stdout, err = cli(["transfer", TRANSFER, "--source-run", src, "--data", data, "--out", out, "-q",
                             "--set", "transfer.k=12", "--set", "transfer.bootstrap=50", *FAST], capsys)
    assert code == 0, err
    t = json.loads((out / "summary.json").read_text())
    assert t["transfer"]["adapters"]["text"] == {**t["transfer"]["adapters"]["text"], "in_dim": 384, "out_dim": 384}
    assert t["transfer"]["shared_modalities"] == ["audio"]
    assert {"adapted", "scratch_k", "standardization_map", "oracle", "source_reference"} == set(t["transfer_comparison"]["rows"])
    # the two sides really are two extractors: the source's layer-3 mean vs the sentence-transformers model
    cfg = json.loads(json.dumps(__import__("yaml").safe_load((src / "config.yaml").read_text())))
    assert cfg["features"]["text"]["kind"] == "huggingface" and cfg["features"]["text"]["pooling"] == "max"
    code, _, err = cli(["predict", out, "--data", data, "--split", "test", "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    p = pd.read_csv(tmp_path / "p.csv", dtype={"id": str})
    assert p.columns.tolist() == ["id", "pred_sentiment"] and p["id"].tolist() == pickle.loads(data.read_bytes())["test"]["id"]


def test_every_comparison_row_beyond_the_published_results_is_named(scenario, tmp_path, capsys):
    """A config reference no model can miss (MAE below 100): every row is beyond it, the report, the
    printed table, summary.json and ``affectlab evaluate`` on the run say so, row by row."""
    src, data = scenario
    out = tmp_path / "run2"
    code, stdout, err = cli(["transfer", TRANSFER, "--source-run", src, "--data", data, "--out", out, "-q",
                             "--set", "transfer.k=12", "--set", "transfer.bootstrap=50", *FAST,
                             "--set", "references=[{system: toy, metric: mae, value: 100.0}]"], capsys)
    assert code == 0, err
    t = json.loads((out / "summary.json").read_text())
    rows = t["transfer_comparison"]["rows"]
    found = [f for f in t["findings"] if f["code"] == "ABOVE_STATE_OF_THE_ART"]
    for name in rows:
        assert sum(f"comparison row {name} (" in f["message"] for f in found) == 1, (name, found)
    assert t["transfer_comparison"]["findings"] == t["findings"]
    md = (out / "transfer.md").read_text()
    assert md.count("ABOVE_STATE_OF_THE_ART") == len(rows) and stdout.count("ABOVE_STATE_OF_THE_ART") == len(rows)
    code, stdout, err = cli(["evaluate", "--run", out, "--json"], capsys)
    assert code == 0, err
    ev = [f["message"] for f in json.loads(stdout)["findings"] if f["code"] == "ABOVE_STATE_OF_THE_ART"]
    for name in rows:  # the other rows as recorded, the adapted model recomputed by evaluate itself
        want = 0 if name == "adapted" else 1
        assert sum(f"comparison row {name} (" in m for m in ev) == want, (name, ev)
    assert any("comparison row" not in m for m in ev)  # the run's own model


def test_row_reference_findings_against_the_task_references_by_hand(tmp_path):
    """MOSI's published Corr 0.805: a row predicting the gold exactly is beyond it (its interval is
    [1, 1]); a row of noise is not; the check is the one train uses."""
    from affectlab.config import DataConfig, RunConfig
    from affectlab.corpus import read_corpus
    from affectlab.core.notes import Notes
    from affectlab.transfer.run import row_reference_findings

    data = _honest_pickle(tmp_path)
    corpus = read_corpus(data, DataConfig(format="mmsa"), require_labels=True)
    test = corpus.subset(np.flatnonzero(corpus.frame["split"].to_numpy() == "test"))
    y = test.target_matrix()
    noise = np.random.default_rng(0).normal(size=y.shape)
    cfg = RunConfig.model_validate({"task": "mosi", "model": {"name": "adapted"}})
    found = row_reference_findings(cfg, test, {"oracle": y.copy(), "scratch_k": noise}, Notes())
    assert len(found) == 1 and "comparison row oracle (" in found[0]["message"]
    assert "pearson 1.000 [1.000, 1.000] vs 0.805" in found[0]["message"]
    # ids that are not MOSI's: the task's references do not apply, nothing is raised
    test.frame["id"] = [f"x{i}" for i in range(len(test))]
    assert row_reference_findings(cfg, test, {"oracle": y.copy()}, Notes()) == []


# --------------------------------------------------------------------------- the source extractor

def test_huggingface_layer_and_pooling_match_transformers_by_hand():
    import torch
    from transformers import AutoModel, AutoTokenizer

    from affectlab.config import EncoderConfig
    from affectlab.features.text import make_encoder, resolve_model_path

    texts = ["a short one", "this sentence is somewhat longer than the other"]
    path = resolve_model_path("all-MiniLM-L6-v2")
    tok, net = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.inference_mode():
        b = tok(texts, padding=True, return_tensors="pt")
        h3 = net(**b, output_hidden_states=True).hidden_states[3].numpy()
    m = b["attention_mask"].numpy()[..., None].astype(bool)
    want = {"mean": (h3 * m).sum(1) / m.sum(1), "max": np.where(m, h3, -np.inf).max(1), "cls": h3[:, 0]}
    for pooling, ref in want.items():
        got = make_encoder(EncoderConfig(kind="huggingface", layer=3, pooling=pooling, normalize=False)).encode(texts)
        np.testing.assert_allclose(got, ref, atol=2e-4, err_msg=pooling)
    # the default (last layer, mean) keeps its cache key: caches written before these options stay valid
    plain = make_encoder(EncoderConfig(kind="huggingface")).cache_params()
    assert "layer" not in plain and "pooling" not in plain
    assert make_encoder(EncoderConfig(kind="huggingface", layer=3)).cache_params()["layer"] == 3
    from affectlab.features import make_extractor  # by registry name, the options given as a mapping

    assert make_extractor("huggingface", {"layer": 2, "pooling": "cls"}).cache_params()["pooling"] == "cls"


@pytest.mark.parametrize("case", ["pooling_on_sentence_transformers", "layer_out_of_range", "unknown_pooling"])
def test_bad_encoder_options_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    data = _honest_pickle(tmp_path)
    sets = {"pooling_on_sentence_transformers": ["features.text.kind=sentence-transformers"],
            "layer_out_of_range": ["features.text.layer=99"],
            "unknown_pooling": ["features.text.pooling=median"]}[case]
    message = {"pooling_on_sentence_transformers": "layer/pooling are options of kind huggingface",
               "layer_out_of_range": "features.text.layer is 99 but",
               "unknown_pooling": "features.text.pooling"}[case]
    args = ["train", SOURCE, "--data", data, "--out", tmp_path / "out", "-q", "--set", "features.cache_dir=" + str(tmp_path / "c")]
    for s in sets:
        args += ["--set", s]
    code, _, err = cli(args, capsys)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- cross-corpus speech configs

def _speech_pickle(path: Path, splits: dict[str, int], seed: int, shift: float = 0.0) -> Path:
    """A synthetic voice-functional corpus: ``audio`` (N, 1, 4), arousal numbers in [-1, 1]; ``shift``
    moves every feature (another corpus's recording conditions)."""
    from test_corpus_mmsa import make_split

    data = {}
    for i, (name, n) in enumerate(splits.items()):
        part = make_split(n, videos=4, seed=seed + i, prefix=f"{name}_spk")
        del part["text"], part["vision"], part["vision_lengths"]
        part["audio"] = part["audio"] * 2.0 + shift
        part["regression_labels_arousal"] = (part["regression_labels"] / 3.0).astype(np.float32)
        data[name] = part
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def test_cross_corpus_speech_configs_k0_is_the_corpus_standardisation(tmp_path, capsys):
    """configs/speech/transfer-arousal-source.yaml -> configs/speech/transfer-arousal.yaml on two synthetic
    corpora: at K=0 nothing but the corpus standardisation is learnt, so the adapted row and the
    standardisation-only row predict the same; at K=8 the from-scratch row is there."""
    src = _speech_pickle(tmp_path / "a.pkl", {"source_train": 48, "source_valid": 16}, seed=0)
    tgt = _speech_pickle(tmp_path / "b.pkl", {"train": 40, "valid": 16, "test": 24}, seed=5, shift=3.0)
    code, _, err = cli(["train", ROOT / "configs/speech/transfer-arousal-source.yaml", "--data", src, "--out",
                        tmp_path / "src", "-q", *FAST], capsys)
    assert code == 0, err
    for k in (0, 8):
        out = tmp_path / f"k{k}"
        code, _, err = cli(["transfer", ROOT / "configs/speech/transfer-arousal.yaml", "--source-run", tmp_path / "src",
                            "--data", tgt, "--out", out, "-q", "--set", f"transfer.k={k}", "--set", "transfer.bootstrap=50",
                            *FAST], capsys)
        assert code == 0, err
        t = json.loads((out / "summary.json").read_text())
        assert t["transfer_comparison"]["headline"] == "ccc" and t["transfer"]["adapters"]["audio"]["in_dim"] == 4
        rows = set(t["transfer_comparison"]["rows"])
        assert rows == ({"adapted", "standardization_map", "oracle"} | ({"scratch_k"} if k else set()))  # ids do not pair
        if k == 0:
            cp = pd.read_csv(out / "comparison_predictions.csv", dtype={"id": str})
            a = cp[cp.model == "adapted"].pred_arousal.to_numpy()
            b = cp[cp.model == "standardization_map"].pred_arousal.to_numpy()
            np.testing.assert_allclose(a, b, atol=1e-5)
            assert t["selection"]["val_labels_used"] == 0
