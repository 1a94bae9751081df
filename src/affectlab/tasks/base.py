"""The :class:`Task`: what a run predicts and how it is judged, declared once.

A Task names the metrics for each target kind, the primary metric (the one early stopping and
"which is better" use) and its direction, the unit the bootstrap resamples (users, videos,
speakers), the default baselines, the id columns of prediction files, and published reference
results where a benchmark has them. Modules ask the task; none tests a task's name.

>>> from affectlab.corpus.base import TargetSpec
>>> t = Task("demo", "a demo", unit="speaker")
>>> t.metric_names(TargetSpec("emotion", kind="category", classes=("a", "b")))
('accuracy', 'uar', 'macro_f1', 'weighted_f1')
>>> t.primary, t.higher_is_better("val_mae_valence"), t.higher_is_better("score")
('score', False, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..core.targets import TargetSpec
from .data import BenchmarkData

#: per-target metrics for every task, by target kind, in report order
REGRESSION_METRICS = ("ccc", "pearson", "mae", "rmse")
CATEGORY_METRICS = ("accuracy", "uar", "macro_f1", "weighted_f1")
#: the per-target metric averaged into ``score`` by default, by target kind
SCORE_METRICS = {"regression": "ccc", "category": "uar"}


@dataclass(frozen=True)
class Reference:
    """A published result: the best ``value`` of ``metric`` that ``system`` reported under ``protocol``.

    ``metric`` is a key the task reports for the mean over targets (``score``, ``mae``,
    ``pearson``, ``acc2_nozero``...); the task checks it when it is built. A result whose whole
    95% interval lies beyond it raises ``ABOVE_STATE_OF_THE_ART``
    (:func:`affectlab.evaluation.diagnostics.check_references`), but only on ``data`` when the
    reference names it (:class:`affectlab.tasks.data.BenchmarkData`: a run on other data of the
    same task type is not compared with it).
    """

    system: str
    metric: str
    value: float
    protocol: str
    source: str
    #: the benchmark data the result was measured on (None: any data of the task, e.g. a config's own)
    data: "BenchmarkData | None" = None


@dataclass(frozen=True)
class Task:
    """A registered kind of prediction problem (see the module docstring)."""

    name: str
    description: str
    #: what one group is; the bootstrap resamples groups, so this names the CI's unit
    unit: str = "group"
    regression_metrics: tuple[str, ...] = REGRESSION_METRICS
    category_metrics: tuple[str, ...] = CATEGORY_METRICS
    #: extra per-target metrics for regression targets (e.g. SemEval's r_within, MOSI's acc2)
    extra_metrics: tuple[str, ...] = ()
    #: per-target metric averaged over targets into ``score``, by target kind
    score_metrics: dict[str, str] = field(default_factory=lambda: dict(SCORE_METRICS))
    #: flat key of the headline metric (``score`` or e.g. ``mae``); early stopping monitors it
    primary: str = "score"
    #: the headline depends on correlations only (SemEval's r_composite): rescaling or shifting the
    #: predictions changes CCC, MAE and RMSE but not the score, so SCALE_MISMATCH is said as info
    score_scale_free: bool = False
    #: report seen and unseen groups separately (``seen/...``, ``unseen/...``)
    seen_subsets: bool = False
    #: baselines reported beside every model (those that cannot predict a target's kind are skipped)
    baselines: tuple[str, ...] = ("majority", "global_mean")
    #: columns that identify a row in prediction and gold files
    id_columns: tuple[str, ...] = ("id",)
    #: the few mean-over-targets keys a compact table shows (default: primary, then each kind's usual)
    key_metrics: tuple[str, ...] = ()
    #: a benchmark's fixed target names (empty: the ``pred_<target>`` columns of a file name them)
    target_names: tuple[str, ...] = ()
    #: a benchmark's targets with their declared ranges: evaluate refuses gold outside them
    target_ranges: tuple[TargetSpec, ...] = ()
    #: groups with a single sample count for between-group metrics only (said once at train time)
    single_sample_note: str = ""
    references: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        self.check_references(self.references)

    def known_metrics(self) -> tuple[str, ...]:
        """Every mean-over-targets key this task can report: ``score``, the primary key and each
        metric of either target kind."""
        return tuple(dict.fromkeys(("score", self.primary, *self.regression_metrics, *self.extra_metrics,
                                    *self.category_metrics)))

    def check_references(self, references: Sequence[Reference], where: str = "") -> None:
        """One line for a reference whose metric this task does not report (or whose value is no number).

        >>> Task("t", "d", references=(Reference("x", "bleu", 1.0, "p", "s"),))
        Traceback (most recent call last):
        ...
        affectlab.core.errors.AffectlabError: task t: reference 'x' names metric 'bleu', which the task does not report (it reports: score, ccc, pearson, mae, rmse, accuracy, uar, macro_f1, weighted_f1)
        """
        import math

        from ..core.errors import AffectlabError

        known = self.known_metrics()
        for ref in references:
            if ref.metric not in known:
                raise AffectlabError(f"{where or f'task {self.name}'}: reference {ref.system!r} names metric {ref.metric!r}, "
                                     f"which the task does not report (it reports: {', '.join(known)})")
            if not isinstance(ref.value, (int, float)) or isinstance(ref.value, bool) or not math.isfinite(ref.value):
                raise AffectlabError(f"{where or f'task {self.name}'}: reference {ref.system!r} value must be a finite number, "
                                     f"not {ref.value!r}")

    def metric_names(self, target: TargetSpec) -> tuple[str, ...]:
        """Per-target metric names for ``target``'s kind, in report order."""
        if target.is_category:
            return self.category_metrics
        return self.regression_metrics + self.extra_metrics

    def all_metric_names(self, targets: Sequence[TargetSpec]) -> tuple[str, ...]:
        """Every per-target metric the targets get, in report order, each once."""
        return tuple(dict.fromkeys(m for t in targets for m in self.metric_names(t)))

    def compact_keys(self, targets: Sequence[TargetSpec]) -> tuple[str, ...]:
        """Keys for a compact table: ``key_metrics`` when declared, else the primary metric followed
        by Pearson/MAE (regression) and accuracy/macro F1 (categories) as the targets have them."""
        if self.key_metrics:
            return self.key_metrics
        kinds = {t.kind for t in targets}
        usual = (("pearson", "mae") if "regression" in kinds else ()) + (("accuracy", "macro_f1") if "category" in kinds else ())
        return tuple(dict.fromkeys((self.primary, *usual)))

    def shown_metrics(self, targets: Sequence[TargetSpec]) -> tuple[str, ...]:
        """The mean-over-targets keys a table of results shows, headline first: the primary key (with
        one target under ``score``, that target's score metric, which equals it), each target's score
        key when there are several, the first three metrics of each kind the targets have (regression:
        CCC, r, MAE; categories: accuracy, UAR, macro F1), then the task's extra metrics. Presenters
        show those a run has, as many as fit.

        >>> t = Task("demo", "a demo")
        >>> t.shown_metrics([TargetSpec("v")])
        ('ccc', 'pearson', 'mae')
        >>> t.shown_metrics([TargetSpec("e", kind="category", classes=("a", "b"))])
        ('uar', 'accuracy', 'macro_f1')
        >>> t.shown_metrics([TargetSpec("v"), TargetSpec("a")])
        ('score', 'ccc_v', 'ccc_a', 'ccc', 'pearson', 'mae')
        """
        targets = tuple(targets) or (TargetSpec("y"),)
        head = self.primary
        if head == "score" and len(targets) == 1:
            head = self.score_metric(targets[0])
        keys = [head]
        if len(targets) > 1:
            keys += [f"{self.score_metric(t)}_{t.name}" for t in targets]
        kinds = {t.kind for t in targets}
        if "regression" in kinds:
            keys += self.regression_metrics[:3]
        if "category" in kinds:
            keys += self.category_metrics[:3]
        keys += self.extra_metrics
        return tuple(dict.fromkeys(keys))

    def score_metric(self, target: TargetSpec) -> str:
        return self.score_metrics[target.kind]

    def monitor(self, requested: str = "score") -> str:
        """The metric early stopping follows: ``requested``, or the primary one for ``score``."""
        return self.primary if requested == "score" else requested

    @staticmethod
    def higher_is_better(key: str) -> bool:
        """Direction of a flat score key such as ``val_ccc_valence``, ``seen/score`` or ``mae``."""
        from ..metrics import METRICS

        base = key.split("/")[-1]
        for prefix in ("train_", "val_", "test_"):
            if base.startswith(prefix):
                base = base[len(prefix):]
        if base == "score":
            return True
        # longest metric name first, so that "r_within_valence" is not read as "r"
        for metric in sorted(METRICS.names(), key=len, reverse=True):
            if base == metric or base.startswith(metric + "_"):
                return METRICS.get(metric).higher_is_better
        raise KeyError(f"no metric in {key!r}")
