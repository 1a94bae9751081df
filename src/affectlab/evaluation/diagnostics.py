"""Diagnostics: each a function that looks at predictions (or a run) and returns findings.

A :class:`Finding` has a ``code``, a ``severity`` (``info``, ``warning``, ``error``) and a
one-line ``message``. Thresholds are chosen so that planted faults (sign flips, collapsed or
shrunken predictions, tiny test sets, leaked ids) are caught, while clean predictions of a
decent model (CCC 0.6-0.8 on a few hundred samples) get no warning; every check that could
be noise asks the bootstrap interval first.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.normal(size=300)
>>> [f.code for f in check_sign(y, -y + rng.normal(scale=0.3, size=300))]
['SIGN_INVERTED']
>>> check_sign(y, y + rng.normal(scale=0.5, size=300))
[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics.classification import majority_class
from ..metrics.regression import ccc as _ccc
from ..metrics.regression import pearson as _pearson
from .bootstrap import Interval, PairedResult, bootstrap_ci, bootstrap_diff

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "error")

#: prediction sd / label sd below this: collapsed (a model trained with MSE on a weak signal
#: shrinks towards the mean, r≈ratio; below 0.25 the predictions say little about spread)
COLLAPSE_RATIO = 0.25
#: ... or below this and well below the correlation (a model fitted for MSE has ratio ≈ r;
#: much less than r means the predictions were shrunk beyond what the signal explains)
SHRUNK_RATIO = 0.5
SHRUNK_OF_R = 0.6
#: correlation this high but CCC this far below it: the scale or offset is wrong. Gold plus
#: independent noise has CCC/r = 2r/(1+r²): ≥ 0.92 for CCC ≥ 0.6, so 0.85 leaves a margin.
SCALE_MIN_R = 0.3
SCALE_CCC_FRACTION = 0.85
SCALE_MIN_GAP = 0.08
#: a headline correlation-type interval wider than this cannot support a conclusion
SMALL_SAMPLE_WIDTH = 0.3
#: fewer rows (or groups, when groups are resampled) than this: too small whatever the interval says
SMALL_SAMPLE_MIN_ROWS = 30
SMALL_SAMPLE_MIN_GROUPS = 10
#: train-val gap of a correlation-type metric counted as large
OVERFIT_GAP = 0.15
#: one class predicted for at least this share of the samples ...
CLASS_COLLAPSE_SHARE = 0.9
#: ... while the gold has that class this much less often: collapsed onto one class
CLASS_COLLAPSE_EXCESS = 0.1


@dataclass(frozen=True)
class Finding:
    """One diagnostic result: a stable code, a severity and a one-line message."""

    code: str
    severity: Severity
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        object.__setattr__(self, "message", " ".join(self.message.split()))

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


def worst(findings: Sequence[Finding]) -> str | None:
    """The highest severity among findings (``None`` when there are none)."""
    ranks = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[max(ranks)] if ranks else None


def _label(target: str | None) -> str:
    return f"{target}: " if target else ""


# --------------------------------------------------------------------------- prediction checks

def check_nonfinite(pred: np.ndarray, target_names: Sequence[str], source: str = "predictions") -> list[Finding]:
    """NaN or infinite predictions: an error (those rows are left out of every metric).

    >>> check_nonfinite(np.array([[1.0], [np.nan]]), ["v"])[0].code
    'NONFINITE_INPUTS'
    """
    pred = np.asarray(pred, dtype=float).reshape(len(pred), -1)
    out = []
    for j, t in enumerate(target_names):
        bad = ~np.isfinite(pred[:, j])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            out.append(Finding("NONFINITE_INPUTS", "error",
                               f"{source}: {int(bad.sum())} of {len(bad)} pred_{t} values are NaN or infinite "
                               f"(first in data row {i + 1}); those rows are left out of the {t} metrics"))
    return out


def require_finite_predictions(pred: np.ndarray, ids: Sequence, target_names: Sequence[str], who: str,
                               where: str) -> None:
    """Refuse (one line) predictions with a NaN or infinite value, the check :func:`check_nonfinite`
    makes in ``evaluate``: ``train`` would otherwise score them as CCC 0 (or NaN) and save them
    with exit code 0. ``who`` is the model or baseline, ``where`` the rows (``val``, ``fold 2``...).

    >>> require_finite_predictions(np.array([[0.1], [np.nan]]), ["a", "b"], ["v"], "model my:Model", "val")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: model my:Model predicted NaN or infinite values on val: 1 of 2 pred_v values (first: id 'b'); a model must predict a finite number for every row
    >>> require_finite_predictions(np.array([[0.1], [0.2]]), ["a", "b"], ["v"], "model m", "val")
    """
    from ..core.errors import AffectlabError

    pred = np.asarray(pred, dtype=float).reshape(len(pred), -1)
    for j, t in enumerate(target_names):
        bad = ~np.isfinite(pred[:, j])
        if bad.any():
            first = list(ids)[int(np.flatnonzero(bad)[0])]
            raise AffectlabError(f"{who} predicted NaN or infinite values on {where}: {int(bad.sum())} of {len(bad)} "
                                 f"pred_{t} values (first: id {str(first)!r}); a model must predict a finite number "
                                 "for every row")


def check_single_sample_folds(folds: Sequence, unit: str, n_pooled: int, key: str = "score",
                              pooled: float | None = None, without: float | None = None) -> list[Finding]:
    """SINGLE_SAMPLE_FOLD: cross-validation folds that hold out a single sample (a speaker with one
    recording under leave-one-speaker-out): the fold's own scores are undefined, and the finding
    says what the sample does to the pooled score (``pooled``: the score of every out-of-fold row,
    ``without``: the same without those samples). ``folds``: objects with ``index``, ``n_test``
    and ``test_groups`` (a fold of :func:`affectlab.runner.run_protocol`).

    >>> from types import SimpleNamespace as F
    >>> f = check_single_sample_folds([F(index=1, n_test=9, test_groups=["a"]), F(index=2, n_test=1, test_groups=["solo"])],
    ...                               "speaker", 10, "ccc", 0.788, 0.791)[0]
    >>> f.code, f.severity
    ('SINGLE_SAMPLE_FOLD', 'warning')
    >>> f.message
    "fold 2 holds out a single sample (speaker 'solo', its only one): that fold's own scores are undefined (NaN); the sample still counts as 1 of the 10 pooled out-of-fold rows, predicted by a model that never saw its speaker, and the pooled interval resamples it as a whole speaker: pooled ccc 0.788 with it, 0.791 without"
    """
    single = [f for f in folds if int(f.n_test) == 1]
    if not single:
        return []
    names = ", ".join(f"{unit} {g!r}" for f in single for g in list(f.test_groups)[:1])
    which = (f"fold {single[0].index} holds out a single sample ({names}, its only one)" if len(single) == 1 else
             f"{len(single)} folds ({', '.join(str(f.index) for f in single[:5])}{', ...' if len(single) > 5 else ''}) "
             f"hold out a single sample each ({names if len(single) <= 5 else unit + 's with one sample'})")
    effect = ""
    if pooled is not None and without is not None:
        effect = f": pooled {key} {pooled:.3f} with {'it' if len(single) == 1 else 'them'}, {without:.3f} without"
    n = len(single)
    return [Finding("SINGLE_SAMPLE_FOLD", "warning",
                    f"{which}: {'that fold' if n == 1 else 'those folds'}'s own scores are undefined (NaN); "
                    f"{'the sample still counts' if n == 1 else 'the samples still count'} as {n} of the {n_pooled} "
                    f"pooled out-of-fold rows, predicted by a model that never saw {'its' if n == 1 else 'their'} {unit}, "
                    f"and the pooled interval resamples {'it' if n == 1 else 'each'} as a whole {unit}{effect}")]


def single_sample_fold_findings(folds: Sequence, unit: str, corpus, oof: np.ndarray, scorer, key: str,
                                notes=None) -> list[dict]:
    """:func:`check_single_sample_folds` for a cross-validation run: the pooled ``key`` scored with
    ``scorer(corpus, predictions)`` on every out-of-fold row and without the single samples; each
    finding also goes to ``notes`` (``notes.add``). Returns the findings as dicts (the summary's)."""
    single = [f for f in folds if int(f.n_test) == 1]
    if not single:
        return []
    held = set(str(g) for f in single for g in f.test_groups)
    keep = ~corpus.frame["group"].astype(str).isin(held).to_numpy()
    pooled = scorer(corpus, oof).get(key)
    without = scorer(corpus.subset(keep), oof[keep]).get(key) if keep.sum() > 2 else None
    found = check_single_sample_folds(folds, unit, len(corpus), key, pooled, without)
    for f in found:
        if notes is not None:
            notes.add(f"{f.code}: {f.message}")
    return [f.as_dict() for f in found]


def check_missing_gold(gold: np.ndarray, target_names: Sequence[str]) -> list[Finding]:
    """Gold values that are missing: info (those rows are not scored for that target)."""
    gold = np.asarray(gold, dtype=float).reshape(len(gold), -1)
    out = []
    for j, t in enumerate(target_names):
        n = int(np.isnan(gold[:, j]).sum())
        if n:
            out.append(Finding("NONFINITE_INPUTS", "info", f"gold: {n} of {len(gold)} {t} labels are missing; those rows are not scored for {t}"))
    return out


def check_sign(y: np.ndarray, p: np.ndarray, groups=None, target: str | None = None, *,
               n_resamples: int = 300, seed: int = 0) -> list[Finding]:
    """SIGN_INVERTED: correlation reliably negative (its whole 95% interval below zero)."""
    r = _pearson(y, p)
    if not r < -0.1:
        return []
    ci = bootstrap_ci("pearson", y, p, groups, n_resamples=n_resamples, seed=seed)
    if ci.high >= 0:
        return []
    return [Finding("SIGN_INVERTED", "error",
                    f"{_label(target)}predictions correlate negatively with gold (r = {r:.3f}, 95% CI "
                    f"[{ci.low:.3f}, {ci.high:.3f}]); negated predictions would score r = {-r:.3f}: check the sign "
                    "of the target or of a loss/label transform")]


def check_collapsed(y: np.ndarray, p: np.ndarray, target: str | None = None) -> list[Finding]:
    """COLLAPSED_PREDICTIONS: prediction spread far below the labels' spread."""
    sy, sp = float(np.std(y)), float(np.std(p))
    if sy < 1e-12:
        return []
    ratio = sp / sy
    r = _pearson(y, p)
    if ratio >= COLLAPSE_RATIO and not (ratio < SHRUNK_RATIO and ratio < SHRUNK_OF_R * r):
        return []
    severity: Severity = "error" if sp < 1e-9 else "warning"
    if ratio < COLLAPSE_RATIO:
        what = "constant" if sp < 1e-9 else "nearly constant"
        why = f"(ratio {ratio:.2f} < {COLLAPSE_RATIO}); correlation {r:.3f} then says little"
    else:
        what = "shrunk towards the mean"
        why = f"(ratio {ratio:.2f}, far below what correlation {r:.3f} supports)"
    return [Finding("COLLAPSED_PREDICTIONS", severity,
                    f"{_label(target)}predictions are {what}: sd {sp:.4g} vs label sd {sy:.4g} {why}; "
                    f"CCC {_ccc(y, p):.3f} is the honest number")]


@dataclass(frozen=True)
class Recalibration:
    """``gold ≈ a + b * pred``, fitted so the recalibrated predictions match the fit data's mean and sd."""

    a: float
    b: float
    fitted_on: str

    def apply(self, p: np.ndarray) -> np.ndarray:
        return self.a + self.b * np.asarray(p, dtype=float)


def fit_recalibration(y: np.ndarray, p: np.ndarray, fitted_on: str) -> Recalibration | None:
    """Mean-and-sd matching map (maximises CCC among affine maps: CCC becomes Pearson r).

    >>> rc = fit_recalibration(np.array([0., 2., 4.]), np.array([1., 2., 3.]), "val")
    >>> (rc.a, rc.b)
    (-2.0, 2.0)
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if np.std(p) < 1e-12 or len(y) < 3:
        return None
    sign = 1.0 if _pearson(y, p) >= 0 else -1.0
    b = sign * float(np.std(y) / np.std(p))
    return Recalibration(float(np.mean(y) - b * np.mean(p)), b, fitted_on)


def check_scale(y: np.ndarray, p: np.ndarray, target: str | None = None,
                recal: Recalibration | None = None, scale_free_score: bool = False) -> list[Finding]:
    """SCALE_MISMATCH: high correlation, much lower CCC (scale or offset wrong), with a fix.

    ``recal`` is a recalibration fitted on validation data; without it the message reports
    the in-sample fit and says to fit it on validation data instead. With ``scale_free_score``
    (the task's headline is a correlation, e.g. SemEval's r_composite) the finding is ``info``:
    the map would change CCC, MAE and RMSE, not the score the task ranks by. (Measured on the demo's
    default run: a map fitted on its validation predictions lifts test CCC from 0.639 to 0.762 for
    valence, so the finding is true; recalibrating in the default costs 0.02 of score through
    clipping at the range ends, docs/semeval-modelling.md, so the default does not.)

    >>> y = np.linspace(-2, 2, 200); p = 0.4 * y + 0.3 + np.sin(np.arange(200)) * 0.2
    >>> [(f.code, f.severity) for f in check_scale(y, p)], [f.severity for f in check_scale(y, p, scale_free_score=True)]
    ([('SCALE_MISMATCH', 'warning')], ['info'])
    """
    r, c = _pearson(y, p), _ccc(y, p)
    if r < SCALE_MIN_R or c > SCALE_CCC_FRACTION * r or r - c < SCALE_MIN_GAP:
        return []
    ratio = float(np.std(p) / np.std(y)) if np.std(y) > 0 else float("nan")
    offset = float(np.mean(p) - np.mean(y))
    if recal is not None:
        after = _ccc(y, recal.apply(p))
        fix = (f"the linear recalibration gold ≈ {recal.a:.3f} + {recal.b:.3f}·pred fitted on {recal.fitted_on} "
               f"gives CCC {after:.3f} here")
    else:
        rc = fit_recalibration(y, p, "this file")
        fix = (f"a linear recalibration gold ≈ a + b·pred could reach CCC ≈ {r:.3f} (in-sample a = {rc.a:.3f}, "
               f"b = {rc.b:.3f}); fit a and b on validation data, never on the test labels") if rc else ""
    if scale_free_score:
        fix += ("; the task's score is a correlation, which such a map leaves unchanged: this concerns CCC, "
                "MAE and RMSE only")
    return [Finding("SCALE_MISMATCH", "info" if scale_free_score else "warning",
                    f"{_label(target)}Pearson r {r:.3f} but CCC {c:.3f}: predictions are off in scale (sd ratio "
                    f"{ratio:.2f}) or offset ({offset:+.3f}); {fix}")]


def check_small_sample(ci: Interval, key: str, n_rows: int) -> list[Finding]:
    """SMALL_SAMPLE: the headline interval is too wide (or too few units) to conclude anything."""
    few = ci.n_units < (SMALL_SAMPLE_MIN_GROUPS if ci.unit == "groups" else SMALL_SAMPLE_MIN_ROWS)
    wide = np.isfinite(ci.width) and ci.width > SMALL_SAMPLE_WIDTH
    if not (few or wide):
        return []
    unit = "groups" if ci.unit == "groups" else "samples"
    return [Finding("SMALL_SAMPLE", "warning",
                    f"{key} = {ci.value:.3f} with 95% CI [{ci.low:.3f}, {ci.high:.3f}] (width {ci.width:.2f}) from "
                    f"{n_rows} samples in {ci.n_units} {unit}: too few to support a conclusion or to rank models")]


def check_below_baseline(model_name: str, baseline: str, res: PairedResult, oracle: bool = False,
                         informative: bool = False) -> list[Finding]:
    """BELOW_BASELINE from a paired bootstrap of model minus baseline on one key.

    ``informative``: the model reliably carries signal a constant cannot (positive correlation),
    so losing on an error metric means mis-scaled predictions rather than a useless model.
    """
    if not (np.isfinite(res.a) and np.isfinite(res.b)):
        return []  # an undefined score (NaN) is explained by the run's NaN notes, not compared
    worse = (res.high < 0) if res.higher_is_better else (res.low > 0)
    label = f"{baseline} (an oracle constant from the gold labels)" if oracle else baseline
    text = (f"{model_name} {res.key} {res.a:.3f} vs {label} {res.b:.3f}: difference {res.diff:+.3f}, "
            f"95% CI [{res.low:+.3f}, {res.high:+.3f}], p = {res.p_value:.3g}")
    if worse:
        if oracle or informative:
            why = "predictions are over-spread or offset, see SCALE_MISMATCH" if informative else "not a usable baseline, only a reference"
            return [Finding("BELOW_BASELINE", "info", f"{text} ({why})")]
        return [Finding("BELOW_BASELINE", "warning", f"{text}: the model is worse than the baseline")]
    if not res.significant and not oracle:
        return [Finding("BELOW_BASELINE", "info", f"{text}: not distinguishable from the baseline")]
    return []


#: the split a run is judged on, first present (as :data:`affectlab.runs.vocabulary.HEADLINE_ORDER`)
_HEADLINE_SPLITS = ("test", "val", "oof", "full")


def check_model_below_baselines(model: str, metrics: Mapping[str, Mapping[str, float]],
                                baselines: Mapping[str, Mapping[str, Mapping[str, float]]], key: str = "score",
                                paired: Callable[[str, str], PairedResult | None] | None = None) -> list[Finding]:
    """MODEL_BELOW_BASELINE (warning) for each of the run's own baselines that scores better than the model on
    ``key`` of the headline split (test, else val, else oof): the baseline named, both scores, and where
    ``paired(baseline, split)`` gives one (a cross-validation run's out-of-fold predictions), whether the
    paired difference is significant.

    ``metrics``: the model's ``{split: {key: value}}``; ``baselines``: ``{name: {split: {key: value}}}``
    (as train writes them to ``summary.json``).

    >>> model = {"val": {"score": 0.41}, "test": {"score": 0.377}}
    >>> base = {"ridge_text": {"test": {"score": 0.380}}, "global_mean": {"test": {"score": 0.0}}}
    >>> [(f.code, f.severity, f.message) for f in check_model_below_baselines("mlp", model, base)]
    [('MODEL_BELOW_BASELINE', 'warning', 'mlp scores score 0.377 on test, below its baseline ridge_text (0.380): the baseline is the better model on this split')]
    >>> check_model_below_baselines("mlp", {"test": {"score": 0.5}}, base)
    []
    """
    split = next((s for s in _HEADLINE_SPLITS if key in metrics.get(s, {})), None)
    if split is None:
        return []
    a = float(metrics[split][key])
    from .scoring import higher_is_better

    hib = higher_is_better(key)
    out = []
    for name, by_split in baselines.items():
        b = by_split.get(split, {}).get(key)
        if b is None or not (np.isfinite(a) and np.isfinite(b)) or not ((b > a) if hib else (b < a)):
            continue
        text = f"{model} scores {key} {a:.3f} on {split}, below its baseline {name} ({b:.3f})"
        res = paired(name, split) if paired is not None else None
        if res is not None:
            verdict = ("significant" if res.significant else "not significant: the two are not distinguishable")
            text += (f"; paired bootstrap over {res.n_units} {res.unit}: difference {res.diff:+.3f}, 95% CI "
                     f"[{res.low:+.3f}, {res.high:+.3f}], p = {res.p_value:.3g} ({verdict})")
        else:
            text += ": the baseline is the better model on this split"
        out.append(Finding("MODEL_BELOW_BASELINE", "warning", text))
    return out


def model_below_baseline_findings(model: str, metrics: Mapping[str, Mapping[str, float]],
                                  baselines: Mapping[str, Mapping[str, Mapping[str, float]]],
                                  say: Callable[[str], None], paired: Callable[[str, str], PairedResult | None] | None = None,
                                  ) -> list[dict]:
    """:func:`check_model_below_baselines` as ``summary.json``'s finding dicts, each also said (a note)."""
    found = check_model_below_baselines(model, metrics, baselines, paired=paired)
    for f in found:
        say(f"{f.code}: {f.message}")
    return [f.as_dict() for f in found]


def paired_on(task, y: np.ndarray, pred: np.ndarray, baseline_preds: Mapping[str, np.ndarray], targets: Sequence,  # noqa: ANN001
              groups: np.ndarray | None, split: str, key: str = "score", seed: int = 0
              ) -> Callable[[str, str], PairedResult | None]:
    """``paired(baseline, split)`` for :func:`check_model_below_baselines`: a paired bootstrap of the model
    against that baseline on these predictions of ``split`` (computed only when asked: a model that loses)."""
    from .bootstrap import paired_bootstrap

    def paired(name: str, asked: str) -> PairedResult | None:
        if asked != split or name not in baseline_preds:
            return None
        return paired_bootstrap(task, y, pred, baseline_preds[name], targets, groups, [key], seed=seed).get(key)
    return paired


# --------------------------------------------------------------------------- category targets
# Labels are class indices (floats from TargetSpec.encode, NaN rows removed by the caller).

def _indices(x) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=float).ravel()).astype(np.int64)


