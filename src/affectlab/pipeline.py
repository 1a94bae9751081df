"""The train and predict flows behind ``affectlab train`` and ``affectlab predict``.

``train_run``: config → :func:`~affectlab.experiment.resolve` (every check, once) → read the data
and check it against the experiment (targets, protocol folds, model size) → features (cached) →
:func:`~affectlab.runner.run_protocol` (hold-out or cross-validation, one runner) →
:meth:`~affectlab.runs.RunRecorder.record` (the run directory, written at the end).
``predict_run``: run directory + new data → prediction CSV (class names for category targets).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeAlias, Union

import numpy as np
import pandas as pd

from .config import FeaturesConfig, RunConfig
from .core.errors import AffectlabError
from .core.io import write_csv
from .core.notes import Notes
from .core.paths import default_cache_dir
from .corpus import Corpus, read_corpus
from .corpus.base import TargetSpec
from .corpus.nonfinite import nonfinite_counts, replaced_note
from .evaluation.diagnostics import note_test_only_columns
from .experiment import Experiment, check_losses_and_monitor, resolve, with_text_encoder
from .models import MODELS, estimator_spec
from .models.base import Estimator
from .protocols import CrossValidation
from .runner import TEXT_FEATURES, Prepared, attach_features, named_columns, run_protocol
from .runs.rundir import RunDir, RunRecorder
from .runs.summary import DataInfo
from .tasks import get_task

__all__ = ["Notes", "train_run", "predict_run", "prepare", "estimator_for", "check_targets_vary", "baseline_names",
           "choose_baselines"]


def check_targets_vary(corpus: Corpus) -> None:
    """Refuse a regression target with one value in every labelled sample: there is nothing to
    learn, and every score (CCC, correlations) would be 0 or undefined while the run looks fine.

    >>> import pandas as pd
    >>> c = Corpus(pd.DataFrame({"id": ["a", "b"], "y": [0.5, 0.5]}), targets=(TargetSpec("y"),), name="d.csv")
    >>> check_targets_vary(c)
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: d.csv: target 'y' is 0.5 in every labelled sample (2): nothing to learn or to score
    """
    y = corpus.target_matrix()
    for j, t in enumerate(corpus.targets):
        values = y[:, j][np.isfinite(y[:, j])]
        if not t.is_category and len(values) > 1 and values.min() == values.max():
            raise AffectlabError(f"{corpus.name or 'data'}: target {t.name!r} is {values[0]:g} in every labelled sample "
                                 f"({len(values)}): nothing to learn or to score")


def estimator_for(cfg: RunConfig, targets: tuple[TargetSpec, ...], name: str | None = None,
                  params: dict | None = None) -> Estimator:
    """Build the estimator a run's config names (or a named model with ``params``), as a checkpoint
    is loaded: the flows that start from a run directory (predict, transfer) use it."""
    # checked once into the model's Params; build() checks the target kinds and constructs
    estimator = estimator_spec(name or cfg.model.name, cfg.model.params() if params is None else params).build(targets)
    if name in (None, cfg.model.name):  # the run's own model (not a baseline): its encoder, when fine-tuned
        return with_text_encoder(estimator, cfg.features.text, cfg.model.name)
    return estimator


def baseline_names(exp: Experiment, targets: tuple[TargetSpec, ...], skipped: dict[str, str] | None = None) -> list[str]:
    """The config's baselines, or the task's defaults that can predict every target's kind (a
    default left out for that is added to ``skipped`` with the reason)."""
    names = list(exp.baselines) if exp.baselines is not None else list(exp.task.baselines)
    out = []
    for name in names:
        if name == exp.model.name:
            continue
        kinds = getattr(MODELS.get(name), "target_kinds", frozenset({"regression"}))
        unfit = [t.name for t in targets if t.kind not in kinds]
        if unfit and exp.baselines is None:  # a default baseline for another kind of target (e.g. ridge for a category)
            if skipped is not None:
                skipped[name] = f"predicts {' and '.join(sorted(kinds))} targets only"
            continue
        if unfit:
            raise AffectlabError(f"baseline {name} cannot predict {', '.join(unfit)} (it handles "
                                 f"{' and '.join(sorted(kinds))} targets)")
        out.append(name)
    return out


def has_text(corpus: Corpus) -> bool:
    """True when the data has a text column with at least one non-blank text (an audio-only MMSA
    pickle has a ``text`` column of empty strings: no text for a baseline to read).

    >>> has_text(Corpus(pd.DataFrame({"id": ["a", "b"], "text": ["", " "]})))
    False
    """
    return corpus.has_text and bool(corpus.frame["text"].fillna("").astype(str).str.strip().ne("").any())


def lacking_inputs(b: Estimator, have: set[str], text: bool) -> list[str]:
    """What baseline ``b`` reads that the data lacks (empty: it can run); ``have``: the feature
    keys it can get, ``text``: whether the data has a non-blank text."""
    lacking = [("text" if f in TEXT_FEATURES else f"{f!r} features") for f in b.needs_features if f not in have]
    if b.needs_raw_text and not text:
        lacking.append("raw text")
    return list(dict.fromkeys(lacking))


def choose_baselines(exp: Experiment, corpus: Corpus, n_fit: int, notes: Notes) -> dict[str, Estimator]:
    """The baselines this run fits: the config's (each must work), or the task's defaults that fit
    the data: those for another kind of target, or reading a modality the data lacks (text on an
    audio-only pickle: no encoder is loaded), are left out, said in one note with the reasons."""
    targets = corpus.targets
    skipped: dict[str, str] = {}
    names = baseline_names(exp, targets, skipped)
    text = has_text(corpus)
    have = available_features(corpus, exp.features) if text else set(corpus.features)  # blank text: nothing to encode
    baselines: dict[str, Estimator] = {}
    for name in names:
        b = exp.baseline_spec(name).build(targets)
        lacking = lacking_inputs(b, have, text)
        if lacking and exp.baselines is None:
            skipped[name] = f"the data has no {' or '.join(lacking)}"
            continue  # a default baseline for features this data does not have
        try:
            b.check_size(n_fit)  # like the model's: before encoding
        except AffectlabError as err:
            if exp.baselines is not None:
                raise AffectlabError(f"baseline {err}; leave it out of baselines:") from None
            notes.add(f"baseline {name} left out: {err}")
            continue
        baselines[name] = b
    if skipped:
        notes.add("default baselines left out: " + "; ".join(f"{n} ({why})" for n, why in skipped.items()))
    return baselines


def available_features(corpus: Corpus, features: FeaturesConfig) -> set[str]:
    """Feature keys a model can have: the corpus's arrays, plus text embeddings when it has text."""
    have = set(corpus.features)
    if corpus.has_text and features.text.kind != "none":
        have |= TEXT_FEATURES
    return have


