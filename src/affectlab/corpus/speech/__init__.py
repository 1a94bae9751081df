"""Speech emotion corpora: recipes that turn a corpus's own file names into ``labels.csv``.

``affectlab data fetch emodb|ravdess|crema-d|tess|savee|urdu|turev-db|emovo|shemo`` copies a corpus's
recordings into the cache with a labels table that ``affectlab extract`` reads as is
(``docs/datasets.md``). The pieces: :mod:`.circumplex` (one emotion vocabulary and its valence and
arousal numbers), :mod:`.naming` (one parser per naming convention), :mod:`.corpora` (the
registry entries: where to get each corpus, its licence), :mod:`.fetch` (source -> cache).
"""

from __future__ import annotations

from .circumplex import CIRCUMPLEX, EMODB_CLASSES, EMOTIONS, circumplex
from .corpora import SpeechRecipe
from .fetch import LABELS, LABELS_ALL, label_frame
from .naming import Parsed, Skip

__all__ = ["CIRCUMPLEX", "EMODB_CLASSES", "EMOTIONS", "LABELS", "LABELS_ALL", "Parsed", "Skip", "SpeechRecipe",
           "circumplex", "label_frame"]