def _class_name(i: int, classes: Sequence[str] | None) -> str:
    return repr(classes[i]) if classes is not None and 0 <= i < len(classes) else f"class {i}"


def check_class_collapse(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, target: str | None = None,
                         classes: Sequence[str] | None = None) -> list[Finding]:
    """CLASS_COLLAPSE: one class predicted for (almost) every sample, far more often than the gold has it.

    >>> check_class_collapse([0, 1, 2, 1] * 10, [1] * 40, 3)[0].severity
    'error'
    >>> check_class_collapse([0, 1, 2, 1] * 10, [0, 1, 2, 2] * 10, 3)
    []
    """
    t, p = _indices(y_true), _indices(y_pred)
    if t.size == 0:
        return []
    top = int(np.bincount(p).argmax())
    share, gold_share = float(np.mean(p == top)), float(np.mean(t == top))
    n_pred = len(np.unique(p))
    single = n_pred == 1 and len(np.unique(t)) > 1  # one class for everything: collapsed however rare the others
    if not single and (share < CLASS_COLLAPSE_SHARE or share - gold_share < CLASS_COLLAPSE_EXCESS):
        return []
    severity: Severity = "error" if n_pred == 1 else "warning"
    return [Finding("CLASS_COLLAPSE", severity,
                    f"{_label(target)}{_class_name(top, classes)} is predicted for {share:.0%} of the samples but is "
                    f"{gold_share:.0%} of the gold; {n_pred} of {n_classes} classes are ever predicted: the model "
                    "has collapsed onto one class (class imbalance, loss weighting or a learning rate to check)")]


