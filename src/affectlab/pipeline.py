"""The train and predict flows behind ``affectlab train`` and ``affectlab predict``.

``train_run``: read → validate (task, target kinds, protocol) → features (cached) → either a
hold-out protocol (fit with selection on validation → baselines on the same rows → optional
refit on all training data) or cross-validation (:mod:`affectlab.cross_validation`: out-of-fold
predictions, per-fold and pooled scores, a final model refitted on all data) → run directory.
``predict_run``: run directory + new data → prediction CSV (class names for category targets).
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .config import RunConfig
from .corpus import Corpus, read_corpus
from .corpus.base import TargetSpec
from .corpus.nonfinite import nonfinite_counts, replaced_note
from .corpus.splits import dev_split, latest_per_group, unseen_groups
from .corpus.table import check_options
from .core.errors import AffectlabError
from .evaluation.diagnostics import require_finite_predictions, single_sample_fold_findings
from .evaluation.scoring import higher_is_better, score_arrays
from .tasks import Task, get_task
from .features.text import embed_texts
from . import progress
from .core.io import write_csv
from .models import MODELS
from .models.base import Estimator, FitContext
from .core.paths import default_cache_dir
from .runs.rundir import RunDir, RunRecorder
from .runs.summary import DataInfo

log = logging.getLogger(__name__)

@dataclass
class Notes:
    """One-line messages for the user (warnings and facts), printed by the CLI."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        log.info(line)


#: what files commonly call their validation and test splits (EmoBank: dev; MMSA: valid)
VALIDATION_NAMES = ("valid", "val", "validation", "dev", "development")
TEST_NAMES = ("test", "eval", "evaluation")


def given_split_name(names: set[str], wanted: str, aliases: tuple[str, ...]) -> str | None:
    """``wanted`` if the file has it, else the first common alias it has (``dev`` for ``valid``...).

    >>> given_split_name({"train", "dev", "test"}, "valid", VALIDATION_NAMES)
    'dev'
    """
    if wanted in names:
        return wanted
    return next((a for a in aliases if a in names and wanted in aliases), None)


def split_corpus(corpus: Corpus, cfg: RunConfig, notes: "Notes | None" = None) -> tuple[Corpus, Corpus | None, Corpus | None]:
    """(train, val, test) for model selection, following a hold-out ``cfg.split``.

    Refused in one line: a ``val_split`` the config names that the file does not have (neither it
    nor a common alias such as ``dev`` for ``valid``), the same split for training and validation,
    and a modality that no training sample has while other samples do (see
    :func:`check_training_modalities`). A file without a validation split under the default name
    or an alias is said in a note (names looked for, splits found): there is no selection then.
    """
    s = cfg.split
    if s.kind == "given":
        if "split" not in corpus.frame:
            raise AffectlabError(f"{corpus.name}: split.kind is 'given' but the data has no split column "
                                 "(data.columns.split, or a column named 'split')")
        names = set(corpus.frame["split"].astype(str))
        train = corpus.split_part(s.train_split)
        val_name = given_split_name(names, s.val_split, VALIDATION_NAMES)
        if val_name is None and _asked_for_val_split(s):
            raise AffectlabError(f"{corpus.name or 'data'}: split.val_split is {s.val_split!r}, but the file has no such "
                                 f"split (it has: {', '.join(sorted(names))}); name one of them")
        if val_name is not None and val_name == s.train_split:
            raise AffectlabError(f"{corpus.name or 'data'}: split.val_split {s.val_split!r} is the training split "
                                 f"{s.train_split!r}: selecting on the training data; name another split "
                                 f"(the file has: {', '.join(sorted(names))})")
        test_name = given_split_name(names, "test", TEST_NAMES)
        if val_name is None and notes is not None:
            looked = ", ".join(dict.fromkeys([s.val_split, *(VALIDATION_NAMES if s.val_split in VALIDATION_NAMES else ())]))
            notes.add(f"{corpus.name or 'data'}: no validation split (looked for {looked}; the file has: "
                      f"{', '.join(sorted(names))}): no model selection, no early stopping (networks train all "
                      "training.max_epochs epochs) and no validation scores; name one with split.val_split")
        val = corpus.split_part(val_name) if val_name else None
        test = corpus.split_part(test_name) if test_name else None
        check_training_modalities(corpus, train, f"split {s.train_split!r}")
        return train, val, test
    if s.kind == "dev":
        is_val = (dev_split(corpus, s.unseen_fraction, s.latest_fraction, s.seed) == "val").to_numpy()
    elif s.kind == "group":
        is_val = unseen_groups(corpus, s.unseen_fraction, s.seed)
    else:
        is_val = latest_per_group(corpus, s.latest_fraction)
    if is_val.all() or not is_val.any():
        raise AffectlabError(f"{corpus.name}: the {s.kind} split leaves no {'training' if is_val.all() else 'validation'} data")
    train = corpus.subset(~is_val)
    check_training_modalities(corpus, train, f"the training part of the {s.kind} split")
    return train, corpus.subset(is_val), None


