"""The train and predict flows behind ``affectlab train`` and ``affectlab predict``.

``train_run``: read → split (dev protocol, or the file's own splits) → features (cached) → fit
with selection on validation → baselines on the same rows → optional refit on all training
data → run directory. ``predict_run``: run directory + new data → prediction CSV.
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
from .corpus.splits import dev_split, latest_per_group, unseen_groups
from .errors import AffectlabError
from .evaluation.scoring import HEADLINE, higher_is_better, score_arrays
from .features.text import embed_texts
from .io import write_csv
from .models import MODELS
from .models.base import Estimator, FitContext
from .paths import default_cache_dir
from .runs.rundir import RunDir, file_sha256, save_checkpoint

log = logging.getLogger(__name__)

#: baselines reported beside every model of a task when the config names none
DEFAULT_BASELINES: dict[str, list[str]] = {
    "semeval": ["global_mean", "group_mean", "ridge_tfidf", "ridge_embedding", "ridge_group_offset"],
    "mosi": ["global_mean"],
    "generic": ["global_mean"],
}


@dataclass
class Notes:
    """One-line messages for the user (warnings and facts), printed by the CLI."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        log.info(line)


def split_corpus(corpus: Corpus, cfg: RunConfig) -> tuple[Corpus, Corpus | None, Corpus | None]:
    """(train, val, test) for model selection, following ``cfg.split``."""
    s = cfg.split
    if s.kind == "given":
        if "split" not in corpus.frame:
            raise AffectlabError(f"{corpus.name}: split.kind is 'given' but the data has no splits")
        names = set(corpus.frame["split"])
        train = corpus.split_part(s.train_split)
        val = corpus.split_part(s.val_split) if s.val_split in names else None
        test = corpus.split_part("test") if "test" in names else None
        return train, val, test
    if s.kind == "dev":
        is_val = (dev_split(corpus, s.unseen_fraction, s.latest_fraction, s.seed) == "val").to_numpy()
    elif s.kind == "group":
        is_val = unseen_groups(corpus, s.unseen_fraction, s.seed)
    else:
        is_val = latest_per_group(corpus, s.latest_fraction)
    if is_val.all() or not is_val.any():
        raise AffectlabError(f"{corpus.name}: the {s.kind} split leaves no {'training' if is_val.all() else 'validation'} data")
    return corpus.subset(~is_val), corpus.subset(is_val), None


def estimator_for(cfg: RunConfig, targets: tuple[TargetSpec, ...], name: str | None = None,
                  params: dict | None = None) -> Estimator:
    """Build the estimator a config names (or a named baseline with its defaults)."""
    cls = MODELS.get(name or cfg.model.name)
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
    if "text" in needed and "text" not in corpus.features:
        if cfg.features.text.kind == "none" or not corpus.has_text:
            raise AffectlabError("the model needs text embeddings but the data has no text or features.text.kind is 'none'")
        matrix, stats = embed_texts(corpus.frame["text"].tolist(), cfg.features.text,
                                    cfg.features.cache_dir or default_cache_dir())
        corpus = corpus.with_features(text=matrix)
    return corpus, stats


def make_scorer(task: str, targets: tuple[TargetSpec, ...], train_groups: set[str]) -> Callable[[Corpus, np.ndarray], dict]:
    names = [t.name for t in targets]

    def scorer(corpus: Corpus, pred: np.ndarray) -> dict[str, float]:
        groups = corpus.frame["group"].to_numpy()
        seen = corpus.frame["group"].isin(train_groups).to_numpy()
        return score_arrays(task, corpus.target_matrix(), pred, names, groups, seen)

    return scorer


