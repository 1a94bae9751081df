"""The text-embedding cache at scale, and the cost of deterministic batching.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_text_cache.py [--sizes 100000,1000000] [--encoder-sample 400]``

Part 1 (cache): for each n, a fresh process puts n distinct 384-d rows through ``embed_texts``
with a stand-in encoder (random float32 rows: the cache's own cost, not the model's), cold (encode,
commit chunks of 4,096, build the view) and then warm (a second process: hash the texts, open the
view). Printed: wall seconds, peak resident memory (``ru_maxrss``) and whether the returned matrix
is a memory map. An in-memory float32 matrix of n x 384 would take n x 1.5 kB.

Part 2 (``--encoder-sample K``, 0 to skip): K random SemEval training texts encoded by
all-MiniLM-L6-v2 before (sentence-transformers' own ``encode``: length-sorted, padded batches of 64)
and now (one token count per batch, fixed rows per count), alternating, twice each; CPU seconds
(``process_time``, the fairer measure on a shared machine), the largest difference between the
two, and whether 20 texts encoded alone give the same bytes as inside the batch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "semeval2026-task2" / "train_subtask1.csv"

CACHE_RUN = r"""
import json, resource, sys, time, zlib
import numpy as np
from affectlab.config import EncoderConfig
from affectlab.features.text import TextEncoder, embed_texts

class Random(TextEncoder):  # a stand-in: rows from a fixed generator, no model
    def token_lengths(self, texts):
        return np.full(len(texts), 8)
    def _forward(self, texts, length):
        rng = np.random.default_rng(zlib.crc32(texts[0].encode()))
        return rng.standard_normal((len(texts), 384), dtype=np.float32)

n, cache = int(sys.argv[1]), sys.argv[2]
texts = [f"text number {i}" for i in range(n)]
t = time.perf_counter()
m, stats = embed_texts(texts, EncoderConfig(name="bench-random", batch_size=64), cache,
                       encoder=Random(EncoderConfig(name="bench-random", batch_size=64)))
checksum = float(np.asarray(m[::max(1, n // 1000)]).sum())
print(json.dumps({"seconds": time.perf_counter() - t, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "memmap": isinstance(m, np.memmap), "encoded": stats["encoded"], "checksum": checksum}))
"""


def cache_table(sizes: list[int]) -> None:
    print("| n | run | wall s | peak RSS MB | memmap | encoded | in-memory matrix MB |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-text-cache-") as cache:
            sums = []
            for run in ("cold", "warm"):
                env = {"AFFECTLAB_PROGRESS": "off", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")}
                r = subprocess.run([sys.executable, "-c", CACHE_RUN, str(n), cache], capture_output=True, text=True, env=env)
                if r.returncode != 0:
                    print(f"| {n} | {run} | failed: {r.stderr.strip().splitlines()[-1]} |")
                    break
                out = json.loads(r.stdout.strip().splitlines()[-1])
                sums.append(out["checksum"])
                print(f"| {n:,} | {run} | {out['seconds']:.1f} | {out['peak_mb']:.0f} | {out['memmap']} | {out['encoded']:,} "
                      f"| {n * 384 * 4 / 2**20:.0f} |", flush=True)
            if len(sums) == 2 and sums[0] != sums[1]:
                print(f"| {n} | warm rows differ from cold rows |")


def encoder_table(k: int) -> None:
    import time

    import numpy as np
    import pandas as pd

    from affectlab.config import EncoderConfig
    from affectlab.features.text import make_encoder

    texts = pd.read_csv(TRAIN)["text"].astype(str).sample(k, random_state=0).tolist()
    enc = make_encoder(EncoderConfig())
    model = enc.model()

    def before(ts):
        return model.encode(ts, batch_size=64, show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True)

    before(texts[:4]), enc.encode(texts[:4])  # warm-up
    cpu: dict[str, list[float]] = {"before": [], "now": []}
    out = {}
    for _ in range(2):
        for name, f in (("before", before), ("now", enc.encode)):
            c = time.process_time()
            out[name] = f(texts)
            cpu[name].append(time.process_time() - c)
    alone_now = np.stack([enc.encode([t])[0] for t in texts[:20]])
    alone_before = np.stack([before([t])[0] for t in texts[:20]])
    print(f"\n{k} SemEval texts, {int(enc.token_lengths(texts).sum())} tokens\n")
    print("| batching | CPU s (best of 2) | texts per CPU-s | alone == in batch (20 texts, bytes) |")
    print("|---|---|---|---|")
    for name, alone in (("before: padded batches of 64", alone_before), ("now: one token count, fixed rows", alone_now)):
        key = name.split(":")[0]
        same = alone.tobytes() == out[key][:20].tobytes()
        print(f"| {name} | {min(cpu[key]):.1f} | {k / min(cpu[key]):.1f} | {same} |")
    print(f"\nlargest |now - before| over all rows: {float(np.abs(out['now'] - out['before']).max()):.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--encoder-sample", type=int, default=400)
    args = ap.parse_args()
    cache_table([int(s) for s in args.sizes.split(",") if s])
    if args.encoder_sample:
        encoder_table(args.encoder_sample)


if __name__ == "__main__":
    main()