def _asked_for_val_split(split) -> bool:
    """True when the config names a validation split of its own (not the default ``valid``, which
    files without a validation split simply lack)."""
    default = type(split).model_fields["val_split"].default
    return "val_split" in split.model_fields_set and split.val_split != default


def check_training_modalities(corpus: Corpus, train: Corpus, part: str) -> None:
    """Refuse a modality that every training sample lacks (length 0: NaN/inf throughout, or not
    recorded) or whose values are all non-finite there, while other samples have it: the model
    would train without it and be scored on data that has it.

    >>> import pandas as pd
    >>> c = Corpus(pd.DataFrame({"id": ["a", "b", "c"]}), features={"audio": np.zeros((3, 1, 2))},
    ...            lengths={"audio": np.array([0, 0, 4])}, name="m.pkl")
    >>> check_training_modalities(c, c.subset([0, 1]), "split 'train'")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: m.pkl: modality 'audio' is missing (all NaN/inf or length 0) in every sample of split 'train' (2 samples) but present in 1 other sample(s); fix the file or leave it out with data.options.modalities
    """
    for m, arr in train.features.items():
        if not len(train):
            continue
        if m in train.lengths and m in corpus.lengths:
            absent, present = (train.lengths[m] == 0).all(), int((corpus.lengths[m] > 0).sum())
        else:
            with np.errstate(invalid="ignore"):
                absent = not np.isfinite(np.asarray(arr, dtype=float)).any()
                present = int(np.isfinite(np.asarray(corpus.features[m], dtype=float)).reshape(len(corpus), -1).any(axis=1).sum())
        if absent and present:
            raise AffectlabError(f"{corpus.name or 'data'}: modality {m!r} is missing (all NaN/inf or length 0) in every "
                                 f"sample of {part} ({len(train)} samples) but present in {present} other sample(s); "
                                 "fix the file or leave it out with data.options.modalities")


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
    """Build the estimator a config names (or a named baseline with its defaults)."""
    cls = MODELS.get(name or cfg.model.name)
    cls.check_target_kinds(name or cfg.model.name, targets)
    try:
        estimator = cls(targets, **(cfg.model.params() if params is None else params))
    except TypeError as err:
        raise AffectlabError(f"model {name or cfg.model.name}: {err}") from None
    if cfg.features.text.finetune and name in (None, cfg.model.name):
        if not hasattr(estimator, "use_encoder"):
            raise AffectlabError(f"model {cfg.model.name} cannot fine-tune its text encoder (features.text.finetune)")
        estimator.use_encoder(cfg.features.text)
    return estimator


def attach_features(corpus: Corpus, cfg: RunConfig, needed: set[str]) -> tuple[Corpus, dict[str, Any]]:
    """Compute (or load from cache) the feature arrays that ``needed`` names."""
    stats: dict[str, Any] = {}
    encoded = None  # the raw text's embeddings, when this call computed them
    if "text" in needed and "text" not in corpus.features:
        if cfg.features.text.kind == "none" or not corpus.has_text:
            raise AffectlabError("the model needs text embeddings but the data has no text or features.text.kind is 'none'")
        encoded, stats = embed_texts(corpus.frame["text"].tolist(), cfg.features.text,
                                     cfg.features.cache_dir or default_cache_dir())
        corpus = corpus.with_features(text=encoded)
    if "text_encoder" in needed and "text_encoder" not in corpus.features:
        # the raw text re-encoded by features.text, whatever the file's own text arrays are (ridge_text_encoder)
        if cfg.features.text.kind == "none" or not corpus.has_text:
            raise AffectlabError("the model needs the raw text re-encoded (text_encoder) but the data has no raw text "
                                 "or features.text.kind is 'none'")
        if encoded is None:  # else the same texts, the same encoder: the matrix just computed
            encoded, stats = embed_texts(corpus.frame["text"].tolist(), cfg.features.text,
                                         cfg.features.cache_dir or default_cache_dir())
        corpus = corpus.with_features(text_encoder=encoded)
    return corpus, stats


def make_scorer(task: "str | Task", targets: tuple[TargetSpec, ...], train_groups: set[str]) -> Callable[[Corpus, np.ndarray], dict]:
    def scorer(corpus: Corpus, pred: np.ndarray) -> dict[str, float]:
        groups = corpus.frame["group"].to_numpy()
        seen = corpus.frame["group"].isin(train_groups).to_numpy()
        return score_arrays(task, corpus.target_matrix(), pred, targets, groups, seen)

    return scorer


def named_columns(frame: pd.DataFrame, values: np.ndarray, targets: tuple[TargetSpec, ...], prefix: str = "pred_") -> pd.DataFrame:
    """Add ``<prefix><target>`` columns: class names for category targets, numbers otherwise."""
    for j, t in enumerate(targets):
        frame[f"{prefix}{t.name}"] = t.decode(values[:, j]) if t.is_category else values[:, j]
    return frame


