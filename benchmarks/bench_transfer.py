"""Feature-space transfer benchmark, both shipped scenarios (docs/transfer.md).

MOSI (text extractor changes, honest features only): source ``configs/mosi/transfer-source.yaml``
(late_fusion on raw_text through one text extractor plus the file's audio statistics of
``../shared/data/mosi/mosi_dev.pkl``, trained on ``train``, early stopping on ``valid``: the test
videos play no part); target: the same utterances with text from the sentence-transformers MiniLM,
adapted by ``configs/mosi/transfer-text-encoder.yaml`` with K in {0, 50, 200}; scored on ``test``
(10 videos). No leaked array (the file's text and vision arrays, fitted upstream on these labels) is
read on either side. (Before 2026-12-07 this scenario started from ``configs/mosi/features.yaml``, on
those leaked arrays; docs/transfer.md keeps its numbers as a historical note.)

EmoDB (audio extractor changes, other speakers): source ``configs/emodb/transfer-source-egemaps.yaml``
(late_fusion on 88 eGeMAPS functionals, source speakers); target: other speakers described by 6373
ComParE 2016 functionals, adapted by ``configs/emodb/transfer-compare.yaml`` with K in {0, 20, 50};
scored on the target ``test`` speakers. Needs the two extracted pickles (``--emodb DIR`` holding
``egemaps.pkl`` and ``compare.pkl``, extracted with the same split labels; docs/transfer.md).

``mosi-layer3``: the MOSI scenario with a harder source extractor (MiniLM's 3rd block, mean-pooled).

Speech, cross-corpus (``--only speech``): source ``configs/speech/transfer-arousal-source.yaml`` on
EmoDB's 6473 voice functionals (arousal numbers), target URDU with the same features and arousal
numbers by the same circumplex convention (``configs/extract/urdu-circumplex.yaml``), adapted by
``configs/speech/transfer-arousal.yaml`` with K in {0, 20, 50}; both pickles are extracted with a
speaker split into ``--speech DIR`` by :func:`speech_data` (cache hits when extracted before).

Speech classifiers, cross-corpus (``--only speech-classes``, or one of them by name,
``speech-{emotion,arousal,valence}-{emodb-urdu,urdu-emodb}``): source
``configs/speech/transfer-emotion-source.yaml``, target ``configs/speech/transfer-emotion.yaml``,
the four shared classes (angry/happy/neutral/sad), binary arousal or binary valence
(:data:`SPEECH_LABELS`: a ``--set`` of both configs), EmoDB -> URDU (the pickles of
:func:`speech_data`) and URDU -> EmoDB (:func:`speech_reverse_data`); K in {0, 20, 50}; headline UAR.
The corpora's audio and labels.csv are read from ``--corpora DIR`` (default ``../shared/data``).

Every row: mean over seeds of the headline metric with the mean of the per-seed 95% bootstrap
interval (resampling videos / speakers), other metrics mean ± sd over seeds; then how many seeds
the paired bootstrap says the adapters help or lose against each alternative. 5 seeds (source
model, K sample and all training seeded). One torch thread.

    nice -n 10 python benchmarks/bench_transfer.py [--seeds 1,2,3,4,5] [--only mosi|mosi-layer3|emodb|speech|speech-classes|NAME]
        [--emodb DIR] [--speech DIR] [--corpora DIR] [--ablate]

``--ablate`` (MOSI, the first two seeds, K=0 and 50): the alignment variants (standardisation only,
CORAL, MMD, random / k-means / nearest-neighbour pseudo-targets) without comparison models, so one
can see which stage does what.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
MOSI = ROOT.parent / "shared" / "data" / "mosi" / "mosi_dev.pkl"
LABELS = {"adapted": "adapted", "standardization_map": "standardisation-only map", "scratch_k": "from scratch on K",
          "oracle": "oracle (all target train labels)", "source_reference": "source model, source features (ref.)"}


@dataclass
class Scenario:
    name: str
    source_config: Path
    source_data: Path
    transfer_config: Path
    target_data: Path
    ks: tuple[int, ...]
    keys: tuple[tuple[str, str], ...]  # (metric key, column title); the first is the headline
    title: str
    source_sets: tuple[str, ...] = ()  # --set overrides of the source config (another source extractor)
    transfer_sets: tuple[str, ...] = ()  # and of the transfer config


SPEECH = ROOT.parent / "shared" / "data"
#: EmoDB speakers that select the source model (early stopping); the other eight train it
EMODB_SOURCE_VALID = ("10", "15")


def speaker_shares(labels, shares: tuple[tuple[str, float], ...], last: str) -> dict[str, str]:
    """Each speaker's split: the speakers in a fixed shuffle (seed 0) fill ``shares`` in order, each
    split taking speakers while the clips so far are below its cumulative fraction; the rest ``last``."""
    counts = labels["speaker"].value_counts()
    part, done = {}, 0
    for s in np.random.default_rng(0).permutation(sorted(labels["speaker"].unique())):
        part[s] = next((name for name, upto in shares if done < upto * len(labels)), last)
        done += int(counts[s])
    return part


def extract_split(labels, part: dict[str, str], config: str, media: Path, csv: Path, pkl: Path) -> None:
    """``labels`` with a ``split`` column from ``part``, written to ``csv``, extracted into ``pkl``."""
    import subprocess

    labels["split"] = labels["speaker"].map(part)
    labels.to_csv(csv, index=False)
    subprocess.run([sys.executable, "-m", "affectlab", "extract", str(ROOT / config), "--media", str(media),
                    "--labels", str(csv), "--out", str(pkl), "-q"], check=True)


#: the target corpus's splits by clip share: test until >= 40% of the clips, valid until >= 55%
TARGET_SHARES = (("test", 0.40), ("valid", 0.55))


def speech_data(folder: Path, corpora: Path = SPEECH) -> tuple[Path, Path]:
    """The cross-corpus pair, extracted once into ``folder``: EmoDB (source: source_train / source_valid
    speakers) and URDU (target: train / valid / test speakers), the same 6473 voice functionals
    (configs/extract/emodb.yaml, configs/extract/urdu-circumplex.yaml: the feature cache makes a
    re-extraction cheap). URDU's speakers are spread over the target splits by a fixed shuffle
    (seed 0) until test holds >= 40% of the clips and valid >= 15%."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, config in (("emodb", "configs/extract/emodb.yaml"), ("urdu", "configs/extract/urdu-circumplex.yaml")):
        pkl = folder / f"{name}-split.pkl"
        out[name] = pkl
        if pkl.is_file():
            continue
        labels = pd.read_csv(corpora / name / "labels.csv", dtype=str)
        if name == "emodb":
            part = {s: "source_valid" if s in EMODB_SOURCE_VALID else "source_train" for s in labels["speaker"].unique()}
        else:
            part = speaker_shares(labels, TARGET_SHARES, "train")
        extract_split(labels, part, config, corpora / name, folder / f"{name}-labels-split.csv", pkl)
    return out["emodb"], out["urdu"]


