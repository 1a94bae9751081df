"""SemEval-2026 Task 2 (subtask 1) CSV: ``user_id,text_id,text,timestamp,...,valence,arousal``.

A thin preset over the generic table reader: the column map and target ranges are the task's
(valence -2..2, arousal 0..2). Test files have no labels and add ``is_seen_user``.
"""

from __future__ import annotations

from pathlib import Path

from ..config import DataConfig, TargetConfig
from .base import Corpus
from .base import TargetSpec
from ..tasks import get_task
from .registry import register_reader
from .table import TableOptions, read_table_corpus

SEMEVAL_COLUMNS = {"id": "text_id", "group": "user_id", "order": "timestamp", "text": "text"}
# the ranges the semeval task declares (tasks/registry.py), as the reader's default target configs
SEMEVAL_TARGETS = [TargetConfig(name=t.name, low=t.low, high=t.high) for t in get_task("semeval").target_ranges]


def semeval_data_config(cfg: DataConfig | None = None) -> DataConfig:
    """The task's column map and targets, with anything the given config sets kept."""
    cfg = cfg or DataConfig()
    return DataConfig(
        format="semeval",
        columns={**SEMEVAL_COLUMNS, **cfg.columns},
        targets=cfg.targets or SEMEVAL_TARGETS,
        options=cfg.options,
    )


# the table reader's options (features), nothing else; the task's targets when the config declares none
@register_reader("semeval", options=TableOptions, reads_frames=True,
                 default_targets=tuple(TargetSpec(t.name, t.low, t.high) for t in SEMEVAL_TARGETS))
def read_semeval(path: str | Path, cfg: DataConfig | None = None, *, require_labels: bool = False,
                 ignore_labels: bool = False) -> Corpus:
    """Read a SemEval-style CSV (train with labels, or test without; ``ignore_labels``: labels unread)."""
    corpus = read_table_corpus(path, semeval_data_config(cfg), require_labels=require_labels, ignore_labels=ignore_labels)
    if "is_words" in corpus.frame:
        corpus.frame["is_words"] = corpus.frame["is_words"].astype(str).str.strip().str.lower().isin(["true", "1", "yes"])
    return corpus