def prediction_frame(corpus: Corpus, pred: np.ndarray, split: str, train_groups: set[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"split": split, "id": corpus.frame["id"].to_numpy(), "group": corpus.frame["group"].to_numpy()})
    y = corpus.target_matrix()
    for j, t in enumerate(corpus.targets):
        frame[t.name] = t.decode(y[:, j]) if t.is_category else y[:, j]
    named_columns(frame, pred, corpus.targets)
    frame["seen"] = corpus.frame["group"].isin(train_groups).to_numpy()
    if "order" in corpus.frame:  # the data's time or order column: the report's trajectories use it
        frame["order"] = corpus.frame["order"].to_numpy()
    return frame


def baseline_names(cfg: RunConfig, task: Task, targets: tuple[TargetSpec, ...]) -> list[str]:
    """The config's baselines, or the task's defaults that can predict every target's kind."""
    names = cfg.baselines if cfg.baselines is not None else list(task.baselines)
    out = []
    for name in names:
        if name == cfg.model.name:
            continue
        kinds = getattr(MODELS.get(name), "target_kinds", frozenset({"regression"}))
        unfit = [t.name for t in targets if t.kind not in kinds]
        if unfit and cfg.baselines is None:
            continue  # a default baseline for another kind of target (e.g. ridge for a category)
        if unfit:
            raise AffectlabError(f"baseline {name} cannot predict {', '.join(unfit)} (it handles "
                                 f"{' and '.join(sorted(kinds))} targets)")
        out.append(name)
    return out


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reference_findings(cfg: RunConfig, task: Task, scored: dict[str, tuple[Corpus | None, np.ndarray | None]],
                       notes: Notes, who: str = "the model", intervals: dict[str, dict] | None = None) -> list[dict]:
    """ABOVE_STATE_OF_THE_ART for each scored part (``{where: (corpus, predictions)}``) against the
    task's and the config's published references; each finding is also a note. Only the metrics the
    references name are bootstrapped (groups resampled), unless ``intervals[where]`` already holds
    that part's :func:`~affectlab.evaluation.bootstrap.bootstrap_scores` (same seed: same intervals)."""
    references = cfg.task_references()
    if not references:
        return []
    from .evaluation.bootstrap import bootstrap_scores
    from .evaluation.diagnostics import check_references
    from .tasks.data import references_for_part

    found = []
    for where, (part, pred) in scored.items():
        if part is None or pred is None or not len(part):
            continue
        refs = references_for_part(references, part, notes, task.name)  # the benchmark's data only (issue 21.5)
        if not refs:
            continue
        ci = (intervals or {}).get(where)
        if ci is None:
            ci = bootstrap_scores(task, part.target_matrix(), pred, part.targets,
                                  part.frame["group"].astype(str).to_numpy(), keys=[r.metric for r in refs])
        for f in check_references(ci, refs, where, who):
            notes.add(f"{f.code}: {f.message}")
            found.append(f.as_dict())
    return found


@dataclass
class Prepared:
    """Everything validated before the first slow step: data, task, model, baselines, features."""

    cfg: RunConfig
    task: Task
    corpus: Corpus
    estimator: Estimator
    baselines: dict[str, Estimator]
    monitor: str
    feature_stats: dict[str, Any]
    folds: list | None = None  # cross-validation: the outer folds (cross_validation.Fold), planned once


#: feature keys attach_features computes from the raw text; it refuses them itself, before encoding
TEXT_KEYS = frozenset({"text", "text_encoder"})


def available_features(corpus: Corpus, cfg: RunConfig) -> set[str]:
    """Feature keys a model can have: the corpus's arrays, plus text embeddings when it has text."""
    have = set(corpus.features)
    if corpus.has_text and cfg.features.text.kind != "none":
        have |= {"text", "text_encoder"}
    return have


def declared_targets(cfg: RunConfig) -> tuple[TargetSpec, ...]:
    """The targets the config declares, or the defaults its reader declares
    (:func:`affectlab.corpus.registry.default_targets`); () when only the data can tell. Classes
    not declared are placeholders."""
    if not cfg.data.targets:
        from .corpus.registry import default_targets

        return default_targets(cfg.data.format)
    return tuple(TargetSpec(t.name, t.low, t.high, t.kind, tuple(t.classes) or ("a", "b")) for t in cfg.data.targets)


def monitor_keys(task: Task, targets: tuple[TargetSpec, ...]) -> list[str]:
    """The validation keys ``training.monitor`` may name for ``targets``: ``score``, each metric's
    mean over targets, ``<metric>_<target>``, and for tasks that report them ``seen/``/``unseen/`` ones."""
    keys = ["score", task.primary, *task.all_metric_names(targets)]
    keys += [f"{m}_{t.name}" for t in targets for m in task.metric_names(t)]
    if task.seen_subsets:
        keys += [f"{part}/{k}" for part in ("seen", "unseen") for k in list(keys)]
    return list(dict.fromkeys(keys))