def check_below_majority(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, train_labels: np.ndarray | None = None,
                         groups=None, target: str | None = None, *, n_resamples: int = 300,
                         seed: int = 0) -> list[Finding]:
    """BELOW_MAJORITY: accuracy reliably below always predicting the majority class.

    The majority class is the training labels' when given, else the gold's (then an oracle, a
    reference rather than a baseline). "Reliably": the paired bootstrap interval of model minus
    majority accuracy lies below zero (groups resampled when given).
    """
    t, p = _indices(y_true), _indices(y_pred)
    if t.size < 3:
        return []
    oracle = train_labels is None or len(train_labels) == 0
    major = majority_class(t if oracle else np.asarray(train_labels))
    res = bootstrap_diff("accuracy", t, p, np.full(t.size, major), groups, n_resamples=n_resamples, seed=seed)
    if not res.high < 0:
        return []
    source = "the gold's (an oracle reference)" if oracle else "the training labels'"
    return [Finding("BELOW_MAJORITY", "warning",
                    f"{_label(target)}accuracy {res.a:.3f} is below always predicting {source} majority class "
                    f"(class {major} of {n_classes}, accuracy {res.b:.3f}): difference {res.diff:+.3f}, 95% CI "
                    f"[{res.low:+.3f}, {res.high:+.3f}]; compare UAR, which a majority guess cannot inflate")]