#: one ``--data`` (a file or a table), or several data sources in order (cross-corpus)
Data: TypeAlias = Union[str, Path, pd.DataFrame, Sequence[Union[str, Path, pd.DataFrame]]]


def read_data(exp: Experiment, data: Data, notes: Notes) -> Corpus:
    """The run's corpus: one source read as always, or (several sources, label maps) every source
    read and mapped (:mod:`affectlab.corpus.sources`), the samples left out said, the sources pooled."""
    from .corpus.sources import dropped_lines, pool, read_source, target_maps

    paths = list(data) if isinstance(data, (list, tuple)) else [data]
    if not paths:
        raise AffectlabError("no data given (--data)")
    if len(paths) == 1 and not exp.config.data.sources and not target_maps(exp.data):
        return read_corpus(paths[0], exp.data, require_labels=True)
    sources = exp.sources(paths)  # every check on the sources before the first is read
    corpora = [read_source(s) for s in sources]
    standardize = exp.model.config_params().get("standardize")
    speaker_norm = standardize == "group" or (isinstance(standardize, list) and "group" in standardize)
    for s, c in zip(sources, corpora):
        for line in dropped_lines(c, c.name or s.name):
            notes.add(line)
        if speaker_norm and len(c) > 2 and int(c.frame["group"].nunique()) == len(c):
            raise AffectlabError(f"{c.name or s.name}: every sample is its own group (no speaker ids), but "
                                 "model.standardize: group normalises per speaker; give the speaker column "
                                 "(data.columns.group) or use standardize: corpus")
    if len(corpora) == 1:
        return corpora[0]
    return pool(corpora, [s.name for s in sources])


