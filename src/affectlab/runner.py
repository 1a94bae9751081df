"""Run once: one protocol runner for hold-out and cross-validation alike.

``run_protocol(prepared, ...) -> Outcome``: the experiment's protocol gives the folds
(:mod:`affectlab.protocols`); every fold is fitted by :func:`fit_fold` (the model with selection on
the fold's validation rows — a hold-out's ``val`` part, or for a network under cross-validation an
inner validation part of the training rows — and the baselines on the same training rows), then
scored; the final model is refitted on all rows for ``predict`` (not in a scores-only run, a sweep or
ablation trial: :attr:`Prepared.scores_only`); the test rows are touched once,
after everything was selected; published references are checked; and the :class:`Outcome` holds
every table and the summary that :meth:`affectlab.runs.RunRecorder.record` writes (the Outcome is a
run-layer type, :class:`affectlab.runs.outcome.Outcome`).

>>> import numpy as np, pandas as pd
>>> from affectlab.corpus.base import Corpus, TargetSpec
>>> c = Corpus(pd.DataFrame({"id": ["a", "b"], "group": ["u", "v"], "y": [1.0, 2.0]}), targets=(TargetSpec("y"),))
>>> prediction_frame(c, np.array([[1.5], [2.5]]), "val", {"u"})[["split", "id", "y", "pred_y", "seen"]].to_dict("list")
{'split': ['val', 'val'], 'id': ['a', 'b'], 'y': [1.0, 2.0], 'pred_y': [1.5, 2.5], 'seen': [True, False]}
"""

from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import dataclass
from types import SimpleNamespace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import progress
from .config import FeaturesConfig
from .core.errors import AffectlabError
from .core.notes import Notes
from .core.paths import default_cache_dir
from .corpus import Corpus
from .corpus.base import TargetSpec
from .evaluation.diagnostics import (model_below_baseline_findings, paired_on, require_finite_predictions,
                                     single_sample_fold_findings)
from .evaluation.scoring import higher_is_better, score_arrays
from .experiment import Experiment
from .features.text import embed_texts
from .models.base import Estimator, FitContext, FitResult
from .protocols import CrossCorpus, CrossValidation, Fold, abbreviate
from .runs.outcome import Outcome
from .runs.summary import DataInfo
from .tasks import Reference, Task

Scorer = Callable[[Corpus, np.ndarray], dict[str, float]]


# --------------------------------------------------------------------------- shared pieces

def make_scorer(task: "str | Task", targets: tuple[TargetSpec, ...], train_groups: set[str]) -> Scorer:
    """Scores predictions on a corpus; groups in ``train_groups`` count as seen."""
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
    """predictions.csv rows of one part: split, id, group, gold, ``pred_<target>``, seen, order."""
    frame = pd.DataFrame({"split": split, "id": corpus.frame["id"].to_numpy(), "group": corpus.frame["group"].to_numpy()})
    y = corpus.target_matrix()
    for j, t in enumerate(corpus.targets):
        frame[t.name] = t.decode(y[:, j]) if t.is_category else y[:, j]
    named_columns(frame, pred, corpus.targets)
    frame["seen"] = corpus.frame["group"].isin(train_groups).to_numpy()
    if "order" in corpus.frame:  # the data's time or order column: the report's trajectories use it
        frame["order"] = corpus.frame["order"].to_numpy()
    return frame


def baseline_frame(corpus: Corpus, pred: np.ndarray, split: str, name: str, targets: tuple[TargetSpec, ...],
                   fold: np.ndarray | int | None = None) -> pd.DataFrame:
    """baselines.csv rows of one baseline on one part."""
    frame = pd.DataFrame({"split": split, "id": corpus.frame["id"].to_numpy(), "baseline": name})
    if fold is not None:
        frame["fold"] = fold
    return named_columns(frame, pred, targets)


