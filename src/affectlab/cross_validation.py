"""Cross-validation as a run protocol: out-of-fold predictions, per-fold and pooled scores.

For each outer fold (``split.kind``: ``group_kfold``, ``leave_one_group_out`` or ``kfold``):

1. the fold's test part is set aside; nothing of it is seen until its predictions are made;
2. a network selects its epoch (early stopping) on an inner validation part carved out of the
   training part by group (``split.inner_fraction`` of its groups); a closed-form model is
   fitted on the whole training part and chooses its own hyper-parameters there (e.g. by inner
   group cross-validation) — selection never looks at the test fold;
3. the selected model and every baseline predict the test fold.

Every sample thus gets exactly one out-of-fold prediction. The run reports each fold's scores
and the pooled scores over all out-of-fold predictions with bootstrap intervals (the task's unit
resampled). ``predict`` uses a final model refitted on all the data (networks for the median of
the folds' selected epochs), documented in docs/protocols.md.

>>> import numpy as np, pandas as pd
>>> from affectlab.corpus.base import Corpus
>>> c = Corpus(pd.DataFrame({"id": list("abcdef"), "group": list("xxyyzz"), "order": range(6)}))
>>> [f.test_groups for f in plan_folds(c, "leave_one_group_out", 5, 0)]
[['x'], ['y'], ['z']]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import progress
from .corpus.base import Corpus
from .corpus.splits import cross_validation_folds, inner_validation
from .core.errors import AffectlabError
from .evaluation.diagnostics import require_finite_predictions
from .models.base import Estimator, FitContext, FitResult


@dataclass
class Fold:
    """One outer fold: its test mask and the groups it holds out."""

    index: int
    test: np.ndarray
    test_groups: list[str]


@dataclass
class FoldOutcome:
    """What one fold produced (all numbers traceable to predictions.csv's ``fold`` column)."""

    index: int
    n_train: int
    n_inner_val: int
    n_test: int
    test_groups: list[str]
    best_epoch: int
    seconds: float
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """The summary's entry for this fold (``runs.summary.Fold``)."""
        return {"index": self.index, "metrics": {"test": self.metrics},
                "sizes": {"train": self.n_train, "inner_val": self.n_inner_val, "test": self.n_test},
                "groups": self.test_groups, "best_epoch": self.best_epoch, "seconds": self.seconds,
                "baselines": self.baselines}


@dataclass
class CrossValidationResult:
    """Out-of-fold predictions of the model and the baselines, and each fold's outcome."""

    oof: np.ndarray
    fold_of: np.ndarray
    baseline_oof: dict[str, np.ndarray]
    folds: list[FoldOutcome]
    n_params: int = 0

    def median_best_epoch(self) -> int:
        epochs = [f.best_epoch for f in self.folds if f.best_epoch > 0]
        return int(np.median(epochs)) if epochs else 0


def plan_folds(corpus: Corpus, kind: str, k: int, seed: int) -> list[Fold]:
    """The outer folds of a protocol, each with the groups it holds out."""
    groups = corpus.frame["group"].astype(str).to_numpy()
    return [Fold(i, mask, sorted(set(groups[mask]))) for i, mask in enumerate(cross_validation_folds(corpus, kind, k, seed))]


def split_off_test(corpus: Corpus, test_split: str | None) -> tuple[Corpus, Corpus | None]:
    """(the rows cross-validation runs over, the test rows) for ``split.test_split``.

    With a ``test_split`` (e.g. MMSA's ``test``) its rows are set aside before the folds are
    planned: no fold trains, selects or is scored on them; the final model, refitted on the other
    rows, predicts them once. Without one, every row takes part in the folds and there is no test.
    Refused in one line: data without a split column, a split the file lacks, a test split that
    holds every row.

    >>> import pandas as pd
    >>> c = Corpus(pd.DataFrame({"id": list("abcd"), "group": list("xyzw"), "order": 0.0,
    ...                          "split": ["train", "valid", "test", "test"]}))
    >>> dev, test = split_off_test(c, "test")
    >>> list(dev.frame["id"]), list(test.frame["id"])
    (['a', 'b'], ['c', 'd'])
    """
    if test_split is None:
        return corpus, None
    name = corpus.name or "data"
    if "split" not in corpus.frame:
        raise AffectlabError(f"{name}: split.test_split is {test_split!r} but the data has no split column "
                             "(data.columns.split, or a column named 'split')")
    splits = corpus.frame["split"].astype(str)
    is_test = (splits == test_split).to_numpy()
    if not is_test.any():
        raise AffectlabError(f"{name}: split.test_split is {test_split!r}, but the file has no such split "
                             f"(it has: {', '.join(sorted(set(splits)))})")
    if is_test.all():
        raise AffectlabError(f"{name}: split.test_split {test_split!r} holds every row; nothing is left to cross-validate")
    return corpus.subset(~is_test), corpus.subset(is_test)


def abbreviate(names: list[str], n: int = 3) -> str:
    """The first ``n`` names, then ``...`` when there are more.

    >>> abbreviate(["s1", "s2", "s3", "s4"]), abbreviate(["s1"])
    ('s1, s2, s3...', 's1')
    """
    return ", ".join(names[:n]) + ("..." if len(names) > n else "")


def check_classes_in_training_folds(corpus: Corpus, folds: list[Fold]) -> None:
    """Refuse a protocol whose training part lacks a class that its test fold holds.

    A model cannot predict a class it never saw: the fold's score would be silently capped.
    """
    y = corpus.target_matrix()
    for j, t in enumerate(corpus.targets):
        if not t.is_category:
            continue
        for fold in folds:
            train_classes = set(y[~fold.test, j][~np.isnan(y[~fold.test, j])].astype(int))
            test_classes = set(y[fold.test, j][~np.isnan(y[fold.test, j])].astype(int))
            missing = sorted(test_classes - train_classes)
            if missing:
                raise AffectlabError(
                    f"{corpus.name or 'data'}: fold {fold.index + 1} (held out: {abbreviate(fold.test_groups)}): class {t.classes[missing[0]]!r} "
                    f"of target {t.name!r} never occurs in its training part; use fewer folds, group_kfold, or merge rare classes")


def run_folds(corpus: Corpus, folds: list[Fold], make_estimator: Callable[[], Estimator],
              baselines: dict[str, Callable[[], Estimator]], make_context: Callable[[str | None], FitContext],
              scorer: Callable[[Corpus, np.ndarray], dict[str, float]], inner_fraction: float, seed: int,
              by_group: bool = True, on_fold: Callable[[FoldOutcome], None] | None = None) -> CrossValidationResult:
    """Train and predict every fold (see the module docstring); ``make_context(work_dir_suffix)``
    gives the fit context (``None``: no work folder, for the baselines)."""
    n, k = len(corpus), len(corpus.targets)
    oof = np.full((n, k), np.nan)
    fold_of = np.full(n, -1, dtype=int)
    baseline_oof = {name: np.full((n, k), np.nan) for name in baselines}
    outcomes: list[FoldOutcome] = []
    n_params = 0
    start = time.perf_counter()
    for fold in folds:
        t0 = time.perf_counter()
        train, test = corpus.subset(~fold.test), corpus.subset(fold.test)
        estimator = make_estimator()
        if estimator.is_neural:
            inner = inner_validation(train, inner_fraction, seed + fold.index, by_group=by_group)
            fit_train, fit_val = train.subset(~inner), train.subset(inner)
        else:
            fit_train, fit_val = train, None
        result: FitResult = estimator.fit(fit_train, fit_val, make_context(f"fold{fold.index + 1}"))
        n_params = result.n_params or n_params
        pred = estimator.predict(test)
        require_finite_predictions(pred, test.frame["id"], [t.name for t in corpus.targets], "the model", f"fold {fold.index + 1}")
        oof[fold.test] = pred
        fold_of[fold.test] = fold.index + 1
        outcome = FoldOutcome(fold.index + 1, len(fit_train), 0 if fit_val is None else len(fit_val), len(test),
                              fold.test_groups, result.best_epoch, 0.0, scorer(test, pred),
                              history=[{"fold": fold.index + 1, **row} for row in result.history])
        for name, make in baselines.items():
            b = make()
            with progress.step(f"fold {fold.index + 1}/{len(folds)}: baseline {name}"):
                b.fit(train, None, make_context(None))
            bp = b.predict(test)
            require_finite_predictions(bp, test.frame["id"], [t.name for t in corpus.targets], f"baseline {name}", f"fold {fold.index + 1}")
            baseline_oof[name][fold.test] = bp
            outcome.baselines[name] = scorer(test, bp)
        outcome.seconds = time.perf_counter() - t0
        outcomes.append(outcome)
        _fold_line(outcome, len(folds), time.perf_counter() - start)
        if on_fold is not None:
            on_fold(outcome)
    return CrossValidationResult(oof, fold_of, baseline_oof, outcomes, n_params)


def _fold_line(outcome: FoldOutcome, n_folds: int, elapsed: float) -> None:
    """``fold 2/5: 3.1 s (ETA 0:09)`` on stderr (progress), when folds take a while."""
    left = n_folds - outcome.index
    if progress.mode() == "bar" or elapsed >= progress.MIN_STEP_SECONDS:
        progress.say(f"fold {outcome.index}/{n_folds}: {outcome.seconds:.1f} s"
                     + (f" (ETA {progress.eta_text(elapsed / outcome.index * left)})" if left else ""))


def seed_variation(kind: str, neural: bool) -> str:
    """What a different ``--seed`` changes under protocol ``kind`` (said after a multi-seed run).

    >>> seed_variation("leave_one_group_out", False)
    'nothing: the folds and the closed-form fits are deterministic'
    >>> seed_variation("dev", True)
    'model initialisation and data order, held-out groups'
    """
    varied = ["model initialisation and data order"] if neural else []
    if kind in ("group_kfold", "kfold"):
        varied.append("fold assignment")
    if kind in ("dev", "group"):
        varied.append("held-out groups")
    if neural and kind in ("group_kfold", "kfold", "leave_one_group_out"):
        varied.append("inner validation groups")
    return ", ".join(varied) if varied else "nothing: the folds and the closed-form fits are deterministic"


def describe_protocol(kind: str, k: int, n_folds: int, split_seed: int, seed: int, neural: bool,
                      inner_fraction: float) -> dict[str, Any]:
    """What the protocol was and what a different seed would vary (printed and stored in the summary)."""
    return {"kind": kind, "k": k if kind != "leave_one_group_out" else n_folds, "n_folds": n_folds,
            "seed": split_seed, "model_seed": seed, "inner_fraction": inner_fraction if neural else None,
            "folds_hold_out": "samples" if kind == "kfold" else "groups",
            "selection": "inner validation part of each training fold (by group)" if neural
            else "inside each training fold (the model's own inner cross-validation, if any)",
            "varied": seed_variation(kind, neural),
            "final_model": "refitted on all data"}
