"""The user's v3.0 → v3.3 ablation on the SemEval training file: wall time and the effects table.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_ablate.py [--seeds 3] [--workers 2] [--out DIR]``

It runs ``affectlab ablate configs/semeval2026-task2/v3.0.yaml v3.3.yaml --data train_subtask1.csv``
(8 changes the model reads: 18 distinct configs × K seeds of the BiLSTM ``user_sequence``) in its
own process and prints the wall time, how many trials finished, and the report
(``OUT/ablation.md``). A second call with the same ``--out`` trains only what is missing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "semeval2026-task2" / "train_subtask1.csv"
CONFIGS = ROOT / "configs" / "semeval2026-task2"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/ablate_bench/out"))
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data}: missing (the SemEval training file is needed)")
    cmd = [sys.executable, "-m", "affectlab", "ablate", str(CONFIGS / "v3.0.yaml"), str(CONFIGS / "v3.3.yaml"),
           "--data", str(args.data), "--seeds", str(args.seeds), "--out", str(args.out), "--workers", str(args.workers)]
    start = time.perf_counter()
    proc = subprocess.run(cmd)
    wall = time.perf_counter() - start
    runs = sorted(args.out.glob("runs/*/seed-*/summary.json"))
    print(f"\nwall time {wall:.0f} s; {len(runs)} trials finished; exit code {proc.returncode}")
    report = args.out / "ablation.md"
    if report.exists():
        print(report.read_text())


if __name__ == "__main__":
    main()