def require_finite(pred: np.ndarray, part: Corpus, who: str, where: str) -> np.ndarray:
    """``pred`` when every value is finite; else one line naming who predicted NaN/inf where (issue 21.2:
    train must not score them as CCC 0 with exit code 0)."""
    require_finite_predictions(pred, part.frame["id"], [t.name for t in part.targets], who, where)
    return pred


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


#: feature keys :func:`attach_features` computes by encoding the raw text (it refuses them itself, before encoding)
TEXT_FEATURES = frozenset({"text", "text_encoder"})


def attach_features(corpus: Corpus, features: FeaturesConfig, needed: set[str]) -> tuple[Corpus, dict[str, Any]]:
    """Compute (or load from cache) the feature arrays that ``needed`` names."""
    stats: dict[str, Any] = {}
    encoded = None  # the raw text's embeddings, when this call computed them
    if "text" in needed and "text" not in corpus.features:
        if features.text.kind == "none" or not corpus.has_text:
            raise AffectlabError("the model needs text embeddings but the data has no text or features.text.kind is 'none'")
        encoded, stats = embed_texts(corpus.frame["text"].tolist(), features.text, features.cache_dir or default_cache_dir())
        corpus = corpus.with_features(text=encoded)
    if "text_encoder" in needed and "text_encoder" not in corpus.features:
        # the raw text re-encoded by features.text, whatever the file's own text arrays are (ridge_text_encoder)
        if features.text.kind == "none" or not corpus.has_text:
            raise AffectlabError("the model needs the raw text re-encoded (text_encoder) but the data has no raw text "
                                 "or features.text.kind is 'none'")
        if encoded is None:  # else the same texts, the same encoder: the matrix just computed
            encoded, stats = embed_texts(corpus.frame["text"].tolist(), features.text,
                                         features.cache_dir or default_cache_dir())
        corpus = corpus.with_features(text_encoder=encoded)
    return corpus, stats


def reference_findings(references: tuple[Reference, ...], task: Task, scored: dict[str, tuple[Corpus | None, np.ndarray | None]],
                       notes: Notes, who: str = "the model", intervals: dict[str, dict | None] | None = None) -> list[dict]:
    """ABOVE_STATE_OF_THE_ART for each scored part (``{where: (corpus, predictions)}``) against the
    task's and the config's published references; each finding is also a note. Only the metrics the
    references name are bootstrapped (groups resampled), unless ``intervals[where]`` already holds
    that part's :func:`~affectlab.evaluation.bootstrap.bootstrap_scores` (same seed: same intervals)."""
    if not references:
        return []
    from .evaluation.bootstrap import bootstrap_scores
    from .evaluation.diagnostics import check_references
    from .tasks.data import references_for_part

    found = []
    for where, (part, pred) in scored.items():
        if part is None or pred is None or not len(part):
            continue
        refs = references_for_part(references, part, notes, task.name)  # a benchmark's references: its data only
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


def plain_facts(extra: dict[str, Any]) -> dict[str, Any]:
    """What a fit reports about itself (``FitResult.extra``), the JSON-safe entries only.

    >>> plain_facts({"landmarks": 1341, "alpha": {"v": 3.0}, "is_global_zero": True, "obj": object()})
    {'landmarks': 1341, 'alpha': {'v': 3.0}}
    """
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


# --------------------------------------------------------------------------- prepared inputs and the outcome