def check_at_chance(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, groups=None, target: str | None = None,
                    uar_ci: Interval | None = None, *, n_resamples: int = 300, seed: int = 0) -> list[Finding]:
    """AT_CHANCE: the UAR interval includes chance, 1 / (classes in the gold), or lies below it.

    A constant or uniformly random guess has UAR 1 / k for the k classes present in the gold
    (UAR averages recall over those). ``uar_ci``: the interval from the run's bootstrap, if there.

    >>> y = np.arange(60) % 3
    >>> check_at_chance(y, y, 3)
    []
    >>> check_at_chance(y, (y + 1) % 3, 3)[0].severity   # always wrong: below chance
    'error'
    """
    t, p = _indices(y_true), _indices(y_pred)
    k = len(np.unique(t))
    if t.size < 3 or k < 2:
        return []
    chance = 1.0 / k
    ci = uar_ci if uar_ci is not None else bootstrap_ci("uar", t, p, groups, n_resamples=n_resamples, seed=seed)
    present = f" ({k} of the {n_classes} classes occur in the gold)" if k != n_classes else ""
    head = f"{_label(target)}UAR {ci.value:.3f}, 95% CI [{ci.low:.3f}, {ci.high:.3f}]"
    if ci.high < chance:
        return [Finding("AT_CHANCE", "error", f"{head} is below chance {chance:.3f}{present}: predictions are "
                                             "systematically wrong; check the class order of labels and predictions")]
    if ci.low <= chance:
        return [Finding("AT_CHANCE", "warning", f"{head} includes chance {chance:.3f}{present}: the model cannot "
                                               "be told apart from guessing")]
    return []


