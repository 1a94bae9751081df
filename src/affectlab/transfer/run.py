"""``affectlab transfer``: adapt a trained source run to another extractor's features; compare honestly.

Flow: source run (config + checkpoint; its training data from ``summary.json: data.path`` or
``transfer.source_data``) → target data read with the transfer config's ``data`` section →
checks (same task, fusion model, modalities present, undeclared dimension changes refused, K
within the labelled training rows) → adapters per declared modality → the configured stages →
comparison on the target test split (adapted vs from scratch on the same K labels vs
standardisation-only linear map vs oracle on all target training labels, bootstrap CIs over
videos) → a normal run directory that ``affectlab predict`` reads.

The run directory is recorded by :class:`~affectlab.runs.rundir.RunRecorder` (staged): ``--out``
is checked before any work (an existing non-empty folder is refused unless ``overwrite``),
outputs go to a temporary folder beside it and are moved into place at the end, so nothing is
written until everything has run.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from .. import progress as steps
from ..config import DataConfig, RunConfig
from ..corpus import Corpus, read_corpus
from ..corpus.base import TargetSpec
from ..core.errors import AffectlabError
from ..evaluation.bootstrap import bootstrap_scores, paired_bootstrap
from ..evaluation.scoring import higher_is_better
from ..tasks import get_task
from ..models.base import FitContext
from ..core.notes import Notes
from ..models import estimator_spec
from ..protocols import CrossValidation, protocol_for
from ..runner import TEXT_FEATURES, attach_features, make_scorer, peak_memory_mb, prediction_frame
from ..runs.outcome import Outcome
from ..runs.rundir import RunDir, RunRecorder, file_sha256
from ..runs.summary import DataInfo, RunSummary, Selection, TargetInfo, Timings
from ..training.fusion_estimator import FUSION_MODELS, FusionEstimator
from .adapters import AdaptedEstimator, Adapter, AdapterSpec
from .align import mapping_quality, standardization_map
from .config import TransferConfig, nothing_to_adapt, written_config
from .stages import TransferData, adapted_vectors, mmd_now, run_stage, source_vectors

#: comparison rows, in report order
ROWS = ("adapted", "scratch_k", "standardization_map", "oracle", "source_reference")
ROW_LABELS = {
    "adapted": "adapted (this run)",
    "scratch_k": "from scratch on the same K",
    "standardization_map": "standardisation-only linear map",
    "oracle": "oracle: all target training labels",
    "source_reference": "source model on source features (reference)",
}


@dataclass
class Source:
    run: Path
    cfg: RunConfig
    summary: RunSummary
    name: str
    params: dict[str, Any]
    estimator: FusionEstimator
    targets: tuple[TargetSpec, ...]


def load_source(run_dir: str | Path, cfg: RunConfig) -> Source:
    """The source run's model, refusing runs that cannot be adapted."""
    run = RunDir.open(run_dir)
    src_cfg = run.config()
    summary = run.summary()
    ckpt = run.model_checkpoint()
    if src_cfg.task != cfg.task:
        raise AffectlabError(f"{run_dir}: the source run is a {src_cfg.task} run (model {ckpt['model']}); "
                             f"this transfer config is for {cfg.task}")
    if ckpt["model"] not in FUSION_MODELS:
        raise AffectlabError(f"{run_dir}: the source model {ckpt['model']!r} cannot be adapted; transfer needs a fusion "
                             f"model ({', '.join(FUSION_MODELS)})")
    targets = tuple(TargetSpec.from_dict(t) for t in ckpt["targets"])
    have = [f"{t.name} ({t.kind})" for t in targets]
    want = [f"{t.name} ({t.kind})" for t in cfg.data.targets] or ["sentiment (regression)"]
    if have != want:  # another target, or the same name of another kind (a classifier for a regression)
        raise AffectlabError(f"{run_dir}: the source run was trained on {', '.join(have)}; this transfer config "
                             f"declares {', '.join(want)}: adapt a source run of the same targets and kinds")
    est = cast(FusionEstimator, estimator_spec(ckpt["model"], ckpt["params"]).build(targets))
    est.load_state(ckpt["state"])
    return Source(Path(run_dir), src_cfg, summary, ckpt["model"], dict(ckpt["params"]), est, targets)