def data_info(data: Data) -> DataInfo:
    """summary.json's ``data``: the file (the first source's, with every source under ``sources``)."""
    if not isinstance(data, (list, tuple)):
        return DataInfo.of(data)
    infos = [DataInfo.of(d) for d in data]
    if len(infos) == 1:
        return infos[0]
    return DataInfo(**infos[0].model_dump(), sources=[i.model_dump() for i in infos])


def prepare(exp: Experiment, data: Data, notes: Notes, *, scores_only: bool = False) -> Prepared:
    """Read the data and check it against the experiment; then compute (or load cached) features.
    Every check runs before encoding. ``scores_only``: no final model on all data
    (:attr:`~affectlab.runner.Prepared.scores_only`)."""
    task, declared = exp.task, exp.declared_targets
    if declared:  # the named baselines' target kinds (and constructor checks) on the declared targets
        baseline_names(exp, declared)
    corpus = read_data(exp, data, notes).with_inferred_classes()
    note_test_only_columns(corpus.frame, corpus.name or "data", notes.add)  # a test file's columns (is_seen_user) beside labels: said
    targets = corpus.targets
    if not targets:
        raise AffectlabError(f"{corpus.name or 'data'}: the config declares no targets")
    if not declared:  # targets only the data names: losses and monitor checked now, still before encoding
        check_losses_and_monitor(exp.training, task, targets)
    for t in targets:
        if t.is_category and len(t.classes) < 2:
            raise AffectlabError(f"{corpus.name or 'data'}: category target {t.name!r} has {len(t.classes)} class(es); need at least 2")
    check_targets_vary(corpus)
    single = int((corpus.group_sizes() < 2).sum())
    if single and task.single_sample_note:
        notes.add(f"{single} {task.single_sample_note}")
    # the protocol is planned (and checked) before encoding so that a split that cannot work fails fast
    rows, _ = exp.protocol.set_aside(corpus)  # cross-validation: the folds never hold a test row
    folds = exp.protocol.folds(rows, notes)
    if not scores_only and (isinstance(exp.protocol, CrossValidation) or (exp.training.refit_full and exp.protocol.kind != "given")):
        n_fit = len(rows)  # the final model is refitted on every row the folds use
    else:  # the largest fit is a fold's
        n_fit = max(int(f.train.sum()) for f in folds)

    estimator = exp.build_model(targets)
    estimator.check_size(n_fit)  # a training set too large for the model is refused before encoding
    have = available_features(corpus, exp.features)
    estimator.check_inputs(corpus, also=have | TEXT_FEATURES)  # a feature the data lacks: before anything is encoded
    baselines = choose_baselines(exp, corpus, n_fit, notes)
    needed = set(estimator.needs_features)
    for b in baselines.values():
        needed |= set(b.needs_features)
    compute = exp.config.compute
    if needed & {"text", "text_encoder"} and compute.engine != "local" and corpus.has_text:
        from .distributed import engine_for, prefill_text_cache  # texts encoded on the workers, into the cache

        prefill_text_cache(corpus.frame["text"].fillna("").astype(str).tolist(), exp.features.text,
                           exp.features.cache_dir or default_cache_dir(), engine_for(compute))
    corpus, stats = attach_features(corpus, exp.features, needed)
    return Prepared(exp, corpus, estimator, baselines, stats, folds, data_info(data), scores_only=scores_only)


def train_run(cfg: "RunConfig | Experiment", data: Data, out: str | Path, *, resume: bool = False,
              overwrite: bool = False, on_epoch: Callable[[int, dict], None] | None = None,
              notes: Notes | None = None, scores_only: bool = False) -> Path | None:
    """Train ``cfg`` on ``data`` and write a complete run directory at ``out``.

    ``scores_only``: the protocol's scores without a final model refitted on all data (sweep and
    ablation trials; summary.json's ``scores_only``; a cross-validation trial cannot predict).

    An existing non-empty ``out`` is refused before any work unless ``overwrite`` (replaced once
    the new run is trained) or ``resume``. Returns the run directory (``None`` on non-zero DDP
    ranks, which write nothing).
    """
    notes = notes or Notes()
    exp = cfg if isinstance(cfg, Experiment) else resolve(cfg)
    recorder = RunRecorder.for_training(out, overwrite=overwrite, resume=resume)  # checks only: nothing is touched yet
    if resume:  # said in one line, not silently started over
        from .training.fit import check_resumable, check_resume_settings

        check_resumable(recorder.work_dir)
        check_resume_settings(recorder.work_dir, exp.training, exp.seed, exp.monitor)  # unreadable or other settings: before the data is read
    t0 = time.perf_counter()
    t = time.perf_counter()
    with recorder:  # staged: a refusal, a failure or a signal leaves --out as it was (at most lightning/)
        prep = prepare(exp, data, notes, scores_only=scores_only)
        timings = {"features": time.perf_counter() - t}
        outcome = run_protocol(prep, recorder.work_dir, notes, resume=resume, on_epoch=on_epoch, timings=timings, t0=t0)
        if outcome is None:  # a non-zero DDP rank
            return None
        return recorder.record(outcome)


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The dotted key where two plain-data configs first differ (None when equal).

    >>> _first_difference({"data": {"columns": {"id": "a"}}, "seed": 1}, {"data": {"columns": {"id": "b"}}, "seed": 1})
    'data.columns.id'
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in dict.fromkeys([*a, *b]):
            found = _first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
        return None
    return None if a == b else (where or "(top level)")