@dataclass
class Prepared:
    """Everything validated before the first slow step: the experiment, the data with its
    features, the model, the baselines that apply, and the protocol's folds (planned once)."""

    exp: Experiment
    corpus: Corpus
    estimator: Estimator
    baselines: dict[str, Estimator]
    feature_stats: dict[str, Any]
    folds: list[Fold]
    #: which data the run read (summary.json's ``data``)
    data: DataInfo | None = None
    #: the protocol's scores only (a sweep or ablation trial): no final model refitted on all data
    #: (hold-out: the selected model is kept; cross-validation: no model at all, and a set-aside
    #: test split is not scored, since only the refitted model may touch it); summary.json says so
    scores_only: bool = False

    @property
    def task(self) -> Task:
        return self.exp.task

    @property
    def monitor(self) -> str:
        return self.exp.monitor

    def context(self, scorer: Scorer | None, work_dir: str | Path | None, *, resume: bool = False, on_epoch=None,
                fixed_epochs: int | None = None) -> FitContext:
        """The fit context of this experiment's training section."""
        return FitContext(training=self.exp.training, seed=self.exp.seed, scorer=scorer, monitor=self.monitor,
                          monitor_higher_is_better=higher_is_better(self.monitor),
                          work_dir=None if work_dir is None else str(work_dir), resume=resume, on_epoch=on_epoch,
                          fixed_epochs=fixed_epochs, compute=self.exp.config.compute)

    def new_model(self) -> Estimator:
        return self.exp.build_model(self.corpus.targets)

    def new_baseline(self, name: str) -> Estimator:
        return self.exp.baseline_spec(name).build(self.corpus.targets)


def fit_model(prep: Prepared, train: Corpus, val: Corpus | None, scorer: Scorer, work_dir: Path | None, *,
              estimator: Estimator | None = None, resume: bool = False, on_epoch=None,
              fixed_epochs: int | None = None, step: str | None = None) -> tuple[Estimator, FitResult]:
    """The model (a new one unless ``estimator``) fitted on ``train``, selecting on ``val``."""
    model = estimator if estimator is not None else prep.new_model()
    ctx = prep.context(scorer, work_dir, resume=resume, on_epoch=on_epoch, fixed_epochs=fixed_epochs)
    if step is None:
        return model, model.fit(train, val, ctx)
    with progress.step(step):
        return model, model.fit(train, val, ctx)


def fit_baselines(prep: Prepared, train: Corpus, val: Corpus | None, scorer: Scorer,
                  step: Callable[[str], str]) -> tuple[dict[str, Estimator], dict[str, float]]:
    """Every baseline fitted on the same training rows as the model (new estimators), and its seconds."""
    fitted, seconds = {}, {}
    for name in prep.baselines:
        b = prep.new_baseline(name)
        t = time.perf_counter()
        with progress.step(step(name)):
            b.fit(train, val, prep.context(scorer, None))
        fitted[name], seconds[name] = b, time.perf_counter() - t
    return fitted, seconds


def summary_facts(prep: Prepared, notes: Notes) -> dict[str, Any]:
    """The summary entries every protocol writes alike: what was trained on what, and how."""
    cfg = prep.exp.config
    return {"task": cfg.task, "model": cfg.model.name, "targets": [t.describe() for t in prep.corpus.targets],
            "peak_memory_mb": peak_memory_mb(), "nonfinite": prep.corpus.meta.get("nonfinite", {}),
            "features": prep.feature_stats, "data": prep.data, "warnings": notes.lines, "argv": sys.argv[1:]}


def checkpoint_entries(prep: Prepared) -> dict[str, Any]:
    """checkpoint.ckpt's entries beside the state: the model and its parameters, the targets, the
    text encoder and numeric feature columns by name (predict reads them so), the resolved config."""
    features: dict[str, Any] = {"text": prep.exp.features.text.model_dump()}
    if prep.corpus.meta.get("feature_columns"):
        features["tabular_columns"] = list(prep.corpus.meta["feature_columns"])
    if prep.corpus.meta.get("extraction"):  # what made each modality: predict names it on a mismatch
        features["extraction"] = dict(prep.corpus.meta["extraction"])
    if prep.corpus.meta.get("extract_params"):  # the extract settings that made them: predict checks new data's
        from .features.media_corpus import feature_settings

        features["extract_settings"] = feature_settings(prep.corpus.meta["extract_params"])
    cfg = prep.exp.config
    return {"model": cfg.model.name, "params": cfg.model.params(), "targets": prep.corpus.targets,
            "features": features, "config": cfg.to_dict()}


# --------------------------------------------------------------------------- the runner