def check_classes(source: Source, targets: tuple[TargetSpec, ...]) -> None:
    """Refuse category targets whose classes (after the target config's ``map:``) are not the source
    model's, in the same order: the source network's outputs are those classes' indices.

    >>> from types import SimpleNamespace
    >>> src = SimpleNamespace(run="SRC", targets=(TargetSpec("emotion", kind="category", classes=("angry", "sad")),))
    >>> check_classes(src, (TargetSpec("emotion", kind="category", classes=("angry", "happy", "sad")),))
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: SRC: the source model's classes of 'emotion' are angry, sad; the target data's (after data.targets[].map) are angry, happy, sad: map both corpora onto the same classes (map: emotion with the same classes: [...], unmapped: drop)
    """
    for have, want in zip(source.targets, targets):
        if have.is_category and tuple(have.classes) != tuple(want.classes):
            raise AffectlabError(f"{source.run}: the source model's classes of {have.name!r} are {', '.join(have.classes)}; "
                                 f"the target data's (after data.targets[].map) are {', '.join(want.classes) or '(none)'}: "
                                 "map both corpora onto the same classes (map: emotion with the same classes: [...], "
                                 "unmapped: drop)")


def check_modalities(source: Source, corpus: Corpus, t_cfg: TransferConfig,
                     pending: frozenset[str] = frozenset()) -> dict[str, AdapterSpec]:
    """Adapter specs per declared modality; one-line errors for what does not fit.

    ``pending``: modalities not computed yet (the text the encoder has still to embed): checked
    later, so that everything else is refused before any encoding."""
    mods = source.estimator.modalities
    for m in t_cfg.adapters:
        if m not in mods:
            raise AffectlabError(f"transfer.adapters.{m}: the source model does not use modality {m!r} (it uses {', '.join(mods)})")
    specs = {}
    for m in mods:
        if m in pending:
            continue
        if m not in corpus.features:
            raise AffectlabError(f"the target data lacks modality {m!r}, which the source model uses "
                                 f"(target has: {', '.join(sorted(corpus.features)) or 'none'})")
        d_t = int(np.asarray(corpus.features[m]).shape[-1])
        d_s = len(source.estimator.stats[m][0])
        a = t_cfg.adapters.get(m)
        if a is None:
            if d_t != d_s:
                raise AffectlabError(f"modality {m!r} has {d_t} dimensions in the target data but {d_s} in the source model; "
                                     f"declare an adapter under transfer.adapters.{m} to map it")
            continue
        if a.in_dim is not None and a.in_dim != d_t:
            raise AffectlabError(f"transfer.adapters.{m}.in_dim is {a.in_dim} but the target data's {m!r} has {d_t} dimensions")
        if a.out_dim is not None and a.out_dim != d_s:
            raise AffectlabError(f"transfer.adapters.{m}.out_dim is {a.out_dim} but the source model's {m!r} has {d_s} dimensions")
        same = nothing_to_adapt(m, a, d_t, d_s)
        if same:
            raise AffectlabError(same)
        specs[m] = AdapterSpec(in_dim=d_t, out_dim=d_s, kind=a.kind, depth=a.depth, width=a.width,
                               residual=a.residual, dropout=a.dropout)
    if not specs and not pending:
        raise AffectlabError("transfer.adapters declares no modality: nothing to adapt")
    return specs


def target_stats(train: Corpus, modalities) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-feature mean/sd of the target training rows' valid steps (no labels involved)."""
    from ..models.ridge_modality import modality_arrays

    out = {}
    for m in modalities:
        x, length = modality_arrays(train, m)
        valid = np.arange(x.shape[1])[None, :] < length[:, None]
        rows = x[valid] if valid.any() else x.reshape(-1, x.shape[2])
        mean, std = rows.mean(0, dtype=np.float64), rows.std(0, dtype=np.float64)
        out[m] = (mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32))
    return out


def read_mapped(path: str | Path, data: DataConfig, notes: Notes, who: str) -> Corpus:
    """One data file read with ``data``; targets with a ``map:`` (cross-corpus label maps, e.g.
    ``map: emotion`` onto angry/happy/neutral/sad) mapped as ``affectlab train`` maps them, the
    samples left out (``unmapped: drop``) said in a note. Without maps: the plain reader."""
    from ..corpus.sources import Source as DataSource, dropped_lines, read_source, target_maps

    if not target_maps(data):
        return read_corpus(path, data, require_labels=False)
    corpus = read_source(DataSource(Path(path).stem, path, data), require_labels=False)
    for line in dropped_lines(corpus, f"{who} {Path(path).name}"):
        notes.add(line)
    return corpus