def check_losses_and_monitor(cfg: RunConfig, task: Task, targets: tuple[TargetSpec, ...]) -> None:
    """One line for ``training.losses`` naming a target that is not declared (or terms of the other
    kind), and for a ``training.monitor`` that the task does not produce for these targets."""
    names = [t.name for t in targets]
    unknown = [k for k in cfg.training.losses if k not in names]
    if unknown:
        raise AffectlabError(f"training.losses: {', '.join(map(repr, unknown))} is not a declared target "
                             f"(targets: {', '.join(names)})")
    for t in targets:
        if t.name in cfg.training.losses:
            cfg.training.losses[t.name].check_kind(t.name, t.is_category)
    monitor = cfg.training.monitor
    if monitor not in monitor_keys(task, targets):
        means = ", ".join(dict.fromkeys(["score", task.primary, *task.all_metric_names(targets)]))
        seen = ", seen/... or unseen/..." if task.seen_subsets else ""
        raise AffectlabError(f"training.monitor: {monitor!r} is not a validation metric of task {task.name} "
                             f"(choose from {means}, or <metric>_<target> such as {task.all_metric_names(targets)[0]}_{targets[0].name}{seen})")


def prepare(cfg: RunConfig, data: "str | Path | pd.DataFrame", notes: Notes) -> Prepared:
    """Read and validate; then compute (or load cached) features. Every check runs before encoding."""
    task = get_task(cfg.task)
    # every parameter, reader option, loss and the monitor is checked before the data is read, the
    # networks' parameters even before Lightning is imported
    cfg.model.checked_params()
    check_options(cfg.data.format, cfg.data.options, "config")
    declared = declared_targets(cfg)
    if declared:
        check_losses_and_monitor(cfg, task, declared)
    for name in [cfg.model.name, *(cfg.baselines or [])]:
        MODELS.get(name)  # an unknown model or a module:Class that does not import fails before the data is read
    if declared:  # the model's and the named baselines' target kinds (and constructor checks) on the declared targets
        estimator_for(cfg, declared)
        baseline_names(cfg, task, declared)
    corpus = read_corpus(data, cfg.data, require_labels=True).with_inferred_classes()
    targets = corpus.targets
    if not targets:
        raise AffectlabError(f"{corpus.name or 'data'}: the config declares no targets")
    if not declared:  # targets only the data names: losses and monitor checked now, still before encoding
        check_losses_and_monitor(cfg, task, targets)
    for t in targets:
        if t.is_category and len(t.classes) < 2:
            raise AffectlabError(f"{corpus.name or 'data'}: category target {t.name!r} has {len(t.classes)} class(es); need at least 2")
    check_targets_vary(corpus)
    single = int((corpus.group_sizes() < 2).sum())
    if single and task.single_sample_note:
        notes.add(f"{single} {task.single_sample_note}")
    # the protocol is checked before encoding so that a split that cannot work fails fast
    folds = None
    if cfg.split.is_cross_validation:
        from .cross_validation import abbreviate, check_classes_in_training_folds, plan_folds, split_off_test

        dev, _ = split_off_test(corpus, cfg.split.test_split)  # folds never hold a test row
        n_fit = len(dev)  # the final model is refitted on every row the folds use
        folds = plan_folds(dev, cfg.split.kind, cfg.split.k, cfg.split.seed)
        check_classes_in_training_folds(dev, folds)
        for fold in folds:  # a modality every training row of a fold lacks: refused as for a hold-out split
            check_training_modalities(dev, dev.subset(~fold.test), f"the training part of fold {fold.index + 1} "
                                      f"(held out: {abbreviate(fold.test_groups)})")
    else:
        train_part = split_corpus(corpus, cfg, notes)[0]
        n_fit = len(corpus) if cfg.training.refit_full and cfg.split.kind != "given" else len(train_part)

    estimator = estimator_for(cfg, targets)
    estimator.check_size(n_fit)  # a training set too large for the model is refused before encoding
    have = available_features(corpus, cfg)
    estimator.check_inputs(corpus, also=have | TEXT_KEYS)  # a feature the data lacks: before anything is encoded
    baselines = {}
    for name in baseline_names(cfg, task, targets):
        b = estimator_for(cfg, targets, name, {})
        lacking = [f for f in b.needs_features if f not in have] + (["raw text"] if b.needs_raw_text and not corpus.has_text else [])
        if lacking and cfg.baselines is None:
            continue  # a default baseline for features this data does not have
        try:
            b.check_size(n_fit)  # like the model's: before encoding
        except AffectlabError as err:
            if cfg.baselines is not None:
                raise AffectlabError(f"baseline {err}; leave it out of baselines:") from None
            notes.add(f"baseline {name} left out: {err}")
            continue
        baselines[name] = b
    needed = set(estimator.needs_features)
    for b in baselines.values():
        needed |= set(b.needs_features)
    if needed & {"text", "text_encoder"} and cfg.compute.engine != "local" and corpus.has_text:
        from .distributed import engine_for, prefill_text_cache  # texts encoded on the workers, into the cache

        prefill_text_cache(corpus.frame["text"].fillna("").astype(str).tolist(), cfg.features.text,
                           cfg.features.cache_dir or default_cache_dir(), engine_for(cfg.compute))
    corpus, stats = attach_features(corpus, cfg, needed)
    return Prepared(cfg, task, corpus, estimator, baselines, task.monitor(cfg.training.monitor), stats, folds)


