"""CMU-MOSI benchmark: ridge per modality and on all, then every fusion model over 5 seeds.

    python benchmarks/bench_mosi.py [--data ../shared/data/mosi/mosi_dev.pkl] [--seeds 1,2,3,4,5] [--json OUT]

Training settings are those of ``configs/mosi/default.yaml`` (only the model changes). Every model
is selected on the ``valid`` split (early stopping on MAE); the default model is chosen by mean
VALID MAE only. Test numbers are computed once per fit, after selection, and reported beside:
they played no part in any choice. Columns: MAE, Corr (Pearson), Acc-2 and F1 in both
conventions (non-negative vs negative; positive vs negative with zeros dropped), Acc-7, mean
seconds per training epoch, training samples/second, peak resident memory of this process.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlab.config import load_config  # noqa: E402
from affectlab.corpus import read_corpus  # noqa: E402
from affectlab.models import MODELS  # noqa: E402
from affectlab.models.base import FitContext  # noqa: E402
from affectlab.pipeline import make_scorer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "mosi" / "mosi_dev.pkl"
KEYS = ("mae", "pearson", "acc2_nonneg", "f1_nonneg", "acc2_nozero", "f1_nozero", "acc7")
HEAD = ("MAE", "Corr", "Acc2≥0", "F1≥0", "Acc2≠0", "F1≠0", "Acc7")
RIDGES = ("ridge_text", "ridge_audio", "ridge_vision", "ridge_all")
FUSION = ("late_fusion", "early_lstm", "tensor_fusion", "cross_attention")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "mosi" / "default.yaml")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--models", default=",".join(FUSION))
    ap.add_argument("--ablate", action="store_true", help="also train the config's model on text, text+audio, text+vision")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not args.data.is_file():
        print(f"skipped: {args.data} not found (the shared data folder is optional)")
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    cfg = load_config(args.config)
    corpus = read_corpus(args.data, cfg.data, require_labels=True)
    train, val, test = (corpus.split_part(s) for s in (cfg.split.train_split, cfg.split.val_split, "test"))
    scorer = make_scorer("mosi", corpus.targets, set(train.frame["group"]))
    print(f"{args.data.name}: train {len(train)} / valid {len(val)} / test {len(test)} utterances "
          f"({train.frame.group.nunique()}/{val.frame.group.nunique()}/{test.frame.group.nunique()} videos); "
          f"training as {args.config.name} (lr {cfg.training.lr}, batch {cfg.training.batch_size}, "
          f"max {cfg.training.max_epochs} epochs, patience {cfg.training.patience}, L1 loss); seeds {seeds}")
    rows: dict[str, dict] = {}
    t_all = time.perf_counter()
    for name in RIDGES:
        est = MODELS.get(name)(corpus.targets)
        t = time.perf_counter()
        est.fit(train, None, None)
        secs = time.perf_counter() - t
        rows[name] = {"val": [scorer(val, est.predict(val))], "test": [scorer(test, est.predict(test))],
                      "epoch_s": [np.nan], "sps": [len(train) / secs], "fit_s": [secs], "peak_mb": peak_mb(), "epochs": [0]}
    params = cfg.model.params()
    runs = [(name, name, params) for name in args.models.split(",")]
    if args.ablate:
        runs += [(f"{cfg.model.name}[{'+'.join(mods)}]", cfg.model.name, {**params, "modalities": list(mods)})
                 for mods in (("text",), ("text", "audio"), ("text", "vision"))]
    for label, name, p in runs:
        r = {"val": [], "test": [], "epoch_s": [], "sps": [], "fit_s": [], "epochs": []}
        for seed in seeds:
            est = MODELS.get(name)(corpus.targets, **p)
            t = time.perf_counter()
            fit = est.fit(train, val, FitContext(training=cfg.training, seed=seed, scorer=scorer, monitor="mae",
                                                 monitor_higher_is_better=False))
            r["fit_s"].append(time.perf_counter() - t)
            r["val"].append(scorer(val, est.predict(val)))
            r["test"].append(scorer(test, est.predict(test)))  # after selection; never used to choose
            per_epoch = float(np.mean([h["seconds"] for h in fit.history]))
            r["epoch_s"].append(per_epoch)
            r["sps"].append(len(train) / per_epoch)
            r["epochs"].append(fit.best_epoch)
        r["peak_mb"] = peak_mb()
        rows[label] = r
        print(f"  {label}: {np.mean(r['fit_s']):.1f} s per fit", flush=True)
    total = time.perf_counter() - t_all

    def cell(vals: list[float]) -> str:
        a = np.asarray(vals, dtype=float)
        return f"{a.mean():.3f}" if len(a) == 1 else f"{a.mean():.3f}±{a.std(ddof=1):.3f}"

    for split in ("val", "test"):
        print(f"\n{'VALID (selection)' if split == 'val' else 'TEST (reported once, not used for any choice)'}")
        print("| model | " + " | ".join(HEAD) + " | s/epoch | samples/s | peak MB |")
        print("|---|" + "---|" * (len(HEAD) + 3))
        for name, r in rows.items():
            metrics = [cell([m[k] for m in r[split]]) for k in KEYS]
            ep = "–" if np.isnan(r["epoch_s"][0]) else f"{np.mean(r['epoch_s']):.3f}"
            print(f"| {name} | " + " | ".join(metrics) + f" | {ep} | {np.mean(r['sps']):.0f} | {r['peak_mb']:.0f} |")
    ridge_best = min(RIDGES[:3], key=lambda n: rows[n]["val"][0]["mae"])
    fusion = [n for n in rows if n in FUSION]
    best = min(fusion, key=lambda n: np.mean([m["mae"] for m in rows[n]["val"]]))
    maes = np.array([m["mae"] for m in rows[best]["val"]])
    margin = rows[ridge_best]["val"][0]["mae"] - maes.mean()
    print(f"\nbest fusion model by mean VALID MAE: {best} ({maes.mean():.3f} ± {maes.std(ddof=1):.3f}); "
          f"strongest single-modality ridge: {ridge_best} ({rows[ridge_best]['val'][0]['mae']:.3f}); "
          f"margin {margin:.3f} {'>' if margin > maes.std(ddof=1) else '<='} seed sd {maes.std(ddof=1):.3f}")
    print(f"total {total:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "best": best, "ridge_best": ridge_best, "total_s": total}, default=float, indent=1))


if __name__ == "__main__":
    main()