def _source_data(source: Source, t_cfg: TransferConfig, notes: Notes) -> tuple[Corpus, Path]:
    recorded = source.summary.data.path
    path = Path(t_cfg.source_data) if t_cfg.source_data else (Path(recorded) if recorded else None)
    if path is None or not path.is_file():
        where = "transfer.source_data" if t_cfg.source_data else "summary.json data.path of the source run"
        raise AffectlabError(f"the source model's training data {str(path) if path else '(not recorded)'} ({where}) is not "
                             "available; alignment needs it: give --set transfer.source_data=PATH")
    sha = source.summary.data.sha256
    if sha and file_sha256(path) != sha:
        notes.add(f"source data {path} differs from the file the source run was trained on (sha256 mismatch)")
    corpus = read_mapped(path, source.cfg.data, notes, "source data")
    corpus, _ = attach_features(corpus, source.cfg.features, set(source.estimator.modalities))
    return corpus, path


def holdout_parts(cfg: RunConfig, corpus: Corpus, notes: Notes | None = None) -> tuple[Corpus, Corpus | None, Corpus | None]:
    """(train, val, test) of the target data under the transfer config's hold-out protocol
    (K labels come from train, early stopping from val, the comparison from test)."""
    protocol = protocol_for(cfg.split)
    if isinstance(protocol, CrossValidation):
        raise AffectlabError(f"split.kind {protocol.kind}: transfer draws K labels from one training part and compares on "
                             "one test part; use a hold-out protocol (given, dev, group or temporal)")
    fold, = protocol.folds(corpus, notes)
    return fold.parts(corpus)


def training_rows(cfg: RunConfig, corpus: Corpus) -> Corpus:
    """The rows a source run's model was selected on: its hold-out training part, or every row its
    cross-validation ran over (the final model was refitted on them)."""
    protocol = protocol_for(cfg.split)
    if isinstance(protocol, CrossValidation):
        return protocol.set_aside(corpus)[0]
    return protocol.folds(corpus)[0].parts(corpus)[0]


def _sample(rows: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=k, replace=False))


def _fit_fusion(source: Source, train: Corpus, val: Corpus | None, cfg: RunConfig, scorer, monitor: str) -> FusionEstimator:
    est = cast(FusionEstimator, estimator_spec(source.name, source.params).build(source.targets))
    with steps.step(f"fit {source.name}"):
        est.fit(train, val, FitContext(training=cfg.training, seed=cfg.seed, scorer=scorer, monitor=monitor,
                                       monitor_higher_is_better=higher_is_better(monitor)))
    return est


def transfer_run(cfg: RunConfig, t_cfg: TransferConfig, source_run: str | Path, data: str | Path, out: str | Path,
                 notes: Notes | None = None, progress=None, overwrite: bool = False) -> Path:
    """Adapt ``source_run`` to ``data``; write a run directory at ``out`` (see the module docstring).

    ``overwrite``: replace an existing run directory at ``out`` (refused otherwise, before any work).
    """
    notes = notes or Notes()
    recorder = RunRecorder(out, overwrite=overwrite, staged=True)
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if t_cfg.threads > 0:
        torch.set_num_threads(t_cfg.threads)
    try:
        with recorder:
            return _transfer(cfg, t_cfg, source_run, data, recorder, notes, say, t0)
    finally:
        torch.set_num_threads(previous_threads)


