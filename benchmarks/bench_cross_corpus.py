"""Cross-corpus EmoDB <-> URDU: within- vs cross-corpus UAR with 95% intervals, three normalisations.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_cross_corpus.py [--emodb PKL] [--urdu PKL] [--all-columns]``

Both pickles come from the same extraction (configs/extract/emodb.yaml, configs/extract/urdu.yaml:
6473 eGeMAPS + praat + ComParE functionals). For each direction (train on one corpus, test on the
other), each label set (the four shared classes angry/happy/neutral/sad; binary arousal low/high;
binary valence negative/positive, all mapped from each corpus's own labels, neutral left out of the
binary ones) and each normalisation (global: the training rows' statistics; corpus: each corpus
its own; speaker: each speaker its own), one ``split.kind: cross_corpus`` run: within = pooled
leave-one-speaker-out inside the training corpus, cross = the model refitted on the whole training
corpus, scored once on the test corpus; intervals resample speakers of the corpus scored.
Model: linear SVM, classes weighted, C chosen inside the training speakers (``--inner-folds``:
``groups`` = leave-one-speaker-out, or k speaker-group folds; default ``groups`` with EmoDB as the
training corpus and 5 with URDU's 29 speakers, where 29 x 28 inner fits per C took ~8 min a run on the
shared 2-core machine); by default on the first 100 columns (eGeMAPS + praat; ``--all-columns``: all
6473, about 10x slower). ``--directions emodb-urdu`` or ``urdu-emodb`` runs one direction only.
``--modality audio_ssl_layers`` (with pickles of configs/extract/speech-ssl-layers.yaml) runs the
same grid on the Whisper tiny.en encoder's 5 hidden states, averaged (all their columns).
Adapters at K in {0, 20, 50} labelled target samples are branch ``transfer``'s (docs/transfer.md):
this script's runs are their K = 0 rows.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from affectlab.core.notes import Notes
from affectlab.experiment import resolve
from affectlab.pipeline import train_run

LABELS = {
    "4 classes": {"name": "emotion", "kind": "category", "classes": ["angry", "happy", "neutral", "sad"],
                  "map": "emotion", "unmapped": "drop"},
    "arousal": {"name": "arousal", "column": "emotion", "kind": "category", "classes": ["low", "high"],
                "map": "arousal_binary", "unmapped": "drop"},
    "valence": {"name": "valence", "column": "emotion", "kind": "category", "classes": ["negative", "positive"],
                "map": "valence_binary", "unmapped": "drop"},
}
NORMS = {"global": "global", "corpus": "corpus", "speaker": "group"}


def config(target: dict, standardize: str, columns: list | None, inner_folds: "str | int" = "groups",
           modality: str = "audio") -> dict:
    model = {"name": "svm_audio", "kernel": "linear", "inner_folds": inner_folds, "standardize": standardize,
             "class_weight": "balanced", "C": [1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2], "modalities": [modality]}
    if columns is not None:
        model["columns"] = columns
    return {"task": "classification", "data": {"format": "mmsa", "targets": [target], "options": {"modalities": [modality]}},
            "split": {"kind": "cross_corpus"}, "model": model, "baselines": ["majority"], "seed": 1}


def fmt(ci: dict) -> str:
    return f"{ci['value']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", type=Path, default=Path("/work/art/emodb.pkl"))
    ap.add_argument("--urdu", type=Path, default=Path("/work/art/xcorpus/urdu.pkl"))
    ap.add_argument("--all-columns", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write every row here")
    ap.add_argument("--directions", default="emodb-urdu,urdu-emodb")
    ap.add_argument("--modality", default="audio", help="the feature array (audio_ssl_layers: every Whisper state)")
    ap.add_argument("--inner-folds", default=None, help="groups or an integer (default: groups for EmoDB, 5 for URDU)")
    args = ap.parse_args()
    for p in (args.emodb, args.urdu):
        if not p.exists():
            raise SystemExit(f"{p}: missing (extract it with configs/extract/emodb.yaml or urdu.yaml)")
    columns = None if args.all_columns or args.modality != "audio" else [0, 100]
    rows = []
    what = (args.modality if args.modality != "audio" else
            "all 6473 functionals" if columns is None else "eGeMAPS + praat (columns 0-100)")
    print(f"features: {what}; UAR, 95% CI over speakers")
    print(f"{'train -> test':16} {'labels':10} {'normalise':9} {'n train/test':>12} {'within (LOSO)':>22} "
          f"{'cross':>22} {'drop':>6} {'majority':>8} {'s':>5}")
    pairs = {"emodb-urdu": (args.emodb, args.urdu), "urdu-emodb": (args.urdu, args.emodb)}
    for direction in args.directions.split(","):
        train, test = pairs[direction]
        inner = args.inner_folds or ("groups" if train == args.emodb else "5")
        inner_folds: "str | int" = int(inner) if inner.isdigit() else inner
        print(f"{direction}: C chosen by inner_folds {inner_folds} inside the training speakers", flush=True)
        for label, target in LABELS.items():
            for norm, standardize in NORMS.items():
                t = time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:
                    out = train_run(resolve(config(target, standardize, columns, inner_folds, args.modality)), [train, test], Path(tmp) / "run",
                                    notes=Notes())
                    assert out is not None
                    summary = json.loads((out / "summary.json").read_text())
                cc = summary["cross_corpus"]
                within, cross = cc["within"]["cis"]["uar"], cc["cross"]["cis"]["uar"]
                majority = summary["baselines"]["majority"]["test"]["uar"]
                row = {"train": train.stem, "test": test.stem, "labels": label, "normalise": norm,
                       "n_train": cc["within"]["n"], "n_test": cc["cross"]["n"], "within": within, "cross": cross,
                       "majority_cross": majority, "seconds": time.perf_counter() - t}
                rows.append(row)
                print(f"{train.stem + ' -> ' + test.stem:16} {label:10} {norm:9} {row['n_train']:>5}/{row['n_test']:<6} "
                      f"{fmt(within):>22} {fmt(cross):>22} {within['value'] - cross['value']:6.3f} {majority:8.3f} "
                      f"{row['seconds']:5.0f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