def check_config_matches_checkpoint(run: RunDir, cfg: RunConfig, ckpt: dict) -> None:
    """Refuse a run whose ``config.yaml`` says something else than the config stored in its
    checkpoint (the one the model was trained with): a truncated, emptied or edited file would
    otherwise read the data or build the model differently without a word."""
    from .experiment import validate_config
    from .runs.rundir import CHECKPOINT, CONFIG

    stored = ckpt.get("config")
    if not isinstance(stored, dict) or not (run.path / CONFIG).is_file():
        return  # older checkpoints hold no config; without config.yaml the checkpoint's is used
    key = _first_difference(cfg.to_dict(), validate_config(stored, str(run.path / CHECKPOINT), unread_keys=False).to_dict())
    if key is not None:
        raise AffectlabError(f"{run.path / CONFIG}: {key} differs from the config stored in {CHECKPOINT} (the one the "
                             f"model was trained with): the file was edited or damaged; restore it, or remove it to "
                             f"use the checkpoint's")


#: the line every estimator says a feature-dimension mismatch with (models/, training/)
_DIMS = re.compile(r"feature '(?P<m>[^']+)' has (?P<new>\d+) dimensions; the model was trained on (?P<old>\d+)")


def trained_extraction(run: RunDir, ckpt: dict[str, Any]) -> dict[str, str]:
    """What made each modality the model was trained on: the checkpoint's ``features.extraction``
    (the training corpus's ``meta["extraction"]``), else the ``config`` of the training pickle
    named in summary.json when it is still there (read only to explain a refusal); {} otherwise."""
    stored = (ckpt.get("features") or {}).get("extraction")
    if isinstance(stored, dict) and stored:
        return {str(k): str(v) for k, v in stored.items()}
    try:
        path = run.summary().data.path
    except Exception:  # an old or partial summary: nothing more to say
        return {}
    if not path or not Path(path).is_file() or Path(path).suffix not in (".pkl", ".pickle"):
        return {}
    from .corpus.mmsa import extraction, load_pickle

    try:
        raw = load_pickle(path)
    except AffectlabError:
        return {}
    made_by = extraction(raw.get("config") if isinstance(raw, dict) else None)
    return {m: f"{what}, as in {path}" for m, what in made_by.items()}


def feature_mismatch(err: AffectlabError, corpus: Corpus, run: RunDir, ckpt: dict[str, Any],
                     source: str) -> AffectlabError:
    """``err`` itself, or, when it is a feature-dimension mismatch (the estimators say only the
    numbers), the same line naming what made the features the model was trained on and this file's."""
    match = _DIMS.search(str(err))
    if match is None:
        return err
    m, new, old = match["m"], match["new"], match["old"]
    trained = trained_extraction(run, ckpt).get(m)
    made = corpus.meta.get("extraction", {}).get(m)
    return AffectlabError(f"{source}: feature {m!r} has {new} dimensions" + (f" ({made})" if made else "")
                          + f"; the model was trained on {old}" + (f" ({trained})" if trained else "")
                          + ": extract it with the same config as the training data")


def check_extract_settings(ckpt: dict[str, Any], corpus: Corpus, needed: Any, source: str) -> None:
    """Refuse data whose features were extracted with other settings than the training data's, when
    both say (the checkpoint's ``features.extract_settings``, the file's ``config.params``)."""
    from .features.media_corpus import check_same_settings, feature_settings

    trained = (ckpt.get("features") or {}).get("extract_settings")
    params = corpus.meta.get("extract_params")
    if trained and params:
        check_same_settings(trained, feature_settings(params), set(needed), source)


