"""Time to first result from a folder of recordings: ``affectlab train --media`` with a cold cache.

Run: ``python benchmarks/bench_media_train.py [--corpus urdu --corpus emodb] [--repeats 1] [--json out.json]``
(needs ``../shared/data/<corpus>/`` with ``labels.csv`` file,speaker,...,emotion).

Each repeat runs, in a fresh process and a new empty feature cache (``AFFECTLAB_CACHE`` = a new
temporary folder), the documented command::

    affectlab train configs/examples/speech-folder.yaml --media DIR --labels DIR/labels.csv --out RUN

(eGeMAPS functionals extracted with 2 workers, a linear SVM with C chosen inside the training
speakers, leave-one-speaker-out, the majority baseline), then the same command again with the
cache filled (warm). It prints wall seconds (start to exit), CPU seconds (user + system of the
process and its workers, from ``getrusage(RUSAGE_CHILDREN)``), the extraction's and the training's
share as the run itself reports them, and the UAR with its 95% CI.
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

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CONFIG = ROOT / "configs" / "examples" / "speech-folder.yaml"


def one_run(corpus: Path, cache: Path, out: Path, sets: list[str]) -> dict:
    """The one command in a new process: wall and CPU seconds, and what the run says."""
    env = {**os.environ, "AFFECTLAB_CACHE": str(cache), "AFFECTLAB_PROGRESS": "off"}
    load = os.getloadavg()[0]  # the machine is shared: the 1-minute load average at the start
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "affectlab", "train", str(CONFIG), "--media", str(corpus),
                           "--labels", str(corpus / "labels.csv"), "--out", str(out), "-q", "--overwrite",
                           *[a for s in sets for a in ("--set", s)]],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{corpus.name}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    summary = json.loads((out / "summary.json").read_text())
    ci = summary["cis"]["pooled"]["uar"]
    extract_line = next((line for line in proc.stderr.splitlines() if line.startswith("extracted ")), "")
    return {"load_at_start": round(load, 1), "wall_s": round(wall, 1),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
            "train_s": round(summary["timings"]["total"], 1),
            "uar": round(ci["value"], 3), "ci": [round(ci["ci_low"], 3), round(ci["ci_high"], 3)],
            "extract": extract_line.split(";")[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", help="folder name under ../shared/data (default: urdu, emodb)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--set", action="append", default=[], help="a config override for every run, e.g. model.standardize=group")
    args = parser.parse_args()
    rows = []
    for name in args.corpus or ["urdu", "emodb"]:
        corpus = DATA / name
        for r in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix=f"bench-media-{name}-") as tmp:
                cache, out = Path(tmp) / "cache", Path(tmp) / "run"
                for state in ("cold", "warm"):
                    row = {"corpus": name, "repeat": r + 1, "cache": state, **one_run(corpus, cache, out, args.set)}
                    rows.append(row)
                    print(f"| {name} | {state} | {row['wall_s']} | {row['cpu_s']} | {row['train_s']} | "
                          f"{row['uar']} [{row['ci'][0]}, {row['ci'][1]}] | {row['load_at_start']} | {row['extract']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