def run_protocol(prep: Prepared, work_dir: Path | None, notes: Notes, *, resume: bool = False, on_epoch=None,
                 timings: dict[str, float] | None = None, t0: float | None = None) -> Outcome | None:
    """Run the experiment's protocol on the prepared data (see the module docstring).

    Returns ``None`` on the non-zero ranks of a multi-process (DDP) fit, which record nothing."""
    timings = {} if timings is None else timings
    t0 = time.perf_counter() if t0 is None else t0
    if isinstance(prep.exp.protocol, CrossValidation):
        return _cross_validate(prep, work_dir, notes, timings, t0, resume, on_epoch)
    return _hold_out(prep, work_dir, notes, timings, t0, resume, on_epoch)


def _hold_out(prep: Prepared, work_dir: Path | None, notes: Notes, timings: dict[str, float], t0: float,
              resume: bool, on_epoch) -> Outcome | None:
    """One fold: select on its validation rows, refit on all training data, touch test once."""
    exp, corpus, targets = prep.exp, prep.corpus, prep.corpus.targets
    fold, = prep.folds
    train, val, test = fold.parts(corpus)
    train_groups = set(train.frame["group"])
    scorer = make_scorer(prep.task, targets, train_groups)
    t = time.perf_counter()
    estimator, result = fit_model(prep, train, val, scorer, work_dir, estimator=prep.estimator, resume=resume,
                                  on_epoch=on_epoch, step=f"fit {exp.model.name}")
    timings["fit"] = time.perf_counter() - t
    if not result.extra.get("is_global_zero", True):
        # other DDP ranks only take part in the collective refit; rank 0 writes everything
        _refit(prep, result, corpus)
        return None

    parts = {"train": train, "val": val, "test": test}
    present = {name: part for name, part in parts.items() if part is not None}
    t = time.perf_counter()
    who = f"model {exp.model.name}"
    preds = {name: require_finite(estimator.predict(part), part, who, name) for name, part in present.items() if name != "test"}
    metrics = {name: scorer(present[name], p) for name, p in preds.items()}
    timings["predict"] = time.perf_counter() - t

    baselines, baseline_seconds = fit_baselines(prep, train, val, scorer, lambda name: f"baseline {name}")
    baseline_preds = {name: {n: require_finite(b.predict(p), p, f"baseline {name}", n) for n, p in present.items() if n != "test"}
                      for name, b in baselines.items()}

    t = time.perf_counter()
    if prep.scores_only:  # a sweep or ablation trial: the selected model is kept, nothing refitted
        final = estimator
    else:
        with progress.step("refit on all training data"):
            final = _refit(prep, result, corpus)
    refit = final is not estimator
    fit_facts = {"fit": plain_facts(result.extra)}
    refit_result = getattr(final, "fit_result", None)
    if refit and refit_result is not None:
        fit_facts["refit"] = plain_facts(refit_result.extra)
    if refit:
        timings["refit"] = time.perf_counter() - t

    # test is touched once, after selection, by the selected model and the baselines beside it
    # (fitted on the same training rows; nothing is chosen by their test scores)
    if test is not None:
        preds["test"] = require_finite(estimator.predict(test), test, who, "test")
        metrics["test"] = scorer(test, preds["test"])
        for name, b in baselines.items():
            baseline_preds[name]["test"] = require_finite(b.predict(test), test, f"baseline {name}", "test")
    baseline_metrics = {name: {n: scorer(present[n], p) for n, p in by_part.items()} for name, by_part in baseline_preds.items()}
    # results beyond the best published ones (the task's references): said for the model and each baseline
    findings = reference_findings(exp.references, prep.task, {n: (parts[n], preds.get(n)) for n in ("val", "test")}, notes)
    for name, by_part in baseline_preds.items():
        findings += reference_findings(exp.references, prep.task, {n: (parts[n], by_part.get(n)) for n in ("val", "test")},
                                       notes, f"baseline {name}")
    findings += model_below_baseline_findings(exp.model.name, metrics, baseline_metrics, notes.add)

    predictions = pd.concat([prediction_frame(present[n], p, n, train_groups) for n, p in preds.items()], ignore_index=True)
    # every baseline's selection parts first, then the test rows (touched after the refit)
    rows = [baseline_frame(present[n], p, n, name, targets) for test_rows in (False, True)
            for name, by_part in baseline_preds.items() for n, p in by_part.items() if (n == "test") == test_rows]
    history = result.history or [{"epoch": 0, **{f"train_{k}": v for k, v in metrics["train"].items()},
                                  **({f"val_{k}": v for k, v in metrics["val"].items()} if "val" in metrics else {})}]
    timings["total"] = time.perf_counter() - t0
    epochs_run = len(result.history)
    summary = {
        **summary_facts(prep, notes),
        "metrics": metrics, "baselines": baseline_metrics, "baseline_fit_seconds": baseline_seconds,
        "best_epoch": result.best_epoch, "epochs_run": epochs_run, "n_params": result.n_params,
        "timings": {**timings, "per_epoch": (timings["fit"] / epochs_run) if epochs_run else None},
        "selection": {"split": "val" if val is not None else None, "monitor": prep.monitor,
                      "test_used_for_selection": False, "test_evaluated_once": test is not None},
        "splits": {n: len(p) for n, p in parts.items() if p is not None},
        "n_groups": {n: int(p.frame["group"].nunique()) for n, p in parts.items() if p is not None},
        "refit_full": refit, "scores_only": prep.scores_only, "findings": findings, "fit": fit_facts,
    }
    return Outcome(predictions, pd.concat(rows, ignore_index=True) if rows else None, history, final, summary,
                   checkpoint_entries(prep))