def _transfer(cfg, t_cfg, source_run, data, recorder: RunRecorder, notes: Notes, say, t0) -> Path:
    timings: dict[str, float] = {}
    source = load_source(source_run, cfg)
    if cfg.split.kind == "given" and cfg.split.val_split == "test":
        raise AffectlabError("split.val_split is 'test': early stopping must never see the test split")
    corpus = read_mapped(data, cfg.data, notes, "target data")
    check_classes(source, corpus.targets)
    # everything that can be refused without the text embeddings is refused before the text is encoded:
    # the split (a val_split the file lacks...), K beyond the labelled training rows, the file's own modalities
    raw_train = holdout_parts(cfg, corpus)[0]
    labelled = np.flatnonzero(~np.isnan(raw_train.target_matrix()).all(axis=1))
    if t_cfg.k > len(labelled):
        raise AffectlabError(f"transfer.k is {t_cfg.k} but the target training split has only {len(labelled)} labelled samples")
    encoded_later = frozenset(m for m in source.estimator.modalities if m in TEXT_FEATURES and m not in corpus.features)
    check_modalities(source, corpus, t_cfg, pending=encoded_later)
    corpus, _ = attach_features(corpus, cfg.features, set(source.estimator.modalities))
    specs = check_modalities(source, corpus, t_cfg)
    train, val, test = holdout_parts(cfg, corpus)
    if val is not None:
        val_lab = np.flatnonzero(~np.isnan(val.target_matrix()).all(axis=1))
        if t_cfg.val_size is not None and t_cfg.val_size < len(val_lab):
            val_lab = _sample(val_lab, t_cfg.val_size, cfg.seed + 1)
        val = val.subset(val_lab) if len(val_lab) else None
    uses_labels = t_cfg.k > 0 and any(s.kind == "supervised" for s in t_cfg.stages)
    if uses_labels and val is None:
        notes.add("no target validation split: fine-tuning runs its full epochs without early stopping")
    k_idx = _sample(labelled, t_cfg.k, cfg.seed) if t_cfg.k else np.array([], dtype=int)
    k_train = train.subset(k_idx) if t_cfg.k else None

    t = time.perf_counter()
    say("reading the source model's training data")
    src_corpus, src_path = _source_data(source, t_cfg, notes)
    src_train = training_rows(source.cfg, src_corpus)
    ys, ys_rows = {}, {}
    for m in specs:
        ys[m], ys_rows[m] = source_vectors(source.estimator.stats[m], src_train, m, source.estimator.clip)
    timings["source_data"] = time.perf_counter() - t

    train_groups = set(train.frame["group"])
    monitor = get_task(cfg.task).monitor(cfg.training.monitor)
    scorer = make_scorer(cfg.task, source.targets, train_groups)
    tstats = target_stats(train, specs)
    shared = tuple(m for m in source.estimator.modalities if m not in specs)
    tdata = TransferData(target_train=train, k_train=k_train, k_rows=k_idx, val=val, source_train=src_train, source_ys=ys,
                         source_rows=ys_rows, shared=shared, source_stats=source.estimator.stats, training=cfg.training,
                         monitor=monitor, monitor_higher=higher_is_better(monitor), scorer=scorer,
                         clip=source.estimator.clip, seed=cfg.seed)

    def build(spec_override: dict[str, AdapterSpec] | None = None) -> AdaptedEstimator:
        torch.manual_seed(cfg.seed)  # adapter initialisation must not depend on what ran before in the process
        est = AdaptedEstimator.build(source.targets, source.estimator, source.name, spec_override or specs, tstats,
                                     threads=t_cfg.threads)
        # every skip path starts at the standardisation-only map (moments only, no correspondence)
        assert est.net is not None
        for m, a in est.net.adapters.items():
            x, _ = adapted_input(est, train, m)
            w, b = standardization_map(x, ys[m].mean(0), ys[m].std(0))
            cast(Adapter, a).init_linear(w, b)
        return est

    history: list[dict] = []
    mmd: dict[str, dict[str, float]] = {}

    # --- the adapted model
    t = time.perf_counter()
    say(f"adapting {', '.join(specs)} ({', '.join(f'{s.in_dim}->{s.out_dim}' for s in specs.values())}) "
        f"with stages {', '.join(s.kind for s in t_cfg.stages)}; K={t_cfg.k}")
    est = build()
    mmd["initial"] = mmd_now(est, tdata)
    mmd["after_alignment"] = dict(mmd["initial"])
    for i, stage in enumerate(t_cfg.stages):
        run_stage(est, stage, i, tdata, history)
        if stage.kind != "supervised":
            mmd["after_alignment"] = mmd_now(est, tdata)
    mmd["final"] = mmd_now(est, tdata)
    timings["adapt"] = time.perf_counter() - t

    # --- comparison models (trained before test is touched)
    comparison: dict[str, Any] = {}
    if t_cfg.compare:
        t = time.perf_counter()
        wanted = set(t_cfg.compare_rows)
        if "standardization_map" in wanted:
            say("comparison: standardisation-only linear map")
            lin = {m: AdapterSpec(in_dim=s.in_dim, out_dim=s.out_dim, kind="linear") for m, s in specs.items()}
            std_est = build(lin)
            mmd["standardization_map"] = mmd_now(std_est, tdata)
            for i, stage in enumerate(t_cfg.stages):
                if stage.kind == "supervised":
                    run_stage(std_est, stage, i, tdata, history, model_label="standardization_map")
            comparison["standardization_map"] = std_est
        if "scratch_k" in wanted and k_train is not None and len(k_train) >= 2:
            say(f"comparison: {source.name} from scratch on the same {len(k_train)} target labels")
            comparison["scratch_k"] = _fit_fusion(source, k_train, val, cfg, scorer, monitor)
        if "oracle" in wanted:
            say(f"comparison: oracle {source.name} on all {len(labelled)} labelled target training samples")
            comparison["oracle"] = _fit_fusion(source, train.subset(labelled), val, cfg, scorer, monitor)
        timings["comparison"] = time.perf_counter() - t

    # --- diagnostics: mapping quality where source and target rows pair by id
    mapping_rows, mapping_summary = _mapping(est, comparison.get("standardization_map"), src_corpus, source,
                                             {"train": train, "val": val})

    # --- test touched once, after everything was trained and selected
    parts = {"train": train, "val": val, "test": test}
    present: dict[str, Corpus] = {n: p for n, p in parts.items() if p is not None}
    preds = {n: est.predict(p) for n, p in present.items()}
    metrics = {n: scorer(present[n], p) for n, p in preds.items() if not np.isnan(present[n].target_matrix()).all()}
    report = None
    comp_frames = []
    if test is not None and t_cfg.compare and not np.isnan(test.target_matrix()).all():
        row_preds = {"adapted": preds["test"]}
        for name in ("scratch_k", "standardization_map", "oracle"):
            if name in comparison:
                row_preds[name] = comparison[name].predict(test)
        ref = _source_reference(source, src_corpus, test) if "source_reference" in t_cfg.compare_rows else None
        if ref is not None:
            row_preds["source_reference"] = ref
        report = compare_rows(cfg.task, test, row_preds, source.targets, t_cfg, cfg.seed, k=t_cfg.k)
        report["findings"] = row_reference_findings(cfg, test, row_preds, notes, seed=cfg.seed)
        for name, p in row_preds.items():
            f = pd.DataFrame({"split": "test", "id": test.frame["id"].to_numpy(), "model": name})
            for j, tg in enumerate(source.targets):  # categories by class name, as predictions.csv writes them
                gold, pred = test.target_matrix()[:, j], p[:, j]
                f[tg.name] = tg.decode(gold) if tg.is_category else gold
                f[f"pred_{tg.name}"] = tg.decode(pred) if tg.is_category else pred
            comp_frames.append(f)
    elif test is None:
        notes.add("the target data has no labelled test split: no comparison table")

    # --- write everything at once
    frames = [prediction_frame(present[n], p, n, train_groups) for n, p in preds.items()]
    pred_frame = pd.concat(frames, ignore_index=True)
    k_ids = set(k_train.frame["id"]) if k_train is not None else set()
    pred_frame["k_shot"] = (pred_frame["split"] == "train") & pred_frame["id"].isin(k_ids)
    final_cfg = written_config(cfg, t_cfg, source.name, source.params, str(Path(source_run).resolve()))
    stages_frame = pd.DataFrame(history)
    timings["total"] = time.perf_counter() - t0
    assert est.net is not None
    summary = RunSummary(
        task=cfg.task, model="adapted", source_model=source.name, source_run=str(Path(source_run).resolve()),
        targets=[TargetInfo.of(t) for t in source.targets],
        metrics=metrics, baselines={},
        best_epoch=int(stages_frame["best_epoch"].dropna().iloc[-1]) if "best_epoch" in stages_frame and stages_frame["best_epoch"].notna().any() else 0,
        epochs_run=int((stages_frame["epoch"] > 0).sum()) if len(stages_frame) else 0,
        n_params=int(sum(p.numel() for p in est.net.parameters())),
        n_adapter_params=int(sum(p.numel() for p in est.net.adapters.parameters())),
        timings=Timings.model_validate(timings), peak_memory_mb=peak_memory_mb(),
        selection=Selection(split="val" if val is not None and uses_labels else None, monitor=monitor,
                            test_used_for_selection=False, test_evaluated_once=test is not None,
                            val_labels_used=int(len(val)) if val is not None and uses_labels else 0),
        splits={n: len(p) for n, p in parts.items() if p is not None},
        n_groups={n: int(p.frame["group"].nunique()) for n, p in parts.items() if p is not None},
        nonfinite=corpus.meta.get("nonfinite", {}),
        data=DataInfo.of(data),
        source_data={"path": str(src_path.resolve()), "n_train": len(src_train)},
        transfer={"k": t_cfg.k, "k_ids": sorted(k_ids), "adapters": {m: s.to_dict() for m, s in specs.items()},
                  "stages": [s.kind for s in t_cfg.stages], "shared_modalities": list(shared)},
        mmd=mmd, mapping=mapping_summary, transfer_comparison=report,
        refit_full=False, warnings=notes.lines + tdata.notes, argv=sys.argv[1:],
        findings=(report or {}).get("findings", []),
    )
    tables = {"stages.csv": stages_frame}
    if mapping_rows is not None:
        tables["mapping.csv"] = mapping_rows
    if comp_frames:
        tables["comparison_predictions.csv"] = pd.concat(comp_frames, ignore_index=True)
    checkpoint = {"model": "adapted", "params": {"source_model": source.name}, "targets": source.targets,
                  "features": {"text": cfg.features.text.model_dump()}, "config": final_cfg.to_dict()}
    return recorder.record(Outcome(pred_frame, None, history, est, summary, checkpoint, tables,
                                   {"transfer.md": report_markdown(report)} if report is not None else {}))


