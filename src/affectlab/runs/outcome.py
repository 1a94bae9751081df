"""What one run produced, before it is written: :meth:`RunRecorder.record` writes an :class:`Outcome`.

The protocol runner (:func:`affectlab.runner.run_protocol`) and transfer return one; nothing is
written to the run folder until the whole run has worked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..models.base import Estimator
from .summary import RunSummary


@dataclass
class Outcome:
    """What one run produced: the tables and the summary a run directory holds, and the final model."""

    predictions: pd.DataFrame
    baselines: pd.DataFrame | None
    history: list[dict[str, Any]]
    final: Estimator | None
    summary: "dict[str, Any] | RunSummary"
    #: checkpoint.ckpt's entries beside the final model's state: ``model``, ``params``, ``targets``,
    #: ``features`` (the text encoder; numeric columns by name) and the resolved ``config``
    checkpoint: dict[str, Any] = field(default_factory=dict)
    #: further tables (``stages.csv``...) and text files (``transfer.md``) of the run directory
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
