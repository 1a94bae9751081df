"""One vocabulary of acted emotions and their place on the circumplex (valence, arousal in [-1, 1]).

Every speech corpus recipe maps its own emotion codes onto these names, so that labels of
different corpora can be pooled or crossed (train on EmoDB, test on URDU). The seven EmoDB classes
carry the numbers that ``configs/extract/emodb.yaml`` documents: pleasure (-> valence) and arousal
ratings of emotion terms from Russell & Mehrabian (1977), "Evidence for a three-factor theory of
emotions", J. Research in Personality 11(3):273-294, as reproduced by Gebhard (2005, ALMA, Table 1);
neutral is the origin (Russell 1980). ``calm`` (RAVDESS, TurEV-DB) and ``surprise`` (RAVDESS,
SAVEE, EMOVO, ShEMO, TESS's "pleasant surprise") have no number in that source, so they get none here rather
than an invented one. These numbers place acted categories on the circumplex; they are not
ratings of the recordings.

>>> circumplex("happiness")
(0.81, 0.51)
>>> circumplex("calm") is None
True
>>> EMODB_CLASSES
('anger', 'boredom', 'disgust', 'fear', 'happiness', 'neutral', 'sadness')
"""

from __future__ import annotations

#: emotion -> (valence, arousal); the table of configs/extract/emodb.yaml (tests compare the two)
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "anger": (-0.51, 0.59),
    "boredom": (-0.65, -0.62),
    "disgust": (-0.60, 0.35),
    "fear": (-0.64, 0.60),
    "happiness": (0.81, 0.51),
    "neutral": (0.0, 0.0),
    "sadness": (-0.63, -0.27),
}

#: the classes of configs/extract/emodb.yaml, in its order
EMODB_CLASSES: tuple[str, ...] = tuple(CIRCUMPLEX)

#: every name a recipe may produce: the EmoDB classes plus the two some corpora add
EMOTIONS: tuple[str, ...] = tuple(sorted(set(EMODB_CLASSES) | {"calm", "surprise"}))


def circumplex(emotion: str) -> tuple[float, float] | None:
    """(valence, arousal) of ``emotion``, or None when the documented table has no number for it."""
    return CIRCUMPLEX.get(emotion)
