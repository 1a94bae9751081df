"""Time to first result for the EmoDB LOSO contract: extract into a cold cache, then train.

    python benchmarks/bench_first_result.py [--src SRC] [--media ../shared/data/emodb] [--repeats 1]
        [--baselines default|config] [--keep DIR] [--json OUT]

Each repeat runs, each step in a fresh process with an empty feature cache (``AFFECTLAB_CACHE``
set to a new temporary folder, so no step reads what another run extracted):

1. ``affectlab extract configs/extract/emodb.yaml --media MEDIA --labels MEDIA/labels.csv``
   (eGeMAPS v02 + praat + ComParE 2016, 535 recordings);
2. ``affectlab train configs/emodb/emotion-loso.yaml`` on that pickle (linear SVM, C by inner
   leave-one-speaker-out in each of the 10 leave-one-speaker-out folds). ``--baselines default``
   (the default) drops the config's ``baselines: [majority]`` so that the task's default baselines
   run, as for a config that names none (the issue's goal); ``config`` keeps the config's line.

Measured per step: wall seconds, user and system CPU seconds of the step's process and all its
children (``resource.getrusage(RUSAGE_CHILDREN)`` before and after; the machine is shared, so CPU
time is the figure that other people's load does not inflate) and peak resident memory. The
table shows each repeat and the median; the train step's own table of baselines and seconds
follows. ``--src`` picks the source tree to run (``PYTHONPATH``; default this checkout's ``src``),
so the same harness times an older checkout (``git worktree add /tmp/base <commit>``).
``--keep DIR`` keeps the last repeat's pickle and run directory there (compare ``predictions.csv``
across checkouts with ``cmp``). Skips cleanly when the EmoDB folder is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "data" / "emodb"
EXTRACT_CONFIG = ROOT / "configs" / "extract" / "emodb.yaml"
TRAIN_CONFIG = ROOT / "configs" / "emodb" / "emotion-loso.yaml"


def run_step(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """One step in its own process: wall, user and system CPU (with its children) and peak memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"step failed ({proc.returncode}): {' '.join(argv)}")
    return {"wall_s": wall, "user_s": after.ru_utime - before.ru_utime, "sys_s": after.ru_stime - before.ru_stime,
            # ru_maxrss of RUSAGE_CHILDREN is the largest child so far (KiB on Linux)
            "peak_mb": after.ru_maxrss / 1024.0, "stdout": proc.stdout, "stderr": proc.stderr}


def one_round(src: Path, media: Path, baselines: str, work: Path) -> dict[str, dict]:
    """Extract into an empty cache, then train; both timed (see the module docstring)."""
    cache = work / "cache"
    cache.mkdir()
    env = {**os.environ, "PYTHONPATH": str(src), "AFFECTLAB_CACHE": str(cache), "AFFECTLAB_PROGRESS": "off"}
    affectlab = [sys.executable, "-m", "affectlab"]
    pkl = work / "emodb.pkl"
    out: dict[str, dict] = {}
    out["extract"] = run_step([*affectlab, "extract", str(EXTRACT_CONFIG), "--media", str(media),
                               "--labels", str(media / "labels.csv"), "--out", str(pkl)], env)
    config = TRAIN_CONFIG
    if baselines == "default":
        raw = yaml.safe_load(TRAIN_CONFIG.read_text())
        raw.pop("baselines", None)  # the task's default baselines, as for a config that names none
        config = work / "emotion-loso-default-baselines.yaml"
        config.write_text(yaml.safe_dump(raw, sort_keys=False))
    run = work / "run"
    out["train"] = run_step([*affectlab, "train", str(config), "--data", str(pkl), "--out", str(run)], env)
    summary = json.loads((run / "summary.json").read_text())
    out["train"]["uar"] = summary["metrics"]["oof"]["uar"]
    out["train"]["baseline_fit_seconds"] = summary.get("baseline_fit_seconds", {})
    out["train"]["baselines"] = sorted(summary.get("baselines", {}))
    out["train"]["timings"] = summary.get("timings", {})
    return out


def table(rounds: list[dict[str, dict]]) -> str:
    """Rows per step and repeat, plus the medians and the total (extract + train)."""
    lines = [f"{'step':<8} {'repeat':>6} {'wall s':>8} {'user s':>8} {'sys s':>7} {'CPU s':>8} {'peak MB':>8}"]
    for step in ("extract", "train", "total"):
        values = []
        for i, r in enumerate(rounds, 1):
            parts = [r["extract"], r["train"]] if step == "total" else [r[step]]
            wall, user, sys_ = (sum(p[k] for p in parts) for k in ("wall_s", "user_s", "sys_s"))
            peak = max(p["peak_mb"] for p in parts)
            values.append((wall, user, sys_, peak))
            lines.append(f"{step:<8} {i:>6} {wall:>8.1f} {user:>8.1f} {sys_:>7.1f} {user + sys_:>8.1f} {peak:>8.0f}")
        if len(rounds) > 1:
            med = [statistics.median(v[k] for v in values) for k in range(4)]
            lines.append(f"{step:<8} {'median':>6} {med[0]:>8.1f} {med[1]:>8.1f} {med[2]:>7.1f} {med[1] + med[2]:>8.1f} "
                         f"{med[3]:>8.0f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the source tree to time (PYTHONPATH)")
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--baselines", choices=("default", "config"), default="default")
    ap.add_argument("--keep", type=Path, help="keep the last repeat's pickle and run directory here")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not (args.media / "labels.csv").exists():
        print(f"skipped: no EmoDB at {args.media}")
        return
    rounds = []
    for _ in range(args.repeats):
        work = Path(tempfile.mkdtemp(prefix="bench-first-result-"))
        try:
            rounds.append(one_round(args.src.resolve(), args.media.resolve(), args.baselines, work))
            if args.keep is not None:
                shutil.rmtree(args.keep, ignore_errors=True)
                args.keep.mkdir(parents=True)
                shutil.copy2(work / "emodb.pkl", args.keep / "emodb.pkl")
                shutil.copytree(work / "run", args.keep / "run")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"EmoDB LOSO, time to first result (src {args.src}, baselines: {args.baselines}, {os.cpu_count()} cores)")
    print(table(rounds))
    last = rounds[-1]["train"]
    print(f"UAR {last['uar']:.4f}; baselines {', '.join(last['baselines']) or 'none'}; seconds per baseline (all folds): "
          + (", ".join(f"{k} {v:.1f}" for k, v in last["baseline_fit_seconds"].items()) or "not recorded"))
    print("train timings: " + ", ".join(f"{k} {v:.1f}" for k, v in last["timings"].items() if isinstance(v, (int, float))))
    if args.json:
        args.json.write_text(json.dumps([{s: {k: v for k, v in d.items() if k not in ("stdout", "stderr")}
                                          for s, d in r.items()} for r in rounds], indent=2))


if __name__ == "__main__":
    main()