def row_reference_findings(cfg: RunConfig, test: Corpus, row_preds: dict[str, np.ndarray], notes: Notes,
                           seed: int = 0) -> list[dict]:
    """ABOVE_STATE_OF_THE_ART for every comparison row (adapted, from scratch, standardisation map, oracle,
    source reference) whose test interval lies beyond a published result of the task or the config's
    ``references:`` — the same check and references as ``affectlab train`` (:func:`~affectlab.runner.reference_findings`).
    A row beyond the state of the art on these data usually means features fitted on these labels upstream."""
    from ..experiment import task_references
    from ..runner import reference_findings

    references = task_references(cfg)
    task = get_task(cfg.task)
    found: list[dict] = []
    for name, pred in row_preds.items():
        found += reference_findings(references, task, {"test": (test, pred)}, notes,
                                    who=f"comparison row {name} ({ROW_LABELS[name]})")
    return found


def adapted_input(est: AdaptedEstimator, corpus: Corpus, m: str) -> tuple[np.ndarray, np.ndarray]:
    """Pooled standardised target inputs of ``m`` (what the adapter reads) for rows where it is present."""
    tensors = est.inputs(corpus)
    length = tensors[f"{m}_len"]
    from ..models.fusion import masked_mean, step_mask

    v = masked_mean(tensors[m], step_mask(length, tensors[m].shape[1])).double().numpy()
    ok = (length > 0).numpy()
    est.release_inputs()
    return v[ok], ok