def train_run(cfg: RunConfig, data: "str | Path | pd.DataFrame", out: str | Path, *, resume: bool = False,
              overwrite: bool = False, on_epoch: Callable[[int, dict], None] | None = None,
              notes: Notes | None = None) -> Path | None:
    """Train ``cfg`` on ``data`` and write a complete run directory at ``out``.

    An existing non-empty ``out`` is refused before any work unless ``overwrite`` (replaced once
    the new run is trained) or ``resume``. Returns the run directory (``None`` on non-zero DDP
    ranks, which write nothing).
    """
    notes = notes or Notes()
    recorder = RunRecorder.for_training(out, overwrite=overwrite, resume=resume)  # checks only: nothing is touched yet
    if resume:  # said in one line, not silently started over
        from .training.fit import check_resumable, check_resume_settings

        check_resumable(recorder.work_dir)
        check_resume_settings(recorder.work_dir, cfg)  # unreadable or other settings: before the data is read
    t0 = time.perf_counter()
    t = time.perf_counter()
    with recorder:  # staged: a refusal, a failure or a signal leaves --out as it was (at most lightning/)
        prep = prepare(cfg, data, notes)
        timings = {"features": time.perf_counter() - t}
        if cfg.split.is_cross_validation:
            return _train_cross_validation(prep, data, recorder, notes, timings, t0, on_epoch, resume)
        return _train_holdout(prep, data, recorder, notes, timings, t0, resume, on_epoch)


def _summary_facts(prep: Prepared, data, notes: Notes) -> dict[str, Any]:
    """The summary entries every protocol writes alike: what was trained on what, and how."""
    cfg = prep.cfg
    return {"task": cfg.task, "model": cfg.model.name, "targets": [t.describe() for t in prep.corpus.targets],
            "peak_memory_mb": peak_memory_mb(), "nonfinite": prep.corpus.meta.get("nonfinite", {}),
            "features": prep.feature_stats, "data": DataInfo.of(data), "warnings": notes.lines, "argv": sys.argv[1:]}


def _checkpoint(run: RunDir, prep: Prepared, final: Estimator) -> None:
    cfg = prep.cfg
    features = {"text": cfg.features.text.model_dump()}
    if prep.corpus.meta.get("feature_columns"):  # predict reads these columns by name, in this order
        features["tabular_columns"] = list(prep.corpus.meta["feature_columns"])
    run.write_checkpoint(cfg.model.name, cfg.model.params(), prep.corpus.targets, final.state(), features, config=cfg)


def _context(prep: Prepared, scorer, out: str | Path | None, *, resume: bool = False, on_epoch=None,
             fixed_epochs: int | None = None) -> FitContext:
    return FitContext(training=prep.cfg.training, seed=prep.cfg.seed, scorer=scorer, monitor=prep.monitor,
                      monitor_higher_is_better=higher_is_better(prep.monitor), work_dir=None if out is None else str(out),
                      resume=resume, on_epoch=on_epoch, fixed_epochs=fixed_epochs, compute=prep.cfg.compute)


