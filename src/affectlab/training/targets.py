"""What every network needs to know about its targets: output layout, loss terms, class weights, initial biases.

:func:`plan_targets` builds a :class:`TargetPlan` from the targets, the training fold's labels and
the training config; the network estimators (``mlp``, the fusion models, ``user_sequence``) and
:class:`~affectlab.training.module.AffectModule` share it, so regression, category and mixed
targets are handled the same way everywhere.

>>> import numpy as np
>>> from affectlab.config import TrainingConfig
>>> from affectlab.corpus.base import TargetSpec
>>> targets = (TargetSpec("emotion", kind="category", classes=("a", "b", "c")), TargetSpec("arousal", 0, 1))
>>> y = np.array([[0, 0.2], [0, 0.4], [1, np.nan], [2, 0.6]])
>>> plan = plan_targets(targets, y, TrainingConfig(class_weights="balanced"))
>>> plan.layout.widths, [t.ce for t in plan.terms], plan.class_weights[0].tolist()
((3, 1), [1.0, 0.0], [0.6666666666666666, 1.3333333333333333, 1.3333333333333333])
>>> [round(v, 3) for v in plan.init]  # balanced CE is lowest for uniform logits; arousal's mean
[0.0, 0.0, 0.0, 0.4]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..config import LossTerms, TrainingConfig
from ..corpus.base import TargetSpec
from ..core.errors import AffectlabError
from ..losses import balanced_class_weights, weighted_loss
from ..models.heads import OutputLayout


@dataclass
class TargetPlan:
    """Per-target loss terms and class weights, the network's output layout and initial output biases."""

    names: list[str]
    layout: OutputLayout
    terms: list[LossTerms]
    class_weights: list[torch.Tensor | None]
    init: tuple[float, ...]

    def loss(self, outputs: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """:func:`~affectlab.losses.weighted_loss` with this plan's layout and class weights."""
        return weighted_loss(outputs, target, mask, self.terms, self.names, self.layout.widths, self.class_weights)

    def numpy_loss(self, outputs: np.ndarray, y: np.ndarray) -> float:
        """The loss of (n, total) outputs against a (n, n_targets) target matrix with NaN for missing."""
        t = torch.from_numpy(np.nan_to_num(y))
        return float(self.loss(torch.from_numpy(np.asarray(outputs, dtype=np.float64)), t,
                               torch.from_numpy(~np.isnan(y)))[0])


def plan_targets(targets: Sequence[TargetSpec], y: np.ndarray, cfg: TrainingConfig,
                 model: str = "model") -> TargetPlan:
    """The plan for ``targets`` given the training fold's target matrix ``y`` (class indices, NaN missing).

    Loss terms come from :meth:`TrainingConfig.loss_for` (``cfg.losses``, else the one default per
    target kind). ``cfg.class_weights == "balanced"``
    weighs each class by ``n / (n_classes * n_c)`` on the labelled training rows. Initial biases
    are the constant that minimises each target's loss: the mean for regression, the log class
    priors for (unweighted) cross-entropy and zeros (uniform) for balanced cross-entropy.
    """
    try:
        layout = OutputLayout.from_targets(targets)
    except ValueError as err:
        raise AffectlabError(f"model {model}: {err}") from None
    terms: list[LossTerms] = []
    weights: list[torch.Tensor | None] = []
    init: list[float] = []
    for j, t in enumerate(targets):
        term = cfg.loss_for(t.name, t.kind)
        term.check_kind(t.name, t.is_category)
        terms.append(term)
        col = y[:, j][~np.isnan(y[:, j])]
        if not t.is_category:
            weights.append(None)
            init.append(float(col.mean()) if len(col) else 0.0)
            continue
        n_classes = len(t.classes)
        if cfg.class_weights == "balanced":
            weights.append(torch.from_numpy(balanced_class_weights(col, n_classes)))
            init.extend([0.0] * n_classes)
        else:
            weights.append(None)
            counts = np.bincount(col.astype(int), minlength=n_classes) + 1.0  # add-one: no log(0)
            init.extend(np.log(counts / counts.sum()).tolist())
    return TargetPlan([t.name for t in targets], layout, terms, weights, tuple(init))
