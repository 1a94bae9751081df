"""Feature-space transfer benchmark on CMU-MOSI (docs/transfer.md).

Source: ``configs/mosi/default.yaml`` (early_lstm) trained on ``../shared/data/mosi/mosi_dev.pkl``
with the file's 100-d text features, audio and vision. Target: the same utterances with text
re-encoded from raw_text by the default sentence encoder (384-d MiniLM); audio/vision unchanged.
The source model never sees target text features. ``configs/mosi/transfer-text-encoder.yaml``
adapts it with K in {0, 50, 200} labelled target ``train`` samples; every row is scored on
``test`` (touched once per run); 5 seeds (source model, K sample and training all seeded).

    python benchmarks/bench_transfer.py [--seeds 1,2,3,4,5] [--ks 0,50,200] [--ablate]

``--ablate`` adds, for seed 1..2 at K=0 and K=50, the alignment variants (random / k-means / nearest
neighbour pseudo-targets, MMD, CORAL, standardisation only) so one can see which change does what.
One torch thread (faster than two on a loaded 2-core machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mosi" / "mosi_dev.pkl"
KEYS = (("mae", "MAE"), ("pearson", "Corr"), ("acc2_nonneg", "Acc2≥0"), ("acc2_nozero", "Acc2≠0"))
LABELS = {"adapted": "adapted", "standardization_map": "standardisation-only map", "scratch_k": "from scratch on K",
          "oracle": "oracle (all 1,086 train labels)", "source_reference": "source model, source features (ref.)"}

ABLATIONS = {
    "std only (no pseudo)": "[{kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "coral only": "[{kind: coral}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "mmd": "[{kind: mmd, epochs: 20}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo random": "[{kind: pseudo, scheme: random, epochs: 30}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo kmeans": "[{kind: pseudo, scheme: kmeans, clusters: 32, epochs: 30}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo nn, same video allowed": "[{kind: pseudo, scheme: nn, neighbours: 5, exclude: id, epochs: 30}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo nn, adapters first": "[{kind: pseudo, scheme: nn, neighbours: 5, epochs: 30}, {kind: standardize}, {kind: supervised, first: adapters, lr_scale: 0.1}]",
}


def fmt(vals: list[float]) -> str:
    v = np.asarray(vals, dtype=float)
    return f"{v.mean():.3f}±{v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--ks", default="0,50,200")
    ap.add_argument("--bootstrap", type=int, default=300)
    ap.add_argument("--ablate", action="store_true")
    args = ap.parse_args()
    if not DATA.is_file():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    torch.set_num_threads(1)
    from affectlab.config import load_config
    from affectlab.pipeline import train_run
    from affectlab.transfer.config import load_transfer_config
    from affectlab.transfer.run import transfer_run

    seeds = [int(s) for s in args.seeds.split(",")]
    ks = [int(k) for k in args.ks.split(",")]
    tcfg_path = ROOT / "configs" / "mosi" / "transfer-text-encoder.yaml"
    work = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    t_all = time.perf_counter()
    results: dict[tuple[int, str], list[dict]] = {}
    verdicts: dict[int, list[list[str]]] = {}
    ablation: dict[tuple[str, int], list[dict]] = {}
    for seed in seeds:
        t = time.perf_counter()
        src_cfg = load_config(ROOT / "configs" / "mosi" / "default.yaml", ["baselines=[]"], seed=seed)
        src = train_run(src_cfg, DATA, work / f"src-{seed}")
        print(f"seed {seed}: source early_lstm trained in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        for k in ks:
            t = time.perf_counter()
            rows = ["scratch_k", "standardization_map"] + (["oracle", "source_reference"] if k == ks[0] else [])
            cfg, tc = load_transfer_config(tcfg_path, [f"transfer.k={k}", f"transfer.bootstrap={args.bootstrap}",
                                                       f"transfer.compare_rows={rows}"], seed=seed)
            out = transfer_run(cfg, tc, src, DATA, work / f"tr-{seed}-{k}")
            import json

            rep = json.loads((out / "summary.json").read_text())["transfer_comparison"]
            for name, row in rep["rows"].items():
                results.setdefault((k, name), []).append({key: row[key]["value"] for key, _ in KEYS})
            verdicts.setdefault(k, []).append(rep["verdict"])
            print(f"seed {seed} K={k}: {time.perf_counter() - t:.1f} s; adapted MAE {rep['rows']['adapted']['mae']['value']:.3f}",
                  file=sys.stderr)
            if args.ablate and seed in seeds[:2] and k in (0, 50):
                for label, stages in ABLATIONS.items():
                    cfg, tc = load_transfer_config(tcfg_path, [f"transfer.k={k}", "transfer.compare=false",
                                                               f"transfer.stages={stages}"], seed=seed)
                    from affectlab.pipeline import predict_run

                    o = transfer_run(cfg, tc, src, DATA, work / f"ab-{seed}-{k}")
                    s = json.loads((o / "summary.json").read_text())
                    ablation.setdefault((label, k), []).append({**{key: s["metrics"]["test"][key] for key, _ in KEYS},
                                                                "mmd": s["mmd"]["final"]["text"]})
    total = time.perf_counter() - t_all

    print(f"\nMOSI transfer, text 100-d CNN features -> 384-d MiniLM; TEST split (177 utterances, 10 videos); "
          f"mean ± sd over seeds {args.seeds}; {total:.0f} s total\n")
    print("| K | model | " + " | ".join(lbl for _, lbl in KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for k in ks:
        for name in ("adapted", "standardization_map", "scratch_k"):
            vals = results.get((k, name))
            if vals:
                print(f"| {k} | {LABELS[name]} | " + " | ".join(fmt([v[key] for v in vals]) for key, _ in KEYS) + " |")
    for name in ("oracle", "source_reference"):
        vals = results.get((ks[0], name))
        if vals:
            print(f"| all | {LABELS[name]} | " + " | ".join(fmt([v[key] for v in vals]) for key, _ in KEYS) + " |")
    print("\nPer-seed verdicts (paired bootstrap over videos, MAE):")
    for k in ks:
        flat = [line for v in verdicts[k] for line in v]
        n = len(verdicts[k])
        help_std = sum("help against the standardisation" in ln for ln in flat)
        hurt_std = sum("hurt against the standardisation" in ln for ln in flat)
        help_scr = sum("help against a model trained from scratch" in ln for ln in flat)
        hurt_scr = sum("hurt against a model trained from scratch" in ln for ln in flat)
        line = f"- K={k}: adapted significantly better than the standardisation-only map in {help_std}/{n} seeds (worse in {hurt_std})"
        if k:
            line += f"; better than from scratch on K in {help_scr}/{n} (worse in {hurt_scr})"
        print(line)
    if ablation:
        print("\nAblation (seeds 1-2, TEST, alignment variants; default = pseudo nn, 5 neighbours, other videos only):")
        print("| K | stages | " + " | ".join(lbl for _, lbl in KEYS) + " | MMD² after |")
        print("|---|---|" + "---|" * (len(KEYS) + 1))
        for (label, k), vals in sorted(ablation.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"| {k} | {label} | " + " | ".join(fmt([v[key] for v in vals]) for key, _ in KEYS)
                  + f" | {fmt([v['mmd'] for v in vals])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