def _train_holdout(prep: Prepared, data, recorder: RunRecorder, notes: Notes, timings: dict[str, float], t0: float, resume: bool,
                   on_epoch) -> Path | None:
    cfg, corpus_f, targets, estimator = prep.cfg, prep.corpus, prep.corpus.targets, prep.estimator
    train, val, test = split_corpus(corpus_f, cfg)
    train_groups = set(train.frame["group"])
    scorer = make_scorer(prep.task, targets, train_groups)
    ctx = _context(prep, scorer, recorder.work_dir, resume=resume, on_epoch=on_epoch)
    t = time.perf_counter()
    with progress.step(f"fit {cfg.model.name}"):
        result = estimator.fit(train, val, ctx)
    timings["fit"] = time.perf_counter() - t
    if not result.extra.get("is_global_zero", True):
        # other DDP ranks only take part in the collective refit; rank 0 writes everything
        _refit(prep, result, corpus_f)
        return None

    run = recorder.start()
    parts = {"train": train, "val": val, "test": test}
    t = time.perf_counter()
    preds = {name: estimator.predict(part) for name, part in parts.items() if part is not None and name != "test"}
    for name, p in preds.items():  # NaN/inf predictions: refused as evaluate would find them (issue 21.2)
        require_finite_predictions(p, parts[name].frame["id"], [t.name for t in targets], f"model {cfg.model.name}", name)
    metrics = {name: scorer(parts[name], p) for name, p in preds.items()}
    timings["predict"] = time.perf_counter() - t

    baseline_rows, baseline_metrics, baseline_seconds, baseline_preds = [], {}, {}, {}

    def score_baseline(name: str, b, split_name: str, part: Corpus) -> None:
        p = b.predict(part)
        require_finite_predictions(p, part.frame["id"], [t.name for t in targets], f"baseline {name}", split_name)
        baseline_preds.setdefault(name, {})[split_name] = p
        baseline_metrics[name][split_name] = scorer(part, p)
        rows = pd.DataFrame({"split": split_name, "id": part.frame["id"].to_numpy(), "baseline": name})
        baseline_rows.append(named_columns(rows, p, targets))

    for name, b in prep.baselines.items():
        t_b = time.perf_counter()
        with progress.step(f"baseline {name}"):
            b.fit(train, val, _context(prep, scorer, None))
        baseline_seconds[name] = time.perf_counter() - t_b
        baseline_metrics[name] = {}
        for split_name, part in parts.items():
            if part is not None and split_name != "test":
                score_baseline(name, b, split_name, part)

    t = time.perf_counter()
    with progress.step("refit on all training data"):
        final = _refit(prep, result, corpus_f)
    refit = final is not estimator
    fit_facts = {"fit": _plain_facts(result.extra)}
    if refit and getattr(final, "fit_result", None) is not None:
        fit_facts["refit"] = _plain_facts(final.fit_result.extra)
    if refit:
        timings["refit"] = time.perf_counter() - t

    # test is touched once, after selection, by the selected model and the baselines beside it
    # (fitted on the same training rows; nothing is chosen by their test scores)
    if test is not None:
        preds["test"] = estimator.predict(test)
        require_finite_predictions(preds["test"], test.frame["id"], [t.name for t in targets], f"model {cfg.model.name}", "test")
        metrics["test"] = scorer(test, preds["test"])
        for name, b in prep.baselines.items():
            score_baseline(name, b, "test", test)
    # results beyond the best published ones (the task's references): said for the model and each baseline
    findings = reference_findings(cfg, prep.task, {n: (parts[n], preds.get(n)) for n in ("val", "test")}, notes)
    for name, by_split in baseline_preds.items():
        findings += reference_findings(cfg, prep.task, {n: (parts[n], by_split.get(n)) for n in ("val", "test")},
                                       notes, f"baseline {name}")

    pred_frames = [prediction_frame(parts[n], p, n, train_groups) for n, p in preds.items()]
    run.write_predictions(pd.concat(pred_frames, ignore_index=True))
    if baseline_rows:
        run.write_baselines(pd.concat(baseline_rows, ignore_index=True))
    run.write_metrics(result.history or [{"epoch": 0, **{f"train_{k}": v for k, v in metrics["train"].items()},
                                          **({f"val_{k}": v for k, v in metrics["val"].items()} if "val" in metrics else {})}])
    _checkpoint(run, prep, final)
    run.write_config(cfg)
    timings["total"] = time.perf_counter() - t0
    epochs_run = len(result.history)
    summary = {
        **_summary_facts(prep, data, notes),
        "metrics": metrics, "baselines": baseline_metrics, "baseline_fit_seconds": baseline_seconds,
        "best_epoch": result.best_epoch, "epochs_run": epochs_run, "n_params": result.n_params,
        "timings": {**timings, "per_epoch": (timings["fit"] / epochs_run) if epochs_run else None},
        "selection": {"split": "val" if val is not None else None, "monitor": prep.monitor,
                      "test_used_for_selection": False, "test_evaluated_once": test is not None},
        "splits": {n: len(p) for n, p in parts.items() if p is not None},
        "n_groups": {n: int(p.frame["group"].nunique()) for n, p in parts.items() if p is not None},
        "refit_full": refit, "findings": findings, "fit": fit_facts,
    }
    return recorder.finish(summary)