def _refit(prep: Prepared, result: FitResult, corpus: Corpus) -> Estimator:
    """After selection: a new estimator fitted on all training data for the selected epochs.

    Returns the selected estimator itself when no refit is configured (or the file's own splits are used)."""
    exp = prep.exp
    if prep.scores_only or not exp.training.refit_full or exp.protocol.kind == "given":
        return prep.estimator
    final = prep.new_model()
    epochs = max(1, result.best_epoch) if final.is_neural else None
    scorer = make_scorer(prep.task, corpus.targets, set(corpus.frame["group"]))
    _, final.fit_result = fit_model(prep, corpus, None, scorer, None, estimator=final, fixed_epochs=epochs)
    return final


def _cross_validate(prep: Prepared, work_dir: Path | None, notes: Notes, timings: dict[str, float], t0: float,
                    resume: bool, on_epoch) -> Outcome:
    """One fold per held-out part: out-of-fold predictions, per-fold and pooled scores with
    intervals, a final model refitted on every row, the set-aside test split scored once by it."""
    from .evaluation.bootstrap import bootstrap_scores

    exp, targets = prep.exp, prep.corpus.targets
    protocol = exp.protocol
    assert isinstance(protocol, CrossValidation)
    # with split.test_split the folds run over the other rows; the test rows wait for the final model
    corpus, test = protocol.set_aside(prep.corpus)
    folds = prep.folds
    no_groups: set[str] = set()  # every fold's test groups are unseen by its model: no seen/unseen split
    scorer = make_scorer(prep.task, targets, no_groups)
    n, k = len(corpus), len(targets)
    oof, fold_of = np.full((n, k), np.nan), np.full(n, -1, dtype=int)
    baseline_oof = {name: np.full((n, k), np.nan) for name in prep.baselines}
    baseline_seconds = {name: 0.0 for name in prep.baselines}  # each baseline's fits, all folds together
    model_seconds = 0.0
    described: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    n_params, best_epochs = 0, []
    t = start = time.perf_counter()
    inner_seed = exp.seed + protocol.seed
    for fold in folds:
        t_fold = time.perf_counter()
        train, _, held = fold.parts(corpus)
        assert held is not None
        fit_train, fit_val = train, None
        if prep.estimator.is_neural:  # nested selection: an inner validation part of the training rows
            inner = protocol.inner_validation(train, inner_seed + fold.index)
            fit_train, fit_val = train.subset(~inner), train.subset(inner)
        fold_dir = None if work_dir is None else work_dir / "lightning" / f"fold{fold.index + 1}"
        t_fit = time.perf_counter()
        estimator, result = fit_model(prep, fit_train, fit_val, scorer, fold_dir, resume=resume, on_epoch=on_epoch)
        model_seconds += time.perf_counter() - t_fit
        n_params = result.n_params or n_params
        pred = require_finite(estimator.predict(held), held, "the model", f"fold {fold.index + 1}")
        assert fold.test is not None
        oof[fold.test], fold_of[fold.test] = pred, fold.index + 1
        entry: dict[str, Any] = {"index": fold.index + 1, "metrics": {"test": scorer(held, pred)},
                 "sizes": {"train": len(fit_train), "inner_val": 0 if fit_val is None else len(fit_val), "test": len(held)},
                 "groups": fold.test_groups, "best_epoch": result.best_epoch, "seconds": 0.0, "baselines": {},
                 "fit": plain_facts(result.extra)}  # what the fold's fit chose (C, alpha...) and reports
        history += [{"fold": fold.index + 1, **row} for row in result.history]
        best_epochs.append(result.best_epoch)
        label = f"fold {fold.index + 1}/{len(folds)}: baseline "
        baselines, seconds = fit_baselines(prep, train, None, scorer, label.__add__)
        entry["baseline_seconds"] = seconds
        for name, b in baselines.items():
            bp = require_finite(b.predict(held), held, f"baseline {name}", f"fold {fold.index + 1}")
            baseline_oof[name][fold.test] = bp
            baseline_seconds[name] += seconds[name]
            entry["baselines"][name] = scorer(held, bp)
        entry["seconds"] = time.perf_counter() - t_fold
        described.append(entry)
        _fold_line(fold.index + 1, len(folds), entry["seconds"], time.perf_counter() - start)
        notes.add(f"fold {fold.index + 1}/{len(folds)} (held out {abbreviate(fold.test_groups)}): "
                  f"{prep.monitor} {entry['metrics']['test'].get(prep.monitor, float('nan')):.3f}")
    timings["folds"] = time.perf_counter() - t
    timings["fit"] = model_seconds  # the model's fits in the folds (its selection included), as baseline_fit_seconds

    # the final model for predict: all data; networks for the median of the folds' selected epochs
    selected = [e for e in best_epochs if e > 0]
    epochs = max(1, int(np.median(selected)) if selected else 0) if prep.estimator.is_neural else None
    final: Estimator | None = None
    refit_facts: dict[str, Any] = {}
    if not prep.scores_only:  # a sweep or ablation trial compares the out-of-fold scores only: no final model
        t = time.perf_counter()
        final, final_result = fit_model(prep, corpus, None, scorer, None, fixed_epochs=epochs, step="refit on all data")
        timings["refit"] = time.perf_counter() - t
        refit_facts = {"refit": plain_facts(final_result.extra)}
    elif test is not None:
        notes.add(f"scores only: test split {protocol.test_split!r} is not scored (only a model refitted on every "
                  "cross-validated row may touch it); train the config for its test score")
    # the test split, touched once: the final model and the baselines refitted on the same rows
    test_pred, test_baselines = None, {}
    dev_groups = set(corpus.frame["group"].astype(str))
    if test is not None and final is not None:
        shared = sorted(set(test.frame["group"].astype(str)) & dev_groups)
        if shared:
            notes.add(f"{len(shared)} {prep.task.unit}(s) of test split {protocol.test_split!r} also occur in the "
                      f"cross-validated rows (e.g. {shared[0]!r}): its score is not {prep.task.unit}-independent")
        test_pred = require_finite(final.predict(test), test, f"model {exp.model.name}", "test")
        for name in prep.baselines:
            b = prep.new_baseline(name)
            t_fit = time.perf_counter()
            b.fit(corpus, None, prep.context(scorer, None))
            baseline_seconds[name] += time.perf_counter() - t_fit
            test_baselines[name] = require_finite(b.predict(test), test, f"baseline {name}", "test")

    y, groups = corpus.target_matrix(), corpus.frame["group"].astype(str).to_numpy()
    pooled = scorer(corpus, oof)
    cis = bootstrap_scores(prep.task, y, oof, targets, groups)
    baseline_pooled: dict[str, dict[str, Any]] = {name: {"oof": scorer(corpus, p)} for name, p in baseline_oof.items()}
    metrics = {"oof": pooled}
    test_ci = None
    if test is not None and test_pred is not None:
        # the final model was fitted on every cross-validated row: a test group among them is seen
        test_scorer = make_scorer(prep.task, targets, dev_groups)
        metrics["test"] = test_scorer(test, test_pred)
        for name, p in test_baselines.items():
            baseline_pooled[name]["test"] = test_scorer(test, p)
        test_ci = bootstrap_scores(prep.task, test.target_matrix(), test_pred, targets, test.frame["group"].astype(str).to_numpy())
    # the model's intervals are bootstrapped once, for the summary and the reference check alike
    findings = reference_findings(exp.references, prep.task, {"oof": (corpus, oof), "test": (test, test_pred)}, notes,
                                  intervals={"oof": cis, "test": test_ci})
    for name, p in baseline_oof.items():
        findings += reference_findings(exp.references, prep.task, {"oof": (corpus, p), "test": (test, test_baselines.get(name))},
                                       notes, f"baseline {name}")
    # a fold holding out one sample (a one-recording speaker under LOSO): a finding with its effect on the pooled score
    held_out = [SimpleNamespace(index=e["index"], n_test=e["sizes"]["test"], test_groups=e["groups"]) for e in described]
    findings += single_sample_fold_findings(held_out, prep.task.unit, corpus, oof, scorer, prep.task.primary, notes)
    findings += model_below_baseline_findings(exp.model.name, metrics, baseline_pooled, notes.add,
                                              paired_on(prep.task, y, oof, baseline_oof, targets, groups, "oof", seed=exp.seed))
    test_cis = {} if test_ci is None else {key: v.as_dict() for key, v in test_ci.items()}

    predictions = prediction_frame(corpus, oof, "oof", no_groups)
    predictions.insert(3, "fold", fold_of)
    if test is not None and test_pred is not None:  # fold 0: the final model, refitted on every cross-validated row
        test_frame = prediction_frame(test, test_pred, "test", dev_groups)
        test_frame.insert(3, "fold", 0)
        predictions = pd.concat([predictions, test_frame], ignore_index=True)
    rows = []
    for name, p in baseline_oof.items():
        rows.append(baseline_frame(corpus, p, "oof", name, targets, fold_of))
        if name in test_baselines and test is not None:
            rows.append(baseline_frame(test, test_baselines[name], "test", name, targets, 0))
    history = history or [{"fold": e["index"], "epoch": 0, **{f"test_{key}": v for key, v in e["metrics"]["test"].items()}}
                          for e in described]
    timings["total"] = time.perf_counter() - t0
    neural = prep.estimator.is_neural
    described_protocol = protocol.describe(len(folds), exp.seed, neural)
    scored_test = test is not None and test_pred is not None
    if final is None:
        described_protocol["final_model"] = "none: the out-of-fold scores only (a sweep or ablation trial)"
    summary = {
        **summary_facts(prep, notes),
        "metrics": metrics, "baselines": baseline_pooled, "baseline_fit_seconds": baseline_seconds,
        "best_epoch": epochs or 0, "epochs_run": epochs or 0, "n_params": n_params,
        "timings": {**timings, "per_fold": timings["folds"] / len(folds), "per_epoch": None},
        "selection": {"split": "inner validation of each training fold" if neural else None,
                      "monitor": prep.monitor, "test_used_for_selection": False,
                      "test_evaluated_once": test is None or scored_test},
        "splits": {"oof": len(corpus), **({"test": len(test)} if scored_test and test is not None else {})},
        "n_groups": {"oof": int(corpus.frame["group"].nunique()),
                     **({"test": int(test.frame["group"].nunique())} if scored_test and test is not None else {})},
        "protocol": described_protocol, "folds": described,
        "pooled": pooled, "unit": prep.task.unit,
        "cis": {"pooled": {key: v.as_dict() for key, v in cis.items()}, **({"test": test_cis} if test_cis else {})},
        "refit_full": final is not None, "scores_only": prep.scores_only, "findings": findings, "fit": refit_facts,
    }
    if isinstance(protocol, CrossCorpus) and test is not None and test_pred is not None:
        summary["cross_corpus"] = cross_corpus_section(prep, corpus, pooled, cis, test, metrics["test"], test_pred, test_cis)
    return Outcome(predictions, pd.concat(rows, ignore_index=True) if rows else None, history, final, summary,
                   checkpoint_entries(prep))