def check_classes(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, train_labels: np.ndarray | None = None,
                  groups=None, target: str | None = None, classes: Sequence[str] | None = None,
                  uar_ci: Interval | None = None, *, n_resamples: int = 300, seed: int = 0) -> list[Finding]:
    """Every category check on one target: CLASS_COLLAPSE, BELOW_MAJORITY, AT_CHANCE."""
    return (check_class_collapse(y_true, y_pred, n_classes, target, classes)
            + check_below_majority(y_true, y_pred, n_classes, train_labels, groups, target,
                                   n_resamples=n_resamples, seed=seed)
            + check_at_chance(y_true, y_pred, n_classes, groups, target, uar_ci, n_resamples=n_resamples, seed=seed))


# --------------------------------------------------------------------------- leakage

def _norm_text(s: str) -> str:
    return re.sub(r"\s+", " ", str(s).strip().lower())


def check_id_overlap(test_ids: Sequence[str], train_ids: Sequence[str], what: str = "id") -> list[Finding]:
    """LEAKAGE_ID_OVERLAP: sample ids of the evaluated file also occur in the training file."""
    test = pd.Series(list(map(str, test_ids)))
    shared = test[test.isin(set(map(str, train_ids)))]
    if shared.empty:
        return []
    return [Finding("LEAKAGE_ID_OVERLAP", "error",
                    f"{len(shared)} of {len(test)} evaluated {what}s also occur in the training data (e.g. "
                    f"{shared.iloc[0]!r}): scores on them measure memory, not generalisation")]