def _source_reference(source: Source, src_corpus: Corpus, test: Corpus) -> np.ndarray | None:
    """The source model on the source extractor's features of the same test samples (when all pair by id)."""
    pos = pd.Series(np.arange(len(src_corpus)), index=src_corpus.frame["id"].to_numpy())
    if pos.index.duplicated().any():
        return None
    ids = test.frame["id"].to_numpy()
    if not np.isin(ids, pos.index).all():
        return None
    return source.estimator.predict(src_corpus.subset(pos.loc[ids].to_numpy()))


def _mapping(est: AdaptedEstimator, std_est: AdaptedEstimator | None, src_corpus: Corpus, source: Source,
             parts: dict[str, Corpus | None]) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """Per-dimension variance ratio and R^2 of the adapted vectors against the paired source vectors."""
    pos = pd.Series(np.arange(len(src_corpus)), index=src_corpus.frame["id"].to_numpy())
    if pos.index.duplicated().any():
        return None, {"paired": False}
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"paired": True}
    for split, part in parts.items():
        if part is None:
            continue
        ids = part.frame["id"].to_numpy()
        have = np.isin(ids, pos.index)
        if have.sum() < 3:
            continue
        sub = part.subset(have)
        paired_src = src_corpus.subset(pos.loc[ids[have]].to_numpy())
        for label, e in (("adapted", est), ("standardization_map", std_est)):
            if e is None:
                continue
            for m in e.adapted:
                pred, ok_t = adapted_vectors(e, sub, m, clip=True)
                e.release_inputs()
                true, ok_s = source_vectors(source.estimator.stats[m], paired_src, m, source.estimator.clip)
                both = ok_t & ok_s
                pred = pred[both[ok_t]]
                true = true[both[ok_s]]
                q = mapping_quality(pred, true)
                for d in range(len(q["r2"])):
                    rows.append({"model": label, "split": split, "modality": m, "dim": d,
                                 "var_ratio": q["var_ratio"][d], "r2": q["r2"][d]})
                summary[f"{label}/{split}/{m}"] = {
                    "n_pairs": int(both.sum()), "r2_mean": float(np.nanmean(q["r2"])), "r2_median": float(np.nanmedian(q["r2"])),
                    "dims_r2_positive": float(np.nanmean(q["r2"] > 0)), "var_ratio_median": float(np.nanmedian(q["var_ratio"])),
                }
    return (pd.DataFrame(rows) if rows else None), summary