def predict_run(run_dir: str | Path, data: "str | Path | pd.DataFrame", out: str | Path | None, split: str | None = None,
                notes: Notes | None = None, data_options: dict | None = None) -> tuple[Path | None, pd.DataFrame]:
    """Predict ``data`` with the run's final model; write ``out`` (columns: ids + ``pred_<target>``,
    the class name for a category target) unless ``out`` is None.

    ``data_options`` are merged into the run's ``data.options`` (e.g. ``{"trust_pickle": True}``).
    The non-finite feature values replaced in the predicted rows (per modality) are said in a note
    and kept in ``frame.attrs["nonfinite"]``.
    """
    notes = notes or Notes()
    run = RunDir.open(run_dir)
    if out is not None:  # before any work: not a folder, not the data, not one of the run's own files
        from .core.io import check_output_file
        from .runs.rundir import RUN_FILES

        check_output_file(out, inputs=(data,), protected=tuple(run.path / name for name in RUN_FILES))
    cfg = run.config()
    ckpt = run.model_checkpoint()  # a scores-only trial has no model: one line, before the data is read
    check_config_matches_checkpoint(run, cfg, ckpt)
    if run.summary().scores_only:  # a hold-out trial keeps its selected model: usable, but said
        notes.add(f"{run.path}: a scores-only run (a sweep or ablation trial): its model was fitted on the training "
                  "part alone, not refitted on all data")
    if data_options:
        cfg.data.options = {**cfg.data.options, **data_options}
    trained_columns = (ckpt.get("features") or {}).get("tabular_columns")
    if trained_columns:  # the numeric feature columns by name, in training order, whatever the file's order
        from .corpus.table import align_features, trained_columns_options

        cfg.data.options = trained_columns_options(cfg.data.options, trained_columns)
    corpus = read_corpus(data, cfg.data, ignore_labels=True)  # prediction needs no labels: none refuses the file
    if corpus.meta.get("ignored_labels"):
        notes.add(f"{data}: labels {', '.join(corpus.meta['ignored_labels'])} were not used (prediction needs none)")
    if trained_columns:
        corpus = align_features(corpus, trained_columns, str(data))
    if split is not None:
        corpus = corpus.split_part(split)
    elif "split" in corpus.frame and corpus.frame["split"].nunique() > 1:
        notes.add(f"{data}: no --split given; predicting all {len(corpus)} samples of splits "
                  f"{', '.join(sorted(corpus.frame['split'].unique()))}")
    # the values replaced in the rows predicted (one split's, with --split), said and kept with the predictions
    note = replaced_note(corpus.meta, str(data), str(cfg.data.options.get("nonfinite", "zero")), split)
    if note:
        notes.add(note)
    nonfinite = nonfinite_counts(corpus.meta, split)
    targets = tuple(TargetSpec.from_dict(t) for t in ckpt["targets"])
    corpus = corpus.with_targets(targets)  # the classes the model was trained with, whatever this file holds
    estimator = estimator_for(cfg, targets, ckpt["model"], ckpt["params"])
    estimator.load_state(ckpt["state"])
    estimator.check_inputs(corpus, also=available_features(corpus, cfg.features) | TEXT_FEATURES)  # before anything is encoded
    check_extract_settings(ckpt, corpus, estimator.needs_features, str(data))
    corpus, _ = attach_features(corpus, cfg.features, set(estimator.needs_features))
    known = set(getattr(estimator, "users", []) or [])
    unit = get_task(cfg.task).unit
    if known:
        unseen = sorted(set(corpus.frame["group"]) - known)
        if unseen:
            notes.add(f"{len(unseen)} of {corpus.frame['group'].nunique()} {unit}s were not seen in training: "
                      "predicted from their samples alone")
    try:
        pred = estimator.predict(corpus)
    except AffectlabError as err:
        raise feature_mismatch(err, corpus, run, ckpt, str(data)) from None
    frame = named_columns(corpus.output_frame(), pred, targets)
    frame.attrs["nonfinite"] = nonfinite  # per modality, for the prediction summary (predict --json)
    if out is not None:
        write_csv(out, frame)
    return (None if out is None else Path(out)), frame