def speech_reverse_data(folder: Path, corpora: Path = SPEECH) -> tuple[Path, Path]:
    """The other direction's pair, extracted once into ``folder`` (feature cache hits after
    :func:`speech_data`): URDU as the source (``urdu-source.pkl``: its 29 speakers by the same fixed
    shuffle, seed 0, ``source_valid`` until it holds >= 20% of the clips, the rest ``source_train``)
    and EmoDB as the target (``emodb-target.pkl``: its 10 speakers by a fixed shuffle, seed 0, until
    ``test`` holds >= 40% of the clips and ``valid`` >= 15%, the rest ``train``)."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, role, config in (("urdu", "source", "configs/extract/urdu-circumplex.yaml"),
                               ("emodb", "target", "configs/extract/emodb.yaml")):
        pkl = folder / f"{name}-{role}.pkl"
        out[name] = pkl
        if pkl.is_file():
            continue
        labels = pd.read_csv(corpora / name / "labels.csv", dtype=str)
        part = (speaker_shares(labels, (("source_valid", 0.20),), "source_train") if role == "source"
                else speaker_shares(labels, TARGET_SHARES, "train"))
        extract_split(labels, part, config, corpora / name, folder / f"{name}-labels-{role}.csv", pkl)
    return out["urdu"], out["emodb"]


#: --only speech-classes: the label sets of the classification transfer, as --set of both configs
#: (configs/speech/transfer-emotion-source.yaml's header); the four classes are the configs' own
SPEECH_LABELS = {
    "emotion": ("4 classes angry/happy/neutral/sad", ()),
    "arousal": ("binary arousal low/high", ("data.targets=[{name: arousal, column: emotion, kind: category, "
                                            "classes: [low, high], map: arousal_binary, unmapped: drop}]",)),
    "valence": ("binary valence negative/positive", ("data.targets=[{name: valence, column: emotion, kind: category, "
                                                     "classes: [negative, positive], map: valence_binary, unmapped: drop}]",)),
}


def scenarios(emodb: Path, speech: Path = Path("/tmp/bench-transfer-speech")) -> list[Scenario]:
    """Every scenario; the cross-corpus pairs live in ``speech`` (:func:`speech_data` and
    :func:`speech_reverse_data` make them)."""
    classes = []
    for direction, src, tgt, title in (("emodb-urdu", speech / "emodb-split.pkl", speech / "urdu-split.pkl",
                                        "EmoDB (source, 8 + 2 speakers) -> URDU (target speakers)"),
                                       ("urdu-emodb", speech / "urdu-source.pkl", speech / "emodb-target.pkl",
                                        "URDU (source speakers) -> EmoDB (target speakers)")):
        for label, (what, sets) in SPEECH_LABELS.items():
            classes.append(Scenario(
                f"speech-{label}-{direction}", ROOT / "configs/speech/transfer-emotion-source.yaml", src,
                ROOT / "configs/speech/transfer-emotion.yaml", tgt, (0, 20, 50),
                (("uar", "UAR"), ("accuracy", "Acc"), ("macro_f1", "Macro F1")),
                f"Cross-corpus {what}, {title}; the same 6473 voice functionals; TEST = the target test speakers",
                source_sets=sets, transfer_sets=sets))
    return _scenarios(emodb) + [
        Scenario("speech", ROOT / "configs/speech/transfer-arousal-source.yaml", speech / "emodb-split.pkl",
                 ROOT / "configs/speech/transfer-arousal.yaml", speech / "urdu-split.pkl", (0, 20, 50),
                 (("ccc", "CCC"), ("pearson", "Corr"), ("mae", "MAE")),
                 "Cross-corpus arousal, EmoDB (source, 8 + 2 speakers) -> URDU (target speakers); the same "
                 "6473 voice functionals; TEST = the URDU test speakers")] + classes


def _scenarios(emodb: Path) -> list[Scenario]:
    return [
        Scenario("mosi", ROOT / "configs/mosi/transfer-source.yaml", MOSI, ROOT / "configs/mosi/transfer-text-encoder.yaml", MOSI,
                 (0, 50, 200), (("mae", "MAE"), ("pearson", "Corr"), ("acc2_nonneg", "Acc2≥0"), ("acc2_nozero", "Acc2≠0")),
                 "MOSI, honest features: MiniLM max-pooled (huggingface) -> sentence-transformers MiniLM (mean, "
                 "normalised); audio unchanged, no vision; TEST 177 utterances, 10 videos"),
        # the harder pair: another layer (3rd block, mean-pooled) on the source side
        Scenario("mosi-layer3", ROOT / "configs/mosi/transfer-source.yaml", MOSI, ROOT / "configs/mosi/transfer-text-encoder.yaml",
                 MOSI, (0, 50, 200), (("mae", "MAE"), ("pearson", "Corr"), ("acc2_nonneg", "Acc2≥0"), ("acc2_nozero", "Acc2≠0")),
                 "MOSI, honest features: MiniLM layer 3 mean-pooled (huggingface) -> sentence-transformers MiniLM; "
                 "audio unchanged, no vision; TEST 177 utterances, 10 videos",
                 source_sets=("features.text.layer=3", "features.text.pooling=mean"),
                 transfer_sets=("transfer.adapters.text.source_extractor=huggingface:all-MiniLM-L6-v2:layer3-mean",)),
        Scenario("emodb", ROOT / "configs/emodb/transfer-source-egemaps.yaml", emodb / "egemaps.pkl",
                 ROOT / "configs/emodb/transfer-compare.yaml", emodb / "compare.pkl",
                 (0, 20, 50), (("ccc", "CCC"), ("pearson", "Corr"), ("mae", "MAE")),
                 "EmoDB arousal, eGeMAPS (88) on source speakers -> ComParE 2016 (6373) on other speakers; "
                 "TEST = the target test speakers"),
    ]


#: --ablate: MOSI stage lists (the shipped one: docs/transfer.md)
ABLATIONS = {
    "std only (no pseudo)": "[{kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo nn on the adapted text": "[{kind: pseudo, scheme: nn, similarity: adapted, neighbours: 5, epochs: 30}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "coral only": "[{kind: coral}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "mmd": "[{kind: mmd, epochs: 20}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo random": "[{kind: pseudo, scheme: random, epochs: 30}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo kmeans": "[{kind: pseudo, scheme: kmeans, clusters: 32, epochs: 30}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo nn, same video allowed": "[{kind: pseudo, scheme: nn, neighbours: 5, exclude: id, epochs: 30}, {kind: standardize}, {kind: supervised, first: model, lr_scale: 0.1}]",
    "pseudo nn, adapters first": "[{kind: pseudo, scheme: nn, neighbours: 5, epochs: 30}, {kind: standardize}, {kind: supervised, first: adapters, lr_scale: 0.1}]",
}


def ablate(sc: Scenario, seeds: list[int], work: Path) -> None:
    """The alignment variants of :data:`ABLATIONS` on test (no comparison models), mean ± sd over seeds."""
    from affectlab.experiment import load_config
    from affectlab.pipeline import train_run
    from affectlab.transfer.config import load_transfer_config
    from affectlab.transfer.run import transfer_run

    out: dict[tuple[int, str], list[dict]] = {}
    for seed in seeds:
        src = train_run(load_config(sc.source_config, ["baselines=[]"], seed=seed), sc.source_data, work / f"ab-src-{seed}")
        for k in (0, 50):
            for label, stages in ABLATIONS.items():
                cfg, tc = load_transfer_config(sc.transfer_config, [f"transfer.k={k}", "transfer.compare=false",
                                                                    f"transfer.stages={stages}"], seed=seed)
                s = json.loads((transfer_run(cfg, tc, src, sc.target_data, work / f"ab-{seed}-{k}", overwrite=True)
                                / "summary.json").read_text())
                out.setdefault((k, label), []).append({**{m: s["metrics"]["test"][m] for m, _ in sc.keys},
                                                       "mmd": s["mmd"]["final"]["text"]})
    print(f"\nAblation (MOSI, seeds {','.join(map(str, seeds))}, TEST, no comparison models):")
    print("| K | stages | " + " | ".join(lbl for _, lbl in sc.keys) + " | MMD² after |")
    print("|---|---|" + "---|" * (len(sc.keys) + 1))
    for (k, label), vals in sorted(out.items()):
        print(f"| {k} | {label} | " + " | ".join(fmt([v[m] for v in vals]) for m, _ in sc.keys) + f" | {fmt([v['mmd'] for v in vals])} |")


def fmt(vals: list[float]) -> str:
    v = np.asarray(vals, dtype=float)
    return f"{v.mean():.3f}±{v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def run_scenario(sc: Scenario, seeds: list[int], bootstrap: int, work: Path, save=None) -> dict:
    """Every seed and K of one scenario; ``save(partial)`` after each seed (a long run keeps what it has)."""
    from affectlab.experiment import load_config
    from affectlab.pipeline import train_run
    from affectlab.transfer.config import load_transfer_config
    from affectlab.transfer.run import significant, transfer_run

    results: dict[str, list[dict]] = {}
    verdicts: dict[int, list[dict]] = {}
    t_all = time.perf_counter()
    for seed in seeds:
        t = time.perf_counter()
        src = train_run(load_config(sc.source_config, ["baselines=[]", *sc.source_sets], seed=seed), sc.source_data,
                        work / f"{sc.name}-src-{seed}")
        print(f"{sc.name} seed {seed}: source trained in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        for k in sc.ks:
            t = time.perf_counter()
            # oracle and reference do not depend on K: trained once per seed
            rows = (["scratch_k"] if k else []) + ["standardization_map"] + (["oracle", "source_reference"] if k == sc.ks[0] else [])
            cfg, tc = load_transfer_config(sc.transfer_config, [f"transfer.k={k}", f"transfer.bootstrap={bootstrap}",
                                                                f"transfer.compare_rows={rows}", *sc.transfer_sets], seed=seed)
            out = transfer_run(cfg, tc, src, sc.target_data, work / f"{sc.name}-tr-{seed}-{k}")
            rep = json.loads((out / "summary.json").read_text())["transfer_comparison"]
            head = sc.keys[0][0]
            assert rep["headline"] == head, (rep["headline"], head)
            for name, row in rep["rows"].items():
                key = f"{k}/{name}" if name not in ("oracle", "source_reference") else f"all/{name}"
                results.setdefault(key, []).append({**{m: row[m]["value"] for m, _ in sc.keys},
                                                    "lo": row[head]["ci_low"], "hi": row[head]["ci_high"]})
            outcome = {}
            for other, p in rep["paired"].items():
                d = p[head]
                sig = significant(d)  # the report's own rule
                adapted_better = (d["diff"] < 0) if head == "mae" else (d["diff"] > 0)
                outcome[other] = "help" if sig and adapted_better else "lose" if sig else "ns"
            verdicts.setdefault(k, []).append(outcome)
            print(f"{sc.name} seed {seed} K={k}: {time.perf_counter() - t:.1f} s; adapted {head} "
                  f"{rep['rows']['adapted'][head]['value']:.3f}", file=sys.stderr, flush=True)
        if save is not None:
            save({"results": results, "verdicts": verdicts, "seconds": time.perf_counter() - t_all, "seeds": seeds[:seeds.index(seed) + 1]})
    return {"results": results, "verdicts": verdicts, "seconds": time.perf_counter() - t_all, "seeds": seeds}


def print_tables(sc: Scenario, res: dict, seeds: list[int]) -> None:
    head, head_title = sc.keys[0]
    print(f"\n{sc.title}; seeds {','.join(map(str, res.get('seeds', seeds)))}; {res['seconds']:.0f} s\n")
    print(f"| K | model | {head_title} [mean 95% CI] | " + " | ".join(lbl for _, lbl in sc.keys) + " |")
    print("|---|---|---|" + "---|" * len(sc.keys))
    order = [f"{k}/{n}" for k in sc.ks for n in ("adapted", "standardization_map", "scratch_k")] + ["all/oracle", "all/source_reference"]
    for key in order:
        vals = res["results"].get(key)
        if not vals:
            continue
        k, name = key.split("/")
        ci = f"{np.mean([v[head] for v in vals]):.3f} [{np.mean([v['lo'] for v in vals]):.3f}, {np.mean([v['hi'] for v in vals]):.3f}]"
        print(f"| {k} | {LABELS[name]} | {ci} | " + " | ".join(fmt([v[m] for v in vals]) for m, _ in sc.keys) + " |")
    print(f"\nSeeds where the paired bootstrap ({head_title}, 95%) says the adapters help / lose (rest: interval includes 0):")
    for k in sc.ks:
        vs = res["verdicts"].get(k, [])
        parts = []
        for other, what in (("standardization_map", "vs standardisation-only"), ("scratch_k", "vs from scratch on K")):
            outs = [v[other] for v in vs if other in v]
            if outs:
                parts.append(f"{what}: help {outs.count('help')}/{len(outs)}, lose {outs.count('lose')}/{len(outs)}")
        print(f"- K={k}: " + "; ".join(parts))


def merged(files: list[dict]) -> dict:
    """Several --json files' scenarios as one, each scenario's seeds pooled (e.g. one process a seed).

    >>> a = {"s": {"results": {"0/adapted": [{"uar": 0.5}]}, "verdicts": {"0": [{}]}, "seconds": 2.0, "seeds": [1]}}
    >>> b = {"s": {"results": {"0/adapted": [{"uar": 0.7}]}, "verdicts": {"0": [{}]}, "seconds": 3.0, "seeds": [2]}}
    >>> m = merged([a, b])["s"]
    >>> m["results"]["0/adapted"], m["seeds"], m["seconds"]
    ([{'uar': 0.5}, {'uar': 0.7}], [1, 2], 5.0)
    """
    out: dict = {}
    for raw in files:
        for name, res in raw.items():
            have = out.setdefault(name, {"results": {}, "verdicts": {}, "seconds": 0.0, "seeds": []})
            for key, vals in res["results"].items():
                have["results"].setdefault(key, []).extend(vals)
            for k, vals in res["verdicts"].items():
                have["verdicts"].setdefault(k, []).extend(vals)
            have["seconds"] += res["seconds"]
            have["seeds"] += res["seeds"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--bootstrap", type=int, default=500)
    ap.add_argument("--only", default=None,
                    help="mosi, mosi-layer3, emodb, speech, speech-classes (every classification scenario) or one "
                         "scenario's name (speech-emotion-emodb-urdu, speech-arousal-urdu-emodb, ...)")
    ap.add_argument("--speech", type=Path, default=Path("/tmp/bench-transfer-speech"),
                    help="folder for the extracted EmoDB/URDU pickles of --only speech (made when absent)")
    ap.add_argument("--emodb", type=Path, default=Path("/tmp/me/emodb"),
                    help="folder with egemaps.pkl and compare.pkl (docs/transfer.md: how to extract them)")
    ap.add_argument("--corpora", type=Path, default=SPEECH,
                    help="folder holding emodb/ and urdu/ (labels.csv and the audio) for the speech pickles")
    ap.add_argument("--ablate", action="store_true", help="MOSI alignment variants (seeds 1-2 of --seeds)")
    ap.add_argument("--ks", default=None, help="K values (comma-separated) instead of the scenario's")
    ap.add_argument("--json", type=Path, default=None, help="write the raw per-seed numbers here (after every seed)")
    ap.add_argument("--tables-from", type=Path, nargs="+", default=None,
                    help="only print the tables of --json files (a partial run too; several: their seeds pooled)")
    args = ap.parse_args()
    names = {sc.name for sc in scenarios(args.emodb, args.speech)} | {"speech-classes"}
    if args.only and args.only not in names:
        ap.error(f"--only {args.only}: no such scenario (choose from {', '.join(sorted(names))})")
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    raw: dict = {}
    if args.tables_from:
        saved = merged([json.loads(p.read_text()) for p in args.tables_from])
        for sc in scenarios(args.emodb, args.speech):
            if sc.name in saved:
                res = saved[sc.name]
                res["verdicts"] = {int(k): v for k, v in res["verdicts"].items()}
                sc.ks = tuple(k for k in sc.ks if k in res["verdicts"])
                print_tables(sc, res, res["seeds"])
        return 0

    def save(name: str, partial: dict) -> None:
        if args.json:
            args.json.write_text(json.dumps({**raw, name: partial}, indent=1, default=str))

    for sc in scenarios(args.emodb, args.speech):
        if args.only and sc.name != args.only and not (args.only == "speech-classes" and sc.name.startswith("speech-")):
            continue
        if sc.name.startswith("speech"):
            speech_data(args.speech, args.corpora)  # extracted once (cache hits when the features were extracted before)
        if sc.name.startswith("speech-"):
            speech_reverse_data(args.speech, args.corpora)
        if args.ks:
            sc.ks = tuple(int(k) for k in args.ks.split(","))
        missing = [p for p in (sc.source_data, sc.target_data) if not p.is_file()]
        if missing:
            print(f"{sc.name}: skipped, {', '.join(map(str, missing))} not found", file=sys.stderr)
            continue
        raw[sc.name] = run_scenario(sc, seeds, args.bootstrap, work, save=lambda partial, n=sc.name: save(n, partial))
        print_tables(sc, raw[sc.name], seeds)
        sys.stdout.flush()
        if args.ablate and sc.name == "mosi":
            ablate(sc, seeds[:2], work)
        if args.json:
            args.json.write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