# --------------------------------------------------------------------------- comparison report

def compare_rows(task: str, test: Corpus, row_preds: dict[str, np.ndarray], targets, t_cfg: TransferConfig,
                 seed: int, k: int) -> dict[str, Any]:
    """Scores with bootstrap CIs (videos resampled) per row, paired tests against ``adapted``, a verdict."""
    y = test.target_matrix()
    spec = get_task(task)

    def named(key: str) -> str:  # one target: the metric behind 'score' by its name (EmoDB arousal: ccc)
        return spec.score_metric(targets[0]) if key == "score" and len(targets) == 1 else key

    keys = tuple(named(key) for key in spec.compact_keys(targets))
    groups = test.frame["group"].to_numpy()
    n_boot = t_cfg.bootstrap
    rows = {}
    for name, p in row_preds.items():
        if n_boot:
            ci = bootstrap_scores(task, y, p, targets, groups, n_resamples=n_boot, seed=seed)
            rows[name] = {key: ci[key].as_dict() for key in keys if key in ci} or \
                {key: iv.as_dict() for key, iv in ci.items() if "/" not in key and "_" not in key}
        else:
            from ..evaluation.scoring import score_arrays

            s = score_arrays(task, y, p, targets, groups)
            rows[name] = {key: {"value": s[key], "ci_low": float("nan"), "ci_high": float("nan")} for key in keys if key in s}
    primary = named(spec.primary)
    headline = primary if primary in rows["adapted"] else next(iter(rows["adapted"]))
    # the paired tests: the headline, and a second look (regression: Pearson; categories: accuracy)
    second = "accuracy" if all(t.is_category for t in targets) else "pearson"
    paired = {}
    if n_boot:
        for other in row_preds:
            if other == "adapted":
                continue
            res = paired_bootstrap(task, y, row_preds["adapted"], row_preds[other], targets, groups,
                                   keys=[headline, second], n_resamples=n_boot, seed=seed)
            paired[other] = {key: r.as_dict() for key, r in res.items()}
    return {"split": "test", "n": len(test), "k": k, "headline": headline, "unit": spec.unit,
            "n_units": int(len(set(groups))), "rows": rows, "paired": paired,
            "labels": {n: ROW_LABELS[n] for n in rows}, "verdict": verdict(rows, paired, headline, k)}


#: a paired difference smaller than this is none (half the last digit printed): two models whose
#: predictions agree to float precision must not "differ significantly" because the interval is [1e-9, 2e-9]
NEGLIGIBLE = 5e-4


def significant(p: dict | None) -> bool:
    """A paired bootstrap result whose 95% interval excludes 0 and whose difference is not negligible.

    >>> significant({"diff": 1e-9, "ci_low": 5e-10, "ci_high": 2e-9}), significant({"diff": 0.02, "ci_low": 0.01, "ci_high": 0.03})
    (False, True)
    """
    return p is not None and p["ci_low"] * p["ci_high"] > 0 and abs(p["diff"]) >= NEGLIGIBLE


