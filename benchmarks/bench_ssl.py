"""Pretrained speech encoders: extraction throughput, and EmoDB / URDU emotion with and without them.

    python benchmarks/bench_ssl.py throughput [--media ../shared/data/emodb] [--files 40] [--only whisper]
    python benchmarks/bench_ssl.py grid --corpus emodb --data /work/art/ssl/emodb-ssl.pkl [--json OUT]
    python benchmarks/bench_ssl.py grid --corpus urdu --data /work/art/ssl/urdu-ssl.pkl [--json OUT]

``throughput``: each extractor, in its own process (so peak memory is its own), on the first
``--files`` recordings of the folder (decoded once, before timing), one CPU thread: seconds of
audio per second of compute (x real time), the model's load time, and peak resident memory
(``--only``: the rows whose label contains a word). The
transformers row runs a *small randomly initialised* wav2vec2 (2 layers, width 32) built on the spot:
it checks the code path only and says nothing of a real wav2vec2/WavLM's speed.

``grid``: a pickle of ``configs/extract/speech-ssl.yaml`` (functionals in ``audio``, Whisper
tiny.en's pooled encoder in ``audio_ssl``); feature sets {eGeMAPS (the first 88 columns),
ComParE 2016 (the last 6373), Whisper tiny.en encoder (768: mean and sd of the last layer),
encoder + functionals (all 6473 + 768)} x models {linear SVM, logistic regression, MLP}, every
one with hyper-parameters chosen inside the training folds. EmoDB: speaker standardisation
(``standardize: group``: each speaker's features z-scored with its own unlabelled statistics);
URDU: global standardisation, because in URDU nearly every speaker speaks in one class only (26 of
the 29 speakers), so per-speaker statistics carry the class and z-scoring with them removes it (UAR
0.135 for eGeMAPS + linear SVM, below the 0.25 of chance, in a first run). EmoDB:
7 classes, leave-one-speaker-out (``configs/emodb/emotion-loso.yaml`` with the model replaced);
URDU: angry/happy/neutral/sad, 5 folds of whole speakers (C chosen by 5 inner folds of speakers). Each cell is one ``affectlab train`` in
its own process; UAR, accuracy and macro F1 with 95% bootstrap intervals over speakers.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
AFFECTLAB = [sys.executable, "-m", "affectlab"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
SPEAKER = {"standardize": "group", "class_weight": "balanced"}
LINEAR_CS = [1.0e-6, 1.0e-5, 1.0e-4, 1.0e-3, 1.0e-2, 1.0e-1, 1.0]

FEATURES = {  # label -> (data.options.modalities, model keys)
    "eGeMAPS": (["audio"], {"modalities": ["audio"], "columns": [0, 88]}),
    "ComParE": (["audio"], {"modalities": ["audio"], "columns": [100, None]}),
    "Whisper tiny.en enc.": (["audio_ssl"], {"modalities": ["audio_ssl"]}),
    "enc. + functionals": (["audio", "audio_ssl"], {"modalities": ["audio", "audio_ssl"]}),
    # configs/extract/speech-ssl-layers.yaml: the 5 hidden states of Whisper tiny.en (torch path, float32);
    # pooled models (and "MLP") average the 5 rows; "MLP, layer weights" learns a weighted sum of them
    "Whisper 5 states": (["audio_ssl_layers"], {"modalities": ["audio_ssl_layers"]}),
    "5 states + functionals": (["audio", "audio_ssl_layers"], {"modalities": ["audio", "audio_ssl_layers"]}),
}
MODELS = {
    "linear SVM": {"name": "svm_audio", "kernel": "linear", "C": LINEAR_CS, "inner_folds": "groups", **SPEAKER},
    "logistic": {"name": "logistic_audio", "inner_folds": "groups", **SPEAKER},
    "MLP": {"name": "mlp", "hidden": [256], "dropout": 0.3, "standardize": "group"},
    # the same MLP with softmax weights over the rows of the layer features (only on the layer sets)
    "MLP, layer weights": {"name": "mlp", "hidden": [256], "dropout": 0.3, "standardize": "group"},
}
URDU_CONFIG = {
    "task": "classification", "name": "urdu-emotion-cv",
    "data": {"format": "mmsa", "targets": [{"name": "emotion", "kind": "category",
                                            "classes": ["angry", "happy", "neutral", "sad"]}]},
    "split": {"kind": "group_kfold", "k": 5}, "seed": 1,
}


# ---------------------------------------------------------------------------------------------
# throughput

CHILD = r'''
import json, resource, sys, time
import numpy as np
from affectlab.features.base import make_extractor
from affectlab.features.media import load_audio
name, params, files = json.loads(sys.argv[1])
audio = [load_audio(f, 16000)[0] for f in files]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
ex = make_extractor(name, params)
t0 = time.perf_counter()
ex.compute(audio[0], 16000)  # loads the model
load = time.perf_counter() - t0
t0, c0 = time.perf_counter(), time.process_time()
for x in audio:
    ex.compute(x, 16000)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
seconds = sum(len(x) for x in audio) / 16000
print(json.dumps({"audio_s": seconds, "wall_s": wall, "load_s": load, "xrt": seconds / wall, "xrt_cpu": seconds / cpu,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "decoded_mb": base}))
'''


def tiny_wav2vec2(folder: Path) -> Path:
    """A 2-layer, width-32 wav2vec2 with random weights (the sanity row; no download)."""
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                                      feat_extract_norm="layer")
    transformers.Wav2Vec2Model(cfg).save_pretrained(folder)
    return folder


def throughput(media: Path, n_files: int, only: list[str] | None = None) -> list[tuple[str, dict]]:
    """One row per extractor (``only``: the rows whose label contains one of these words)."""
    files = sorted(str(p) for p in media.rglob("*.wav"))[:n_files]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            ("egemaps (openSMILE, for scale)", ("egemaps", {})),
            ("compare (openSMILE ComParE 2016, for scale)", ("compare", {})),
            ("whisper-encoder tiny.en, int8, 1 thread", ("whisper-encoder", {"name": "tiny.en", "threads": 1})),
            ("whisper-encoder tiny.en, torch float32, layers: all, 1 thread",
             ("whisper-encoder", {"name": "tiny.en", "layers": "all", "threads": 1})),
            ("transformers-speech, random 2-layer wav2vec2 (sanity only)",
             ("transformers-speech", {"name": str(tiny_wav2vec2(Path(tmp) / "w2v2")), "threads": 1})),
        ]
        out = []
        for label, (name, params) in rows:
            if only and not any(w in label for w in only):
                continue
            env = {**ENV, "OMP_NUM_THREADS": "1"}
            done = subprocess.run([sys.executable, "-c", CHILD, json.dumps([name, params, files])], capture_output=True,
                                  text=True, env=env)
            if done.returncode != 0:
                raise SystemExit(f"{label}: {done.stderr.strip().splitlines()[-1:]}")
            out.append((label, json.loads(done.stdout.strip().splitlines()[-1])))
    return out


# ---------------------------------------------------------------------------------------------
# grid


def grid_config(corpus: str, mods: list[str], model: dict) -> dict:
    if corpus == "emodb":
        cfg = yaml.safe_load((ROOT / "configs" / "emodb" / "emotion-loso.yaml").read_text())
    else:
        cfg = json.loads(json.dumps(URDU_CONFIG))
    cfg["data"].setdefault("options", {})["modalities"] = mods
    if corpus == "urdu":
        # URDU's speakers nearly determine the emotion (most speak in one class only): z-scoring each
        # speaker with its own statistics removes the class, so URDU uses the training rows' statistics
        model = {**model, "standardize": "global"}
        if "inner_folds" in model:  # 29 speakers: 5 inner folds of speakers, not 28
            model["inner_folds"] = 5
    cfg["model"], cfg["baselines"] = model, []
    return cfg


def run_one(cfg: dict, data: Path, work: Path) -> dict:
    tag = f"run-{len(list(work.iterdir()))}"
    path = work / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    start = time.perf_counter()
    done = subprocess.run([*AFFECTLAB, "train", str(path), "--data", str(data), "--out", str(work / tag), "-q"],
                          capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"{cfg['model']['name']}: affectlab train failed: {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads((work / tag / "summary.json").read_text())
    summary["wall_s"] = time.perf_counter() - start
    return summary


def cell(summary: dict, key: str) -> str:
    ci = summary["cis"]["pooled"][key]
    return f"{ci['value']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"


def grid(corpus: str, data: Path, only: list[str] | None) -> list[tuple[str, str, dict]]:
    """Every cell, or the ``only`` cells in the order given."""
    with open(data, "rb") as fh:  # every feature set the pickle holds (the layer sets need speech-ssl-layers.yaml)
        have = set(next(v for v in pickle.load(fh).values() if isinstance(v, dict) and "id" in v))
    cells = [f"{f}/{m}" for f, (mods, _) in FEATURES.items() if set(mods) <= have for m in MODELS
             if m != "MLP, layer weights" or any(x.endswith("_layers") for x in mods)] if not only else only
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in cells:
            feat, model_label = name.split("/")
            mods, keys = FEATURES[feat]
            if model_label == "MLP, layer weights":
                keys = {**keys, "layer_weights": [m for m in mods if m.endswith("_layers")]}
            s = run_one(grid_config(corpus, mods, {**MODELS[model_label], **keys}), data, Path(tmp))
            rows.append((feat, model_label, s))
            print(f"| {feat} | {model_label} | {cell(s, 'uar')} | {cell(s, 'accuracy')} | {cell(s, 'macro_f1')} | "
                  f"{s['wall_s']:.0f} |", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["throughput", "grid"])
    ap.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data" / "emodb")
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--corpus", choices=["emodb", "urdu"], default="emodb")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--only", nargs="*", default=None, help="grid: cells 'FEATURES/MODEL' to run; throughput: rows whose label contains "
                    "one of these words (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.part == "throughput":
        if not args.media.is_dir():
            print(f"skipped: {args.media} not found")
            return
        rows = throughput(args.media, args.files, args.only)
        print(f"Extraction throughput, first {args.files} files of {args.media.name}, one CPU thread, this machine")
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end: x real time by wall clock "
              "depends on the load; by CPU time, audio seconds per CPU second of this process, much less)")
        print("| extractor | audio s | x real time (wall) | x real time (CPU) | model load s | peak MB |\n|---|---|---|---|---|---|")
        for label, r in rows:
            print(f"| {label} | {r['audio_s']:.0f} | {r['xrt']:.1f} | {r['xrt_cpu']:.1f} | {r['load_s']:.1f} | {r['peak_mb']:.0f} |")
        result: object = {label: r for label, r in rows}
    else:
        if args.data is None or not args.data.is_file():
            print(f"skipped: --data {args.data} not found (extract it with configs/extract/speech-ssl.yaml)")
            return
        what = ("EmoDB, 7 classes, leave-one-speaker-out; speaker standardisation" if args.corpus == "emodb"
                else "URDU, 4 classes, 5 folds of whole speakers; global standardisation (see grid_config)")
        print(f"{what}; 95% CIs resample speakers")
        print("| features | model | UAR | accuracy | macro F1 | wall s |\n|---|---|---|---|---|---|", flush=True)
        rows3 = grid(args.corpus, args.data, args.only)
        result = {f"{f}/{m}": {"metrics": s["cis"]["pooled"], "wall_s": s["wall_s"], "selection": s.get("selection")}
                  for f, m, s in rows3}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