def _train_cross_validation(prep: Prepared, data, recorder: RunRecorder, notes: Notes, timings: dict[str, float], t0: float,
                            on_epoch, resume: bool = False) -> Path:
    """The cross-validation protocol (see :mod:`affectlab.cross_validation`)."""
    from .cross_validation import abbreviate, describe_protocol, run_folds, split_off_test
    from .evaluation.bootstrap import bootstrap_scores

    cfg, targets, task, folds = prep.cfg, prep.corpus.targets, prep.task, prep.folds
    s = cfg.split
    # with split.test_split the folds run over the other rows; the test rows wait for the final model
    corpus, test = split_off_test(prep.corpus, s.test_split)
    no_groups = set()  # every fold's test groups are unseen by its model: no seen/unseen split
    scorer = make_scorer(task, targets, no_groups)

    def context(suffix: str | None) -> FitContext:
        work = None if suffix is None else recorder.work_dir / "lightning" / suffix
        return _context(prep, scorer, work, resume=resume, on_epoch=on_epoch)

    t = time.perf_counter()
    cv = run_folds(corpus, folds, lambda: estimator_for(cfg, targets),
                   {name: (lambda name=name: estimator_for(cfg, targets, name, {})) for name in prep.baselines},
                   context, scorer, s.inner_fraction, cfg.seed + s.seed, by_group=s.kind != "kfold",
                   on_fold=lambda f: notes.add(f"fold {f.index}/{len(folds)} (held out {abbreviate(f.test_groups)}): "
                                               f"{prep.monitor} {f.metrics.get(prep.monitor, float('nan')):.3f}"))
    timings["folds"] = time.perf_counter() - t

    # the final model for predict: all data; networks for the median of the folds' selected epochs
    t = time.perf_counter()
    final = estimator_for(cfg, targets)
    epochs = max(1, cv.median_best_epoch()) if final.is_neural else None
    with progress.step("refit on all data"):
        final.fit(corpus, None, _context(prep, scorer, None, fixed_epochs=epochs))
    timings["refit"] = time.perf_counter() - t
    # the test split, touched once: the final model and the baselines refitted on the same rows
    test_pred, test_baselines = None, {}
    if test is not None:
        dev_groups = set(corpus.frame["group"].astype(str))
        shared = sorted(set(test.frame["group"].astype(str)) & dev_groups)
        if shared:
            notes.add(f"{len(shared)} {task.unit}(s) of test split {s.test_split!r} also occur in the cross-validated "
                      f"rows (e.g. {shared[0]!r}): its score is not {task.unit}-independent")
        test_pred = final.predict(test)
        require_finite_predictions(test_pred, test.frame["id"], [t.name for t in targets], f"model {cfg.model.name}", "test")
        for name in prep.baselines:
            b = estimator_for(cfg, targets, name, {})
            b.fit(corpus, None, _context(prep, scorer, None))
            test_baselines[name] = b.predict(test)
            require_finite_predictions(test_baselines[name], test.frame["id"], [t.name for t in targets], f"baseline {name}", "test")

    y = corpus.target_matrix()
    groups = corpus.frame["group"].astype(str).to_numpy()
    pooled = scorer(corpus, cv.oof)
    cis = bootstrap_scores(task, y, cv.oof, targets, groups)
    baseline_pooled = {name: {"oof": scorer(corpus, p)} for name, p in cv.baseline_oof.items()}
    metrics = {"oof": pooled}
    if test is not None:
        # the final model was fitted on every cross-validated row: a test group among them is seen
        test_scorer = make_scorer(task, targets, dev_groups)
        metrics["test"] = test_scorer(test, test_pred)
        for name, p in test_baselines.items():
            baseline_pooled[name]["test"] = test_scorer(test, p)
    test_ci = None if test is None else bootstrap_scores(task, test.target_matrix(), test_pred, targets,
                                                         test.frame["group"].astype(str).to_numpy())
    # the model's intervals are bootstrapped once, for the summary and the reference check alike
    findings = reference_findings(cfg, task, {"oof": (corpus, cv.oof), "test": (test, test_pred)}, notes,
                                  intervals={"oof": cis, "test": test_ci})
    for name, p in cv.baseline_oof.items():
        findings += reference_findings(cfg, task, {"oof": (corpus, p), "test": (test, test_baselines.get(name))},
                                       notes, f"baseline {name}")
    findings += single_sample_fold_findings(cv.folds, task.unit, corpus, cv.oof, scorer, task.primary, notes)
    test_cis = {} if test_ci is None else {k: v.as_dict() for k, v in test_ci.items()}

    run = recorder.start()
    frame = prediction_frame(corpus, cv.oof, "oof", no_groups)
    frame.insert(3, "fold", cv.fold_of)
    if test is not None:  # fold 0: the final model, refitted on every cross-validated row
        test_frame = prediction_frame(test, test_pred, "test", dev_groups)
        test_frame.insert(3, "fold", 0)
        frame = pd.concat([frame, test_frame], ignore_index=True)
    run.write_predictions(frame)
    if cv.baseline_oof:
        rows = []
        for name, p in cv.baseline_oof.items():
            part = pd.DataFrame({"split": "oof", "id": corpus.frame["id"].to_numpy(), "baseline": name, "fold": cv.fold_of})
            rows.append(named_columns(part, p, targets))
            if name in test_baselines:
                part = pd.DataFrame({"split": "test", "id": test.frame["id"].to_numpy(), "baseline": name, "fold": 0})
                rows.append(named_columns(part, test_baselines[name], targets))
        run.write_baselines(pd.concat(rows, ignore_index=True))
    history = [row for f in cv.folds for row in f.history] or [
        {"fold": f.index, "epoch": 0, **{f"test_{k}": v for k, v in f.metrics.items()}} for f in cv.folds]
    run.write_metrics(history)
    _checkpoint(run, prep, final)
    run.write_config(cfg)
    timings["total"] = time.perf_counter() - t0
    protocol = describe_protocol(s.kind, s.k, len(folds), s.seed, cfg.seed, final.is_neural, s.inner_fraction)
    if test is not None:
        protocol["test_split"] = s.test_split
        protocol["final_model"] = f"refitted on all rows but split {s.test_split!r}, then scored once on it"
    summary = {
        **_summary_facts(prep, data, notes),
        "metrics": metrics, "baselines": baseline_pooled, "baseline_fit_seconds": {},
        "best_epoch": epochs or 0, "epochs_run": epochs or 0, "n_params": cv.n_params,
        "timings": {**timings, "per_fold": timings["folds"] / len(folds), "per_epoch": None},
        "selection": {"split": "inner validation of each training fold" if final.is_neural else None,
                      "monitor": prep.monitor, "test_used_for_selection": False, "test_evaluated_once": True},
        "splits": {"oof": len(corpus), **({"test": len(test)} if test is not None else {})},
        "n_groups": {"oof": int(corpus.frame["group"].nunique()),
                     **({"test": int(test.frame["group"].nunique())} if test is not None else {})},
        "protocol": protocol, "folds": [f.describe() for f in cv.folds],
        "pooled": pooled, "unit": task.unit,
        "cis": {"pooled": {k: v.as_dict() for k, v in cis.items()}, **({"test": test_cis} if test_cis else {})},
        "refit_full": True, "findings": findings,
    }
    return recorder.finish(summary)