def verdict(rows: dict, paired: dict, key: str, k: int) -> list[str]:
    """Plain-words conclusions: does the adapted model beat the cheap alternatives, or lose to them?

    A difference counts as significant when the paired bootstrap interval excludes 0 (and it is not
    negligible, :data:`NEGLIGIBLE`). Losing to
    the model trained from scratch on the same K labels is said first, in words, even when the
    interval includes 0 (then with that caveat): it means the source model is not worth adapting.

    >>> r = {"adapted": {"mae": {"value": 0.5}}, "scratch_k": {"mae": {"value": 0.4}}}
    >>> verdict(r, {"scratch_k": {"mae": {"diff": 0.1, "ci_low": 0.05, "ci_high": 0.15, "p_value": 0.01}}}, "mae", 20)[0]
    'The adapters lose to a model trained from scratch on the same 20 labels (significantly): train on the target labels instead.'
    """
    lower = not higher_is_better(key)
    name = key.upper()
    a = rows["adapted"][key]["value"]
    lines: dict[str, tuple[str, str]] = {}  # other -> (outcome, sentence)

    def compare(other: str, what: str) -> None:
        if other not in rows:
            return
        b = rows[other][key]["value"]
        p = paired.get(other, {}).get(key)
        better = a < b if lower else a > b
        sig = significant(p)
        detail = f"{name} {a:.3f} vs {b:.3f}" + (f", difference {p['diff']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}], "
                                                   f"p={p['p_value']:.3f}" if p else "")
        if better and sig:
            lines[other] = ("help", f"Adapters help against {what}: {detail}.")
        elif sig:
            lines[other] = ("lose", f"Adapters lose to {what}, significantly: {detail}.")
        elif not better and a != b:
            lines[other] = ("behind", f"Adapters are behind {what}, not significantly: {detail} (the interval includes 0).")
        else:
            lines[other] = ("same", f"No detectable difference from {what}: {detail} (the interval includes 0).")

    compare("standardization_map", "the standardisation-only linear map")
    compare("scratch_k", f"a model trained from scratch on the same {k} labels")
    out = [sentence for _, sentence in lines.values()]
    scratch = lines.get("scratch_k", ("", ""))[0]
    if scratch == "lose":
        out.insert(0, f"The adapters lose to a model trained from scratch on the same {k} labels (significantly): "
                      "train on the target labels instead.")
    elif scratch == "behind":
        out.insert(0, f"The adapters lose to a model trained from scratch on the same {k} labels on this test set, "
                      "though not significantly: adapting the source model buys nothing here.")
    elif not any(outcome == "help" for outcome, _ in lines.values()):
        out.insert(0, "The adapters do not help here: the adapted model is not significantly better than the cheaper alternatives.")
    if "oracle" in rows:
        b = rows["oracle"][key]["value"]
        out.append(f"Gap to the oracle trained on all target training labels: {name} {a:.3f} vs {b:.3f}.")
    if k == 0 and "scratch_k" not in rows:
        out.append("K=0: no model can be trained from scratch without labels; the adapted model used no target labels.")
    return out


def units_phrase(report: dict[str, Any]) -> str:
    """'videos' / '3 speakers': what the bootstrap resamples (older reports: videos)."""
    unit = report.get("unit", "video")
    n = report.get("n_units")
    return f"{n} {unit}s" if n else f"{unit}s"


def report_markdown(report: dict[str, Any]) -> str:
    """The comparison as a markdown table plus the verdict lines."""
    keys = list(report["rows"]["adapted"])
    lines = [f"## Transfer comparison (target {report['split']}, n={report['n']}, K={report['k']}; "
             f"95% bootstrap CIs over {units_phrase(report)})", "",
             "| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, row in report["rows"].items():
        cells = [f"{row[k]['value']:.3f} [{row[k]['ci_low']:.3f}, {row[k]['ci_high']:.3f}]" for k in keys]
        lines.append(f"| {report['labels'][name]} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- {v}" for v in report["verdict"]]
    lines += [f"- {f['code']}: {f['message']}" for f in report.get("findings") or []]
    return "\n".join(lines) + "\n"
