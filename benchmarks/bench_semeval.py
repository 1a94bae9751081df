"""SemEval-2026 Task 2 benchmark: every baseline, v3.0, v3.2, v3.3 and the default, plus speed ratios.

Run: ``.venv/bin/python benchmarks/bench_semeval.py [--seeds 0,1,2] [--skip-speed]``

Dev protocol (the only place we tune): a fifth of the users held out entirely plus the latest
fifth of every other user's texts, from ``train_subtask1.csv``; repeated over several split
seeds because one dev set of ~600 texts is small. Each configuration runs in its own process
(``affectlab train``), so wall time and peak memory are its own. Baselines are fitted inside the
default's runs, on the same rows.

Speed (one run, ratios): a cold run (empty cache: encode, train, predict) against the encoder
alone on the same texts, and a warm-cache retrain of the default.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "semeval2026-task2" / "train_subtask1.csv"
CONFIGS = ROOT / "configs" / "semeval2026-task2"
AFFECTLAB = [sys.executable, "-m", "affectlab"]


def run(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def quality(seeds: list[int], work: Path, env: dict) -> pd.DataFrame:
    rows = []
    for name in ["default", "v3.0", "v3.2", "v3.3"]:
        for seed in seeds:
            out = work / f"{name}-{seed}"
            sets = ["--set", f"split.seed={seed}", "--set", "training.refit_full=false"]
            if name != "default":
                sets += ["--set", "baselines=[]"]
            wall = run(AFFECTLAB + ["train", str(CONFIGS / f"{name}.yaml"), "--data", str(DATA), "--out", str(out),
                                    "--seed", str(seed), "--quiet"] + sets, env)
            s = json.loads((out / "summary.json").read_text())
            rows.append(row(name, seed, s["metrics"]["val"], wall, s["timings"].get("per_epoch"), s["peak_memory_mb"],
                            s["timings"]["fit"]))
            if name == "default":
                for b, m in s["baselines"].items():
                    rows.append(row(f"baseline: {b}", seed, m["val"], None, None, None, s["baseline_fit_seconds"][b]))
    return pd.DataFrame(rows)


def row(name, seed, m, wall, per_epoch, peak, fit):
    return {"model": name, "seed": seed, "score": m.get("score"), "seen": m.get("seen/score"),
            "unseen": m.get("unseen/score"), "rc_valence": m.get("r_composite_valence"),
            "rc_arousal": m.get("r_composite_arousal"), "ccc_valence": m.get("ccc_valence"),
            "ccc_arousal": m.get("ccc_arousal"), "fit_s": fit, "wall_s": wall, "epoch_s": per_epoch, "peak_mb": peak}


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    metrics = ["score", "seen", "unseen", "rc_valence", "rc_arousal", "ccc_valence", "ccc_arousal"]
    out = []
    for name, part in frame.groupby("model", sort=False):
        r = {"model": name}
        for m in metrics:
            r[m] = f"{part[m].mean():.3f} ± {part[m].std(ddof=1):.3f}" if len(part) > 1 else f"{part[m].mean():.3f}"
        for m in ["fit_s", "wall_s", "epoch_s", "peak_mb"]:
            r[m] = "" if part[m].isna().all() else f"{part[m].mean():.1f}"
        out.append(r)
    return pd.DataFrame(out)


def speed(work: Path, env: dict) -> pd.DataFrame:
    """Cold run vs encoder alone, and a warm retrain, each in fresh processes with their own cache."""
    data = pd.read_csv(DATA)
    sys.path.insert(0, str(ROOT / "src"))
    from affectlab.corpus import Corpus
    from affectlab.corpus.splits import dev_split

    corpus = Corpus(data.rename(columns={"text_id": "id", "user_id": "group", "timestamp": "order"}))
    is_val = (dev_split(corpus, 0.2, 0.2, seed=0) == "val").to_numpy()
    train_csv, test_csv = work / "speed-train.csv", work / "speed-test.csv"
    data[~is_val].to_csv(train_csv, index=False)
    test = data[is_val].drop(columns=["valence", "arousal"])
    test["is_seen_user"] = test["user_id"].isin(set(data[~is_val]["user_id"]))
    test.to_csv(test_csv, index=False)
    n_texts = len(data)

    enc_env = {**env, "AFFECTLAB_CACHE": str(work / "cache-encoder")}
    code = ("import pandas as pd, sys; from affectlab.config import EncoderConfig; "
            "from affectlab.features.text import embed_texts; "
            f"t = pd.concat([pd.read_csv('{train_csv}').text, pd.read_csv('{test_csv}').text]).tolist(); "
            "embed_texts(t, EncoderConfig())")
    t_encoder = run([sys.executable, "-c", code], enc_env)

    cold_env = {**env, "AFFECTLAB_CACHE": str(work / "cache-cold")}
    run_dir = work / "speed-run"
    t_train = run(AFFECTLAB + ["train", str(CONFIGS / "default.yaml"), "--data", str(train_csv), "--out", str(run_dir), "--quiet"], cold_env)
    t_predict = run(AFFECTLAB + ["predict", str(run_dir), "--data", str(test_csv), "--out", str(work / "speed-pred.csv")], cold_env)
    t_warm = run(AFFECTLAB + ["train", str(CONFIGS / "default.yaml"), "--data", str(train_csv), "--out", str(work / "speed-warm"), "--quiet"], cold_env)
    cold = t_train + t_predict
    return pd.DataFrame([
        {"measure": f"encoder alone ({n_texts} texts, model load included)", "seconds": t_encoder, "target": ""},
        {"measure": "cold run: train (encode + fit + baselines + refit) + predict", "seconds": cold,
         "target": f"ratio {cold / t_encoder:.2f} (goal <= 1.3)"},
        {"measure": "warm-cache retrain of the default (affectlab train, whole process)", "seconds": t_warm,
         "target": "goal <= 15 s"},
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} is absent (the benchmark needs the real SemEval training file)")
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory(prefix="affectlab-bench-") as tmp:
        work = Path(tmp)
        env["AFFECTLAB_CACHE"] = str(work / "cache")
        pd.set_option("display.width", 250, "display.max_columns", 30)
        print(f"machine: {os.cpu_count()} CPU cores; data: {DATA.name}; dev protocol seeds: {seeds}")
        if not args.skip_quality:
            table = quality(seeds, work, env)
            print("\nDev protocol (mean ± sd over split seeds; fit_s/wall_s/epoch_s in seconds, peak_mb of the process)")
            print(summarise(table).to_string(index=False))
        if not args.skip_speed:
            print("\nSpeed")
            print(speed(work, env).to_string(index=False))


if __name__ == "__main__":
    main()