def prediction_frame(corpus: Corpus, pred: np.ndarray, split: str, train_groups: set[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"split": split, "id": corpus.frame["id"].to_numpy(), "group": corpus.frame["group"].to_numpy()})
    y = corpus.target_matrix()
    for j, t in enumerate(corpus.targets):
        frame[t.name] = y[:, j]
    for j, t in enumerate(corpus.targets):
        frame[f"pred_{t.name}"] = pred[:, j]
    frame["seen"] = corpus.frame["group"].isin(train_groups).to_numpy()
    return frame


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train_run(cfg: RunConfig, data: str | Path, out: str | Path, *, resume: bool = False,
              on_epoch: Callable[[int, dict], None] | None = None, notes: Notes | None = None) -> Path | None:
    """Train ``cfg`` on ``data`` and write a complete run directory at ``out``.

    Returns the run directory (``None`` on non-zero DDP ranks, which write nothing).
    """
    notes = notes or Notes()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    corpus = read_corpus(data, cfg.data, require_labels=True)
    targets = corpus.targets
    if not targets:
        raise AffectlabError(f"{data}: the config declares no targets")
    single = (corpus.group_sizes() < 2).sum()
    if single and cfg.task == "semeval":
        notes.add(f"{single} user(s) have a single text: they count for r_between only, not r_within")
    # split once before encoding so that a split that cannot work fails before the slow step
    train, val, test = split_corpus(corpus, cfg)
    train_groups = set(train.frame["group"])

    estimator = estimator_for(cfg, targets)
    baseline_names = cfg.baselines if cfg.baselines is not None else DEFAULT_BASELINES.get(cfg.task, [])
    baselines = {name: estimator_for(cfg, targets, name, {}) for name in baseline_names if name != cfg.model.name}
    needed = set(estimator.needs_features)
    for b in baselines.values():
        needed |= set(b.needs_features)
    t = time.perf_counter()
    corpus_f, feat_stats = attach_features(corpus, cfg, needed)
    timings["features"] = time.perf_counter() - t
    train, val, test = split_corpus(corpus_f, cfg)

    monitor = cfg.training.monitor if cfg.training.monitor != "score" or cfg.task == "semeval" else HEADLINE[cfg.task]
    scorer = make_scorer(cfg.task, targets, train_groups)
    ctx = FitContext(training=cfg.training, seed=cfg.seed, scorer=scorer, monitor=monitor,
                     monitor_higher_is_better=higher_is_better(monitor), work_dir=str(out), resume=resume,
                     on_epoch=on_epoch)
    t = time.perf_counter()
    result = estimator.fit(train, val, ctx)
    timings["fit"] = time.perf_counter() - t
    if not result.extra.get("is_global_zero", True):
        # other DDP ranks only take part in the collective refit; rank 0 writes everything
        _refit(cfg, estimator, result, corpus_f, targets, monitor)
        return None

    run = RunDir.create(out)
    parts = {"train": train, "val": val, "test": test}
    t = time.perf_counter()
    preds = {name: estimator.predict(part) for name, part in parts.items() if part is not None and name != "test"}
    metrics = {name: scorer(parts[name], p) for name, p in preds.items()}
    timings["predict"] = time.perf_counter() - t

    baseline_rows, baseline_metrics, baseline_seconds = [], {}, {}
    for name, b in baselines.items():
        t_b = time.perf_counter()
        b.fit(train, val, FitContext(training=cfg.training, seed=cfg.seed, scorer=scorer, monitor=monitor))
        baseline_seconds[name] = time.perf_counter() - t_b
        baseline_metrics[name] = {}
        for split_name, part in parts.items():
            if part is None or split_name == "test":
                continue
            p = b.predict(part)
            baseline_metrics[name][split_name] = scorer(part, p)
            rows = pd.DataFrame({"split": split_name, "id": part.frame["id"].to_numpy(), "baseline": name})
            for j, tgt in enumerate(targets):
                rows[f"pred_{tgt.name}"] = p[:, j]
            baseline_rows.append(rows)

    t = time.perf_counter()
    final = _refit(cfg, estimator, result, corpus_f, targets, monitor)
    refit = final is not estimator
    if refit:
        timings["refit"] = time.perf_counter() - t

    # test is touched once, after selection, by the selected model
    if test is not None:
        preds["test"] = estimator.predict(test)
        metrics["test"] = scorer(test, preds["test"])

    pred_frames = [prediction_frame(parts[n], p, n, train_groups) for n, p in preds.items()]
    run.write_predictions(pd.concat(pred_frames, ignore_index=True))
    if baseline_rows:
        run.write_baselines(pd.concat(baseline_rows, ignore_index=True))
    run.write_metrics(result.history or [{"epoch": 0, **{f"train_{k}": v for k, v in metrics["train"].items()},
                                          **({f"val_{k}": v for k, v in metrics["val"].items()} if "val" in metrics else {})}])
    save_checkpoint(run.path / "checkpoint.ckpt", cfg.model.name, cfg.model.params(),
                    [t.__dict__ | {"classes": list(t.classes)} for t in targets], final.state(),
                    {"text": cfg.features.text.model_dump()})
    run.write_config(cfg)
    timings["total"] = time.perf_counter() - t0
    epochs_run = len(result.history)
    summary = {
        "task": cfg.task, "model": cfg.model.name,
        "targets": [{"name": t.name, "low": t.low, "high": t.high} for t in targets],
        "metrics": metrics, "baselines": baseline_metrics, "baseline_fit_seconds": baseline_seconds,
        "best_epoch": result.best_epoch, "epochs_run": epochs_run, "n_params": result.n_params,
        "timings": {**timings, "per_epoch": (timings["fit"] / epochs_run) if epochs_run else None},
        "peak_memory_mb": peak_memory_mb(),
        "selection": {"split": "val" if val is not None else None, "monitor": monitor,
                      "test_used_for_selection": False, "test_evaluated_once": test is not None},
        "splits": {n: len(p) for n, p in parts.items() if p is not None},
        "n_groups": {n: int(p.frame["group"].nunique()) for n, p in parts.items() if p is not None},
        "nonfinite": corpus.meta.get("nonfinite", {}),
        "features": feat_stats,
        "data": {"path": str(Path(data).resolve()), "sha256": file_sha256(data) if Path(data).is_file() else None},
        "refit_full": refit, "warnings": notes.lines, "argv": sys.argv[1:],
    }
    run.write_summary(summary)
    return run.path