def _refit(prep: Prepared, result, corpus: Corpus) -> Estimator:
    """After selection: a new estimator fitted on all training data for the selected epochs.

    Returns the selected estimator itself when no refit is configured (or the file's own splits are used).
    """
    cfg = prep.cfg
    if not cfg.training.refit_full or cfg.split.kind == "given":
        return prep.estimator
    final = estimator_for(cfg, corpus.targets)
    epochs = max(1, result.best_epoch) if final.is_neural else None
    scorer = make_scorer(prep.task, corpus.targets, set(corpus.frame["group"]))
    final.fit_result = final.fit(corpus, None, _context(prep, scorer, None, fixed_epochs=epochs))
    return final


def _plain_facts(extra: dict[str, Any]) -> dict[str, Any]:
    """What a fit reports about itself (``FitResult.extra``), the JSON-safe entries only.

    >>> _plain_facts({"landmarks": 1341, "alpha": {"v": 3.0}, "is_global_zero": True, "obj": object()})
    {'landmarks': 1341, 'alpha': {'v': 3.0}}
    """
    import json

    out = {}
    for key, value in extra.items():
        if key == "is_global_zero":
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


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
    from .config import validate_config
    from .runs.rundir import CHECKPOINT, CONFIG

    stored = ckpt.get("config")
    if not isinstance(stored, dict) or not (run.path / CONFIG).is_file():
        return  # older checkpoints hold no config; without config.yaml the checkpoint's is used
    key = _first_difference(cfg.to_dict(), validate_config(stored, str(run.path / CHECKPOINT)).to_dict())
    if key is not None:
        raise AffectlabError(f"{run.path / CONFIG}: {key} differs from the config stored in {CHECKPOINT} (the one the "
                             f"model was trained with): the file was edited or damaged; restore it, or remove it to "
                             f"use the checkpoint's")


def predict_run(run_dir: str | Path, data: "str | Path | pd.DataFrame", out: str | Path | None, split: str | None = None,
                notes: Notes | None = None, data_options: dict | None = None) -> tuple[Path, pd.DataFrame]:
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
    ckpt = run.checkpoint()
    check_config_matches_checkpoint(run, cfg, ckpt)
    if data_options:
        cfg.data.options = {**cfg.data.options, **data_options}
    trained_columns = (ckpt.get("features") or {}).get("tabular_columns")
    if trained_columns:  # the numeric feature columns by name, in training order, whatever the file's order
        from .corpus.table import align_features, trained_columns_options

        cfg.data.options = trained_columns_options(cfg.data.options, trained_columns)
    corpus = read_corpus(data, cfg.data, require_labels=False)
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
    estimator.check_inputs(corpus, also=available_features(corpus, cfg) | TEXT_KEYS)  # before anything is encoded
    corpus, _ = attach_features(corpus, cfg, set(estimator.needs_features))
    known = set(getattr(estimator, "users", []) or [])
    unit = get_task(cfg.task).unit
    if known:
        unseen = sorted(set(corpus.frame["group"]) - known)
        if unseen:
            notes.add(f"{len(unseen)} of {corpus.frame['group'].nunique()} {unit}s were not seen in training: "
                      "predicted from their samples alone")
    pred = estimator.predict(corpus)
    frame = named_columns(corpus.output_frame(), pred, targets)
    frame.attrs["nonfinite"] = nonfinite  # per modality, for the prediction summary (predict --json)
    if out is not None:
        write_csv(out, frame)
    return (None if out is None else Path(out)), frame