def cross_corpus_section(prep: Prepared, rows: Corpus, within: dict[str, float], within_cis: dict[str, Any],
                         test: Corpus, cross: dict[str, float], test_pred: np.ndarray,
                         cross_cis: dict[str, Any]) -> dict[str, Any]:
    """summary.json's ``cross_corpus``: within-corpus (leave-one-group-out inside the training
    corpora) and cross-corpus scores side by side, each with intervals resampling the groups
    (speakers) of the corpus scored; per test corpus when there are several; the samples the
    label maps left out; the normalisation the model applied."""
    from .evaluation.bootstrap import bootstrap_scores

    def described(part: Corpus) -> dict[str, Any]:
        return {"corpora": sorted(set(part.frame["corpus"].astype(str))), "n": len(part),
                "n_groups": int(part.frame["group"].nunique())}

    out: dict[str, Any] = {
        "within": {**described(rows), "protocol": "leave_one_group_out", "metrics": within,
                   "cis": {k: v.as_dict() for k, v in within_cis.items()}},
        "cross": {**described(test), "metrics": cross, "cis": cross_cis},
        "normalisation": normalisation(prep.exp.model.config_params().get("standardize", "global")),
        "dropped": prep.corpus.meta.get("dropped", {}), "unit": prep.task.unit,
    }
    names = test.frame["corpus"].astype(str)
    if names.nunique() > 1:  # one line per test corpus, each with its own speakers resampled
        scorer = make_scorer(prep.task, test.targets, set(rows.frame["group"].astype(str)))
        per: dict[str, Any] = {}
        for name in dict.fromkeys(names):
            mask = (names == name).to_numpy()
            part = test.subset(mask)
            ci = bootstrap_scores(prep.task, part.target_matrix(), test_pred[mask], part.targets,
                                  part.frame["group"].astype(str).to_numpy())
            per[name] = {**described(part), "metrics": scorer(part, test_pred[mask]),
                         "cis": {k: v.as_dict() for k, v in ci.items()}}
        out["per_corpus"] = per
    return out


def _fold_line(index: int, n_folds: int, seconds: float, elapsed: float) -> None:
    """``fold 2/5: 3.1 s (ETA 0:09)`` on stderr (progress), when folds take a while."""
    left = n_folds - index
    if progress.mode() == "bar" or elapsed >= progress.MIN_STEP_SECONDS:
        progress.say(f"fold {index}/{n_folds}: {seconds:.1f} s"
                     + (f" (ETA {progress.eta_text(elapsed / index * left)})" if left else ""))


def normalisation(standardize: Any) -> str:
    """``model.standardize`` in words: the mode, or the modes the inner folds chose from.

    >>> normalisation("group"), normalisation(["group", "global"])
    ('group', 'group or global (chosen by inner folds)')
    """
    if isinstance(standardize, (list, tuple)):
        return " or ".join(map(str, standardize)) + " (chosen by inner folds)"
    return str(standardize)
