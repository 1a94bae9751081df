"""Cost against size for the SemEval task's default text model and each of its baselines.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_scale.py [--sizes 2764,10000,100000,1000000]
[--landmarks 3000] [--encode-sample 512] [--retrain] [--timeout 1800]``

Printed as one table: per size n and model, the fit time (wall and CPU seconds, all threads), the
time to predict the same n rows and the peak resident memory (``ru_maxrss``) of a fresh process that built the data, fitted and
predicted; each (n, model) runs in its own subprocess, so peaks are its own.

Data: n = 2,764 is the real SemEval training file (``train_subtask1.csv``) with its real
all-MiniLM-L6-v2 embeddings (from the feature cache, encoded first if missing). Larger n are made
from it (``--embeddings E.npy``: the file's embeddings in file order from a .npy instead of the
cache): copy k of the file keeps each row's text with one random word of the corpus appended (so
that texts do not repeat: TF-IDF analysis is remembered per distinct text within a process, and
repeated texts would make it look free) and its labels, gets new user ids (``<user>~k``, so
the number of users grows with n at ~20 texts per user, as in SemEval) and the real embedding plus
Gaussian noise (sd 0.02 per dimension, ~0.4 of a unit vector's length spread over 384 dimensions,
enough that no two copies coincide); labels get Gaussian noise (sd 0.2) clipped to the targets'
ranges. The last copy is cut so that there are exactly n rows.

Encoding throughput is measured separately on real SemEval texts (``--encode-sample`` of them,
longest and shortest alike, into an empty temporary cache, model load excluded): encoding cost is
linear in n, so the table's encode column is n / that throughput.

``--retrain``: the warm-cache retrain of the default (``affectlab train`` of
configs/semeval2026-task2/default.yaml on the training file, whole process) and its summary's
timings, which say what dominates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "semeval2026-task2" / "train_subtask1.csv"
CONFIG = ROOT / "configs" / "semeval2026-task2" / "default.yaml"
BASELINES = ("global_mean", "group_mean", "ridge_tfidf", "ridge_embedding", "ridge_group_offset")


EMBEDDINGS = os.environ.get("BENCH_SCALE_EMBEDDINGS")  # --embeddings, passed on to the child processes


def real_data():
    """The SemEval training file as a Corpus with its cached embeddings (or those of --embeddings)."""
    import yaml

    from affectlab.config import EncoderConfig
    from affectlab.corpus.base import Corpus, TargetSpec
    from affectlab.features.text import embed_texts

    raw = pd.read_csv(DATA)
    frame = pd.DataFrame({"id": raw["text_id"].astype(str), "group": raw["user_id"].astype(str),
                          "text": raw["text"].fillna("").astype(str), "order": np.arange(len(raw)),
                          "valence": raw["valence"].astype(float), "arousal": raw["arousal"].astype(float)})
    text_cfg = EncoderConfig(**yaml.safe_load(CONFIG.read_text())["features"]["text"])
    if EMBEDDINGS:
        x = np.load(EMBEDDINGS)
        if x.shape[0] != len(frame):
            raise SystemExit(f"--embeddings {EMBEDDINGS}: {x.shape[0]} rows, the training file has {len(frame)}")
    else:
        x, _ = embed_texts(frame["text"].tolist(), text_cfg)
    targets = (TargetSpec("valence", -2, 2), TargetSpec("arousal", 0, 2))
    return frame, np.asarray(x, dtype=np.float32), targets, Corpus


def scaled(n: int, seed: int = 0):
    """n rows: the real file, then perturbed copies with new users (module docstring)."""
    frame, x, targets, Corpus = real_data()
    base = len(frame)
    if n <= base:
        return Corpus(frame.iloc[:n].reset_index(drop=True), targets=targets, features={"text": x[:n]})
    rng = np.random.default_rng(seed)
    words = np.array(sorted({w for t in frame["text"] for w in t.split() if w.isalpha()}))
    copies = -(-n // base)
    frames, feats = [], np.empty((copies * base, x.shape[1]), dtype=np.float32)
    for k in range(copies):
        f = frame.copy()
        if k:
            f["id"] = f["id"] + f"~{k}"
            f["group"] = f["group"] + f"~{k}"
            f["text"] = f["text"] + " " + words[rng.integers(0, len(words), base)]
            f["valence"] = np.clip(f["valence"] + rng.normal(0, 0.2, base), -2, 2)
            f["arousal"] = np.clip(f["arousal"] + rng.normal(0, 0.2, base), 0, 2)
            feats[k * base:(k + 1) * base] = x + rng.normal(0, 0.02, x.shape).astype(np.float32)
        else:
            feats[:base] = x
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True).iloc[:n]
    return Corpus(frame, targets=targets, features={"text": feats[:n]})


def child(n: int, model: str, landmarks: int | None) -> dict:
    """Build n rows, fit ``model`` (``default``: the default config's model) and predict them."""
    import yaml

    from affectlab.models import MODELS
    from affectlab.models.base import FitContext

    t0 = time.perf_counter()
    corpus = scaled(n)
    build = time.perf_counter() - t0
    if model == "default":
        params = dict(yaml.safe_load(CONFIG.read_text())["model"])
        name = params.pop("name")
        if landmarks:
            params["landmarks"] = landmarks
    else:
        name, params = model, {}
    est = MODELS.get(name)(corpus.targets, **params)
    t, c = time.perf_counter(), time.process_time()
    result = est.fit(corpus, None, FitContext(training=None, seed=42))
    fit, fit_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    pred = est.predict(corpus)
    predict = time.perf_counter() - t
    assert pred.shape == (n, 2) and np.isfinite(pred).all()
    return {"n": n, "model": model, "build_s": build, "fit_s": fit, "fit_cpu_s": fit_cpu, "predict_s": predict,
            "users": int(corpus.frame["group"].nunique()), "landmarks": result.extra.get("landmarks"),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def encode_throughput(sample: int) -> dict:
    """texts/s of the default encoder on ``sample`` real texts, empty cache, model loaded first."""
    import yaml

    from affectlab.config import EncoderConfig
    from affectlab.features.text import embed_texts, shared_encoder

    texts = pd.read_csv(DATA)["text"].fillna("").astype(str)
    texts = texts.sample(min(sample, len(texts)), random_state=0).tolist()
    cfg = EncoderConfig(**yaml.safe_load(CONFIG.read_text())["features"]["text"])
    shared_encoder(cfg).model()  # load outside the timing
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        embed_texts(texts, cfg, tmp)
        seconds = time.perf_counter() - t
    return {"texts": len(texts), "seconds": seconds, "texts_per_s": len(texts) / seconds}


def retrain() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "affectlab", "train", str(CONFIG), "--data", str(DATA),
                               "--out", f"{tmp}/run", "--quiet"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode:
            raise SystemExit(proc.stderr[-2000:])
        s = json.loads(Path(f"{tmp}/run/summary.json").read_text())
    return {"wall_s": wall, "timings": s.get("timings"), "baseline_fit_seconds": s.get("baseline_fit_seconds")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2764,10000,100000,1000000")
    ap.add_argument("--models", default=",".join(("default",) + BASELINES))
    ap.add_argument("--landmarks", type=int, default=None, help="override the default model's landmarks")
    ap.add_argument("--encode-sample", type=int, default=512)
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per (n, model) process")
    ap.add_argument("--json", default=None)
    ap.add_argument("--embeddings", default=None,
                    help="a .npy of the training file's embeddings in file order (e.g. read from an earlier cache) "
                         "instead of encoding them")
    ap.add_argument("--child", nargs=2, metavar=("N", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.embeddings:
        os.environ["BENCH_SCALE_EMBEDDINGS"] = str(Path(args.embeddings).resolve())
        globals()["EMBEDDINGS"] = os.environ["BENCH_SCALE_EMBEDDINGS"]
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.landmarks)))
        return
    rows = []
    enc = encode_throughput(args.encode_sample) if args.encode_sample else None
    if enc:
        print(f"encoding: {enc['texts']} real texts in {enc['seconds']:.1f} s = {enc['texts_per_s']:.1f} texts/s "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    for n in [int(s) for s in args.sizes.split(",")]:
        for model in args.models.split(","):
            cmd = [sys.executable, __file__, "--child", str(n), model]
            if args.landmarks:
                cmd += ["--landmarks", str(args.landmarks)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                row = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else \
                    {"n": n, "model": model, "error": proc.stderr.strip().splitlines()[-1][:120]}
            except subprocess.TimeoutExpired:
                row = {"n": n, "model": model, "error": f"timeout {args.timeout} s"}
            row["load"] = os.getloadavg()[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| n | model | encode_s (n / throughput) | fit_s | fit_cpu_s | predict_s | peak_mb | load |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        enc_s = f"{r['n'] / enc['texts_per_s']:.0f}" if enc else ""
        name = r["model"] + (f" (m={r['landmarks']})" if r.get("landmarks") else "")
        if "error" in r:
            print(f"| {r['n']:,} | {name} | {enc_s} | {r['error']} | | | | {r['load']:.1f} |")
        else:
            print(f"| {r['n']:,} | {name} | {enc_s} | {r['fit_s']:.1f} | {r['fit_cpu_s']:.1f} | {r['predict_s']:.1f} | "
                  f"{r['peak_mb']:.0f} | "
                  f"{r['load']:.1f} |")
    if args.retrain:
        r = retrain()
        print(f"\nwarm-cache retrain of the default: {r['wall_s']:.1f} s whole process; timings {r['timings']}; "
              f"baselines {r['baseline_fit_seconds']}")
        rows.append({"retrain": r})
    if args.json:
        Path(args.json).write_text(json.dumps({"encode": enc, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