def _refit(cfg: RunConfig, estimator: Estimator, result, corpus: Corpus, targets, monitor: str) -> Estimator:
    """After selection: a new estimator fitted on all training data for the selected epochs.

    Returns ``estimator`` itself when no refit is configured (or the file's own splits are used).
    """
    if not cfg.training.refit_full or cfg.split.kind == "given":
        return estimator
    final = estimator_for(cfg, targets)
    epochs = max(1, result.best_epoch) if estimator.is_neural else None
    scorer = make_scorer(cfg.task, targets, set(corpus.frame["group"]))
    final.fit(corpus, None, FitContext(training=cfg.training, seed=cfg.seed, scorer=scorer, monitor=monitor,
                                       fixed_epochs=epochs))
    return final


def predict_run(run_dir: str | Path, data: str | Path, out: str | Path, split: str | None = None,
                notes: Notes | None = None, data_options: dict | None = None) -> tuple[Path, pd.DataFrame]:
    """Predict ``data`` with the run's final model; write ``out`` (columns: ids + ``pred_<target>``).

    ``data_options`` are merged into the run's ``data.options`` (e.g. ``{"trust_pickle": True}``).
    """
    notes = notes or Notes()
    run = RunDir.open(run_dir)
    cfg = run.config()
    if data_options:
        cfg.data.options = {**cfg.data.options, **data_options}
    ckpt = run.checkpoint()
    corpus = read_corpus(data, cfg.data, require_labels=False)
    if split is not None:
        corpus = corpus.split_part(split)
    elif "split" in corpus.frame and corpus.frame["split"].nunique() > 1:
        notes.add(f"{data}: no --split given; predicting all {len(corpus)} samples of splits "
                  f"{', '.join(sorted(corpus.frame['split'].unique()))}")
    targets = tuple(TargetSpec(t["name"], t["low"], t["high"], t.get("kind", "regression"), tuple(t.get("classes", ())))
                    for t in ckpt["targets"])
    estimator = estimator_for(cfg, targets, ckpt["model"], ckpt["params"])
    estimator.load_state(ckpt["state"])
    corpus, _ = attach_features(corpus, cfg, set(estimator.needs_features))
    known = set(getattr(estimator, "users", []) or [])
    if known and cfg.task == "semeval":
        unseen = sorted(set(corpus.frame["group"]) - known)
        if unseen:
            notes.add(f"{len(unseen)} of {corpus.frame['group'].nunique()} users were not seen in training: "
                      "predicted from their texts alone")
    pred = estimator.predict(corpus)
    frame = corpus.output_frame()
    for j, t in enumerate(targets):
        frame[f"pred_{t.name}"] = pred[:, j]
    write_csv(out, frame)
    return Path(out), frame