def check_text_overlap(test_texts: Sequence[str], train_texts: Sequence[str], min_chars: int = 40) -> list[Finding]:
    """LEAKAGE_TEXT_OVERLAP: the same text (case and spacing ignored) in training and evaluation.

    Short texts (``min_chars``), e.g. lists of feeling words, repeat legitimately and are ignored.
    """
    train = {_norm_text(t) for t in train_texts if isinstance(t, str) and len(t.strip()) >= min_chars}
    norm = [_norm_text(t) for t in test_texts if isinstance(t, str) and len(t.strip()) >= min_chars]
    shared = [t for t in norm if t in train]
    if not shared:
        return []
    frac = len(shared) / max(len(norm), 1)
    severity: Severity = "error" if frac >= 0.05 else "warning"
    return [Finding("LEAKAGE_TEXT_OVERLAP", severity,
                    f"{len(shared)} of {len(norm)} evaluated texts ({frac:.1%}) also occur verbatim in the training "
                    f"data (e.g. {shared[0][:40]!r}...)")]


def check_group_overlap(test_groups: "Sequence[str] | np.ndarray", train_groups: "Sequence[str] | np.ndarray", task: str, unit: str = "group") -> list[Finding]:
    """LEAKAGE_GROUP_OVERLAP: groups in both files; expected (info) for SemEval's seen users."""
    test = set(map(str, test_groups))
    shared = sorted(test & set(map(str, train_groups)))
    if not shared:
        return []
    from ..tasks import get_task

    if get_task(task).seen_subsets:
        return [Finding("LEAKAGE_GROUP_OVERLAP", "info",
                        f"{len(shared)} of {len(test)} evaluated users also occur in training: seen users, by the "
                        "task's design; compare seen/ and unseen/ scores")]
    return [Finding("LEAKAGE_GROUP_OVERLAP", "warning",
                    f"{len(shared)} of {len(test)} evaluated {unit}s also occur in training (e.g. {shared[0]!r}): "
                    f"a {unit}-disjoint protocol is expected, so scores are optimistic")]


