"""The task registry and the built-in tasks.

>>> get_task("semeval").unit, get_task("emodb").unit, get_task("mosi").primary
('user', 'speaker', 'mae')
>>> get_task("generic") is get_task("regression")
True
"""

from __future__ import annotations

from ..core.targets import TargetSpec
from ..core.errors import AffectlabError
from ..core.registry import Registry
from .base import Reference, Task
from .data import BenchmarkData
from .fingerprints import SEMEVAL2026_TASK2_TRAIN

TASKS: Registry[Task] = Registry("task")

#: where the built-in tasks' published results come from (each paper is cited there and in the docs)
REFERENCES_SOURCE = "../shared/references/published-results.md"
#: the data the built-in references belong to (docs/tasks.md). SemEval's official test set is held
#: back by the organisers: its best team score is compared with runs on the training file (the dev
#: protocol), recognised by its (user_id, text_id) pairs; MOSI and EmoDB by their id conventions,
#: which every release and held-out file of those corpora keeps.
SEMEVAL_DATA = BenchmarkData("SemEval-2026 Task 2", "training file, dev protocol", known="".join(SEMEVAL2026_TASK2_TRAIN))
MOSI_DATA = BenchmarkData("CMU-MOSI", "official split", id_pattern=r"[A-Za-z0-9_-]{11}\$_\$\d+")
# EmoDB: the file name, alone, with its folder, or as ``extract`` writes it (``<speaker>$_$<file stem>``)
EMODB_DATA = BenchmarkData("EmoDB", "535 recordings", id_pattern=r"(?:.*(?:/|\$_\$))?\d\d[ab]\d\d[WLEAFTN][a-z](?:\.wav)?")


def register_task(task: Task, *aliases: str) -> Task:
    """Register ``task`` under its name (and any aliases)."""
    for name in (task.name, *aliases):
        TASKS.register(name)(task)
    return task


def get_task(task: "str | Task") -> Task:
    """The registered task of that name (a Task passes through)."""
    if isinstance(task, Task):
        return task
    if not isinstance(task, str):
        raise AffectlabError(f"task must be a name or a Task, not {type(task).__name__}")
    return TASKS.get(task)


register_task(Task(
    "regression", "Generic regression on a table or corpus of your own: CCC is the score.",
    baselines=("global_mean", "ridge_text", "ridge_audio", "ridge_vision", "ridge_tabular"),
), "generic")

register_task(Task(
    "classification", "Generic classification: UAR (balanced accuracy) is the score.",
    baselines=("majority", "logistic_text", "logistic_audio", "logistic_vision", "logistic_tabular"),
))

register_task(Task(
    "semeval",
    "SemEval-2026 Task 2: longitudinal valence and arousal of users' texts; "
    "score = mean r_composite over the targets, seen and unseen users reported apart.",
    unit="user",
    extra_metrics=("r_within", "r_between", "r_composite"),
    score_metrics={"regression": "r_composite", "category": "uar"},
    score_scale_free=True,
    seen_subsets=True,
    baselines=("global_mean", "group_mean", "ridge_tfidf", "ridge_embedding", "ridge_group_offset"),
    id_columns=("user_id", "text_id"),
    target_names=("valence", "arousal"),
    target_ranges=(TargetSpec("valence", -2.0, 2.0), TargetSpec("arousal", 0.0, 2.0)),
    single_sample_note="user(s) have a single text: they count for r_between only, not r_within",
    references=(
        Reference("best competing system", "score", 0.611, "official test", REFERENCES_SOURCE, SEMEVAL_DATA),
    ),
))

register_task(Task(
    "mosi",
    "CMU-MOSI/MOSEI utterance sentiment in [-3, 3]: MAE is the headline (MMSA's metrics beside it); "
    "the bootstrap resamples videos.",
    unit="video",
    extra_metrics=("acc2_nonneg", "f1_nonneg", "acc2_nozero", "f1_nozero", "acc5", "acc7"),
    primary="mae",
    key_metrics=("mae", "pearson", "acc2_nonneg", "acc2_nozero", "acc7"),
    target_names=("sentiment",),
    target_ranges=(TargetSpec("sentiment", -3.0, 3.0),),
    # the file's own arrays beside text re-encoded from raw_text: a gap between ridge_text and
    # ridge_text_encoder shows features fitted upstream on these labels (docs/multimodal.md)
    baselines=("global_mean", "ridge_text", "ridge_audio", "ridge_vision", "ridge_text_encoder"),
    # best peer-reviewed CMU-MOSI results (official split, unsupervised BERT/COVAREP/Facet features);
    # the sources are listed in docs/multimodal.md
    references=(
        Reference("ALMT (Zhang et al., EMNLP 2023)", "acc2_nonneg", 0.8455, "official split", REFERENCES_SOURCE, MOSI_DATA),
        Reference("ALMT (Zhang et al., EMNLP 2023)", "acc2_nozero", 0.8643, "official split", REFERENCES_SOURCE, MOSI_DATA),
        Reference("ALMT (Zhang et al., EMNLP 2023)", "pearson", 0.805, "official split", REFERENCES_SOURCE, MOSI_DATA),
        Reference("ALMT (Zhang et al., EMNLP 2023)", "mae", 0.683, "official split", REFERENCES_SOURCE, MOSI_DATA),
    ),
))

register_task(Task(
    "emodb",
    "EmoDB acted emotional speech: 7 emotion classes (UAR) or arousal, speakers as the unit; "
    "the standard protocol is leave-one-speaker-out.",
    unit="speaker",
    baselines=("majority", "global_mean", "logistic_audio", "ridge_audio"),
    references=(
        Reference("eGeMAPS + SVM (Eyben et al. 2016)", "uar", 0.80, "LOSO, settings chosen over the test folds",
                  REFERENCES_SOURCE, EMODB_DATA),
    ),
))
