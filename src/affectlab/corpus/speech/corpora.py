"""The speech emotion corpora ``affectlab data`` knows: where to get each, its licence, its naming convention.

Each is a :class:`~affectlab.corpus.datasets.DatasetSpec` in :data:`~affectlab.corpus.datasets.DATASETS`
whose ``recipe`` says how to read labels from the file names (:mod:`.naming`). No audio checksum is
pinned: the archives are not ours to freeze (EmoDB and URDU circulate resampled; the copies under
``../shared/data`` are), so a fetch records each file's sha256 in ``MANIFEST.json`` and later fetches
verify against that record. ``archive_url`` is set only where the corpus can be downloaded
anonymously as one zip; the others say where to get it and ask for ``--source``.

>>> from affectlab.corpus.datasets import DATASETS
>>> spec = DATASETS.get("ravdess")
>>> spec.licence, spec.recipe.recordings
('CC BY-NC-SA 4.0', 1440)
>>> DATASETS.get("savee").archive_url
''
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..datasets import DATASETS, DatasetSpec
from . import naming
from .naming import Parser


@dataclass(frozen=True)
class SpeechRecipe:
    """How a speech corpus becomes a cache folder: ``wav/...`` plus ``labels.csv``."""

    title: str  # the corpus's usual name, for messages
    parse: Parser
    example: str  # a file name that follows the convention, for messages
    recordings: int | None  # how many recordings the corpus documents (a different count is said, not refused)
    how_to_get: str  # the one line of a fetch without --source or --url where there is no default download

    def fetch(self, spec: DatasetSpec, cache: Any, **options: Any) -> Any:
        """:func:`affectlab.corpus.datasets.fetch` of a speech corpus: recordings plus ``labels.csv``
        parsed from the file names (:func:`affectlab.corpus.speech.fetch.fetch_speech`)."""
        from .fetch import fetch_speech

        return fetch_speech(spec, cache, **options)


def _register(name: str, *, recipe: SpeechRecipe, description: str, licence: str, homepage: str,
              archive_url: str = "", speakers: str, emotions: str, size: str) -> DatasetSpec:
    return DATASETS.register(name)(DatasetSpec(
        name=name, description=description, licence=licence, homepage=homepage, archive_url=archive_url,
        speakers=speakers, emotions=emotions, size=size, recipe=recipe))


def _fetch_line(name: str, where: str) -> str:
    return f"{name}: {where}, then run 'affectlab data fetch {name} --source DIR_OR_ZIP'"


EMODB = _register(
    "emodb",
    recipe=SpeechRecipe("EmoDB", naming.parse_emodb, "03a01Fa.wav", 535, ""),
    description="Berlin Database of Emotional Speech: German sentences acted by 10 speakers in 7 emotions",
    licence="none stated (free download)",
    homepage="http://emodb.bilderbar.info/",
    archive_url="http://emodb.bilderbar.info/download/download.zip",
    speakers="10 (5 f, 5 m)",
    emotions="anger, boredom, disgust, fear, happiness, neutral, sadness",
    size="535 recordings",
)

RAVDESS = _register(
    "ravdess",
    recipe=SpeechRecipe("RAVDESS", naming.parse_ravdess, "03-01-06-01-02-01-12.wav", 1440, ""),
    description="Ryerson Audio-Visual Database of Emotional Speech and Song, audio-only speech: two "
                "English statements by 24 actors, 8 emotions at two intensities",
    licence="CC BY-NC-SA 4.0",
    homepage="https://zenodo.org/record/1188976",
    archive_url="https://zenodo.org/record/1188976/files/Audio_Speech_Actors_01-24.zip",
    speakers="24 (12 f, 12 m)",
    emotions="anger, calm, disgust, fear, happiness, neutral, sadness, surprise",
    size="1440 recordings (zip ~200 MB)",
)

CREMAD = _register(
    "crema-d",
    recipe=SpeechRecipe(
        "CREMA-D", naming.parse_cremad, "1001_DFA_ANG_XX.wav", 7442,
        _fetch_line("crema-d", "no one-zip download (the audio is in Git LFS): 'git lfs clone "
                    "https://github.com/CheyneyComputerScience/CREMA-D' (or download its AudioWAV/ folder)")),
    description="Crowd-sourced Emotional Multimodal Actors Dataset, audio: 12 English sentences by 91 "
                "actors in 6 emotions at up to 3 levels",
    licence="ODbL-1.0 + DbCL-1.0",
    homepage="https://github.com/CheyneyComputerScience/CREMA-D",
    speakers="91 (48 m, 43 f)",
    emotions="anger, disgust, fear, happiness, neutral, sadness",
    size="7442 recordings",
)

TESS = _register(
    "tess",
    recipe=SpeechRecipe(
        "TESS", naming.parse_tess, "OAF_back_angry.wav", 2800,
        _fetch_line("tess", "no one-zip download: get the files from https://tspace.library.utoronto.ca/handle/1807/24487 "
                    "(University of Toronto)")),
    description="Toronto Emotional Speech Set: 200 words in 'Say the word ...' by two women (26 and 64) in 7 emotions",
    licence="CC BY-NC-ND 4.0",
    homepage="https://tspace.library.utoronto.ca/handle/1807/24487",
    speakers="2 (f)",
    emotions="anger, disgust, fear, happiness, neutral, sadness, surprise",
    size="2800 recordings",
)

SAVEE = _register(
    "savee",
    recipe=SpeechRecipe(
        "SAVEE", naming.parse_savee, "DC/a01.wav or DC_a01.wav", 480,
        _fetch_line("savee", "no anonymous download: register at http://personal.ee.surrey.ac.uk/Personal/P.Jackson/"
                    "SAVEE/Register.html and unzip AudioData")),
    description="Surrey Audio-Visual Expressed Emotion, audio: British English TIMIT sentences by 4 male speakers in 7 emotions",
    licence="research use; registration",
    homepage="http://kahlan.eps.surrey.ac.uk/savee/",
    speakers="4 (m)",
    emotions="anger, disgust, fear, happiness, neutral, sadness, surprise",
    size="480 recordings",
)

URDU = _register(
    "urdu",
    recipe=SpeechRecipe("URDU", naming.parse_urdu, "Angry/SM1_F10_A010.wav", 400, ""),
    description="URDU: natural Urdu speech from talk shows, 4 emotions",
    licence="research use only",
    homepage="https://github.com/siddiquelatif/URDU-Dataset",
    archive_url="https://github.com/siddiquelatif/URDU-Dataset/archive/HEAD.zip",
    speakers="29 ids (uneven)",
    emotions="anger, happiness, neutral, sadness",
    size="400 recordings",
)

TUREV = _register(
    "turev-db",
    recipe=SpeechRecipe("TurEV-DB", naming.parse_turev, "Sound Source/Angry/1358_<...>.wav", 1735, ""),
    description="TurEV-DB: Turkish Emotional Voice Database, acted Turkish speech by 6 speakers in 4 emotions",
    licence="unknown (not stated)",
    homepage="https://github.com/Xeonen/TurEV-DB",
    archive_url="https://github.com/Xeonen/TurEV-DB/archive/HEAD.zip",
    speakers="6",
    emotions="anger, calm, happiness, sadness",
    size="1735 recordings",
)

EMOVO = _register(
    "emovo",
    recipe=SpeechRecipe(
        "EMOVO", naming.parse_emovo, "f1/dis-f1-b1.wav", 588,
        _fetch_line("emovo", "no one-zip download we can vouch for: see http://voice.fub.it/activities/corpora/emovo/index.html")),
    description="EMOVO: Italian emotional speech, 14 sentences by 6 actors in 7 emotions",
    licence="unknown (check the homepage)",
    homepage="http://voice.fub.it/activities/corpora/emovo/index.html",
    speakers="6 (3 f, 3 m)",
    emotions="anger, disgust, fear, happiness, neutral, sadness, surprise",
    size="588 recordings",
)

SHEMO = _register(
    "shemo",
    recipe=SpeechRecipe(
        "ShEMO", naming.parse_shemo, "female/F30A02.wav", 3000,
        _fetch_line("shemo", "no one-zip download we can vouch for (the repository's zips are reported broken): "
                    "see https://github.com/mansourehk/ShEMO")),
    description="Sharif Emotional Speech Database: semi-natural Persian utterances from radio plays, 87 speakers, 6 emotions",
    licence="academic use, free of charge (paper)",
    homepage="https://github.com/mansourehk/ShEMO",
    speakers="87",
    emotions="anger, fear, happiness, neutral, sadness, surprise",
    size="3000 recordings",
)