# --------------------------------------------------------------------------- run-level checks

def check_overfitting(history: pd.DataFrame, monitor: str, higher_is_better: bool) -> list[Finding]:
    """OVERFITTING: train-val gap of the monitored metric large at the end and growing.

    The gap is direction-adjusted (train better than val is positive). "Growing": the last
    third of the epochs has a larger mean gap than the first third, by at least half the threshold.
    """
    col = f"gap_{monitor}"
    if col not in history:
        if f"train_{monitor}" in history and f"val_{monitor}" in history:
            gap = history[f"train_{monitor}"] - history[f"val_{monitor}"]
        else:
            return []
    else:
        gap = history[col]
    gap = pd.to_numeric(gap, errors="coerce").dropna().to_numpy(dtype=float)
    if not higher_is_better:
        gap = -gap
    if gap.size == 0:
        return []
    threshold = OVERFIT_GAP if higher_is_better else OVERFIT_GAP * max(1e-9, abs(float(history[f"val_{monitor}"].iloc[-1])))
    last = float(gap[-1])
    if last < threshold:
        return []
    if gap.size >= 3:
        k = max(1, gap.size // 3)
        growth = float(gap[-k:].mean() - gap[:k].mean())
        if growth < threshold / 2:
            return [Finding("OVERFITTING", "info", f"train-val gap of {monitor} is {last:.3f} but not growing over "
                                                   f"{gap.size} epochs (change {growth:+.3f})")]
        return [Finding("OVERFITTING", "warning",
                        f"train-val gap of {monitor} grew from {gap[:k].mean():.3f} to {gap[-k:].mean():.3f} over "
                        f"{gap.size} epochs (last {last:.3f}): the model memorises training data; more regularisation "
                        "or earlier stopping")]
    return [Finding("OVERFITTING", "info", f"train-val gap of {monitor} is {last:.3f} ({gap.size} epoch(s): "
                                           "cannot tell whether it grows)")]


def check_val_test(val_value: float, test_ci: Interval, key: str) -> list[Finding]:
    """VAL_TEST_MISMATCH: the validation score lies outside the test score's 95% interval."""
    if not (np.isfinite(val_value) and np.isfinite(test_ci.low)):
        return []
    if test_ci.contains(val_value) or abs(val_value - test_ci.value) < 0.05:
        return []
    return [Finding("VAL_TEST_MISMATCH", "warning",
                    f"validation {key} {val_value:.3f} lies outside the test 95% CI [{test_ci.low:.3f}, "
                    f"{test_ci.high:.3f}] (test {test_ci.value:.3f}): validation does not predict test here "
                    "(different users/videos, distribution shift, or selection on a noisy validation set)")]


# --------------------------------------------------------------------------- published references

def check_references(metrics: dict[str, Interval], references: Sequence, where: str,
                     who: str = "the model") -> list[Finding]:
    """ABOVE_STATE_OF_THE_ART: a result beyond the best published one by more than its interval.

    ``metrics`` maps mean-over-targets keys (``mae``, ``pearson``, ``score``...) to intervals;
    ``references`` are the task's :class:`~affectlab.tasks.Reference` results. A reference is
    exceeded when the interval's far end is still beyond it: the low end above a
    higher-is-better reference, the high end below a lower-is-better one (MAE). Every exceeded
    reference is named in one finding (a warning: numbers like these usually mean leakage, or
    features fitted on these labels upstream, rather than a breakthrough).

    >>> ci = Interval(0.97, 0.95, 0.99)
    >>> [f.code for f in check_references({"acc2_nozero": ci}, [_Ref("acc2_nozero", 0.864)], "test")]
    ['ABOVE_STATE_OF_THE_ART']
    >>> check_references({"acc2_nozero": Interval(0.88, 0.80, 0.95)}, [_Ref("acc2_nozero", 0.864)], "test")
    []
    """
    from ..tasks import Task

    beyond = []
    for ref in references:
        ci = metrics.get(ref.metric)
        if ci is None or not (np.isfinite(ci.low) and np.isfinite(ci.high)):
            continue
        higher = Task.higher_is_better(ref.metric)
        if (ci.low > ref.value) if higher else (ci.high < ref.value):
            beyond.append(f"{ref.metric} {ci.value:.3f} [{ci.low:.3f}, {ci.high:.3f}] vs {ref.value:.3f} "
                          f"({ref.system}, {ref.protocol})")
    if not beyond:
        return []
    return [Finding("ABOVE_STATE_OF_THE_ART", "warning",
                    f"{where}: {who} is beyond the best published result by more than its 95% CI: "
                    f"{'; '.join(beyond)}; suspect leakage or features fitted on these labels upstream")]


@dataclass(frozen=True)
class _Ref:
    """A bare reference for the doctests (the real one is :class:`affectlab.tasks.Reference`)."""

    metric: str
    value: float
    system: str = "best published"
    protocol: str = "official split"


# --------------------------------------------------------------------------- training data

#: columns that only a benchmark's test files carry (SemEval 2026 task 2: whether the test user was
#: seen in training); training on a labelled file that has one is worth a word
TEST_ONLY_COLUMNS = ("is_seen_user",)


def check_test_only_columns(frame: pd.DataFrame, source: str = "data") -> list[Finding]:
    """TEST_FILE_TRAINED_ON: the training data carries a column only test files have.

    >>> check_test_only_columns(pd.DataFrame({"id": ["1"], "valence": [0.5], "is_seen_user": [True]}), "test.csv")[0].message
    "test.csv: column 'is_seen_user' is one only test files carry (whether each test user was seen in training), yet the file has labels and is being trained on: make sure it is the training file, not the test set"
    >>> check_test_only_columns(pd.DataFrame({"id": ["1"], "valence": [0.5]}))
    []
    """
    return [Finding("TEST_FILE_TRAINED_ON", "warning",
                    f"{source}: column {col!r} is one only test files carry (whether each test user was seen in "
                    "training), yet the file has labels and is being trained on: make sure it is the training file, "
                    "not the test set")
            for col in TEST_ONLY_COLUMNS if col in frame.columns]


def note_test_only_columns(frame: pd.DataFrame, source: str, note: "Callable[[str], None]") -> None:
    """Pass :func:`check_test_only_columns`'s findings to ``note`` as one line each (train's notes)."""
    for f in check_test_only_columns(frame, source):
        note(f"{f.code}: {f.message}")
