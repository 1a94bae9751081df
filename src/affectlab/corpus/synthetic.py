"""A small synthetic longitudinal corpus in the SemEval-2026 Task 2 layout (not real data).

Used by the demo when the real data are not cached, and by tests. Each simulated person has a
personal baseline valence and arousal, a personal rating bias (how they score themselves
compared with how they write) and a day-to-day mood that drifts (an AR(1) process). Every text
is generated from templates and word lists whose words reflect that day's latent mood, so a
text model can learn it; the personal rating bias is invisible in the words, so knowing the
person (per-user means, user embeddings) helps too. About a third of the texts are feeling-word
lists (``is_words`` true, "Tired , Calm , Happy"), the rest short diary entries.

Columns are exactly the task's: ``user_id,text_id,text,timestamp,collection_phase,is_words,
valence,arousal``; labels are integers, valence in -2..2 and arousal in 0..2. The same seed
gives the same table.

>>> frame = make_longitudinal_corpus(n_users=4, texts_per_user=(3, 5), seed=1)
>>> list(frame.columns)
['user_id', 'text_id', 'text', 'timestamp', 'collection_phase', 'is_words', 'valence', 'arousal']
>>> frame["valence"].between(-2, 2).all() and frame["arousal"].between(0, 2).all()
True
>>> frame.equals(make_longitudinal_corpus(n_users=4, texts_per_user=(3, 5), seed=1))
True
>>> train, gold = split_longitudinal(frame, unseen_fraction=0.5, latest_fraction=0.3, seed=0)
>>> sorted(test_inputs(gold).columns) == sorted(TEST_COLUMNS)
True
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..core.errors import AffectlabError
from ..core.io import write_csv

COLUMNS = ("user_id", "text_id", "text", "timestamp", "collection_phase", "is_words", "valence", "arousal")
TEST_COLUMNS = ("user_id", "text_id", "text", "timestamp", "collection_phase", "is_words", "is_seen_user")
LABELS = ("valence", "arousal")

# Feeling words by quadrant of the valence-arousal plane, plus neutral ones.
POSITIVE_EXCITED = ("Excited", "Thrilled", "Energetic", "Joyful", "Enthusiastic", "Elated", "Pumped", "Cheerful", "Motivated", "Playful")
POSITIVE_CALM = ("Calm", "Relaxed", "Content", "Peaceful", "Grateful", "Serene", "Comfortable", "Satisfied", "Rested", "Mellow")
NEGATIVE_EXCITED = ("Stressed", "Anxious", "Angry", "Frustrated", "Nervous", "Irritated", "Overwhelmed", "Furious", "Panicked", "Tense")
NEGATIVE_CALM = ("Sad", "Tired", "Bored", "Lonely", "Drained", "Depressed", "Exhausted", "Gloomy", "Hopeless", "Numb")
NEUTRAL = ("Okay", "Fine", "Alright", "Normal", "Meh", "Average", "Steady", "Busy")

# Diary material. Events carry valence; activities carry arousal.
GOOD_EVENTS = (
    "work went really well today", "I got a nice tip from a customer", "I spent the afternoon with my kids",
    "my manager thanked me for my work", "I finally got my paycheck", "we had a nice dinner together",
    "I caught up on some sleep", "a friend called me out of the blue", "the weather was beautiful",
    "I finished all my chores early", "my shift flew by", "I got good news about my family",
)
BAD_EVENTS = (
    "a customer yelled at me", "my car broke down again", "I argued with my partner",
    "I am behind on my bills", "my shift was short staffed", "I did not sleep at all last night",
    "my boss was on my case all day", "I got sick", "I had to cancel my plans",
    "my hours got cut", "my back has been hurting", "the kids were fighting all morning",
)
NEUTRAL_EVENTS = (
    "I worked my usual shift", "I did some laundry", "I went grocery shopping", "I watched some TV",
    "I cooked dinner", "I had a day off", "I ran a few errands", "nothing much happened",
)
HIGH_AROUSAL_ACTIVITIES = (
    "I was running around all day", "my heart was racing", "I could not sit still",
    "everything happened at once", "I was rushing from one thing to the next", "I had so much energy",
)
LOW_AROUSAL_ACTIVITIES = (
    "I stayed in bed most of the day", "I just lay on the couch", "I took a long nap",
    "I moved slowly all day", "I did not have the energy for anything", "the day was quiet and slow",
)
OPENERS = ("Today", "This morning", "Lately", "This week", "Tonight", "Since yesterday")
FEEL_TEMPLATES = (
    "I feel {adv}{word}.", "I have been feeling {adv}{word}.", "Right now I am {adv}{word}.",
    "Overall I am {adv}{word} and {word2}.", "I'm {adv}{word} today.",
)


def make_longitudinal_corpus(
    n_users: int = 40,
    texts_per_user: tuple[int, int] = (8, 20),
    seed: int = 0,
    *,
    words_fraction: float = 0.35,
    start: str = "2021-06-01",
) -> pd.DataFrame:
    """A labelled corpus of ``n_users`` simulated people, each writing ``lo..hi`` texts.

    ``texts_per_user`` is an inclusive range; ``words_fraction`` is the share of texts that
    are feeling-word lists. Rows are ordered by user, then time; ``text_id`` is unique.

    >>> f = make_longitudinal_corpus(n_users=3, texts_per_user=(2, 2), seed=0)
    >>> len(f), f["user_id"].nunique(), f["text_id"].is_unique
    (6, 3, True)
    """
    lo, hi = (int(v) for v in texts_per_user)
    if n_users < 1:
        raise AffectlabError(f"synthetic corpus: n_users must be at least 1, got {n_users}")
    if lo < 1 or hi < lo:
        raise AffectlabError(f"synthetic corpus: texts_per_user must be (lo, hi) with 1 <= lo <= hi, got {texts_per_user}")
    if not 0.0 <= words_fraction <= 1.0:
        raise AffectlabError(f"synthetic corpus: words_fraction must be in [0, 1], got {words_fraction}")
    rng = np.random.default_rng(seed)
    origin = pd.Timestamp(start)
    rows: list[dict[str, Any]] = []
    text_id = 100
    for user in range(1, n_users + 1):
        n = int(rng.integers(lo, hi + 1))
        base_v = rng.normal(0.35, 0.75)     # personal baseline mood
        base_a = rng.normal(0.75, 0.4)
        bias_v = rng.normal(0.0, 0.45)      # how this person rates versus how they write
        bias_a = rng.normal(0.0, 0.25)
        wordy = float(np.clip(rng.normal(words_fraction, 0.15), 0.0, 1.0))
        day = float(rng.integers(0, 60))
        mood_v, mood_a = 0.0, 0.0
        for k in range(n):
            # Day-to-day variation: an AR(1) drift around the personal baseline.
            mood_v = 0.5 * mood_v + rng.normal(0.0, 0.75)
            mood_a = 0.5 * mood_a + rng.normal(0.0, 0.45)
            latent_v = base_v + mood_v
            latent_a = base_a + mood_a
            is_words = bool(rng.random() < wordy)
            text = _feeling_words(rng, latent_v, latent_a) if is_words else _diary(rng, latent_v, latent_a)
            valence = int(np.clip(np.rint(latent_v + bias_v + rng.normal(0.0, 0.3)), -2, 2))
            arousal = int(np.clip(np.rint(latent_a + bias_a + rng.normal(0.0, 0.2)), 0, 2))
            when = origin + pd.Timedelta(days=day, seconds=int(rng.integers(6 * 3600, 23 * 3600)))
            rows.append({
                "user_id": user, "text_id": text_id, "text": text,
                "timestamp": when.strftime("%Y-%m-%d %H:%M:%S"),
                "collection_phase": 1 + min(6, int(day // 30)), "is_words": is_words,
                "valence": valence, "arousal": arousal,
            })
            text_id += 1
            day += float(rng.integers(1, 4))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"user_id": "int64", "text_id": "int64", "collection_phase": "int64",
                         "is_words": bool, "valence": "int64", "arousal": "int64"})


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _feeling(rng: np.random.Generator, v: float, a: float) -> str:
    """One feeling word drawn according to the latent valence ``v`` and arousal ``a``."""
    if abs(v) < 0.5 and rng.random() < 0.35:
        return str(rng.choice(NEUTRAL))
    positive = rng.random() < _sigmoid(2.2 * v)
    excited = rng.random() < _sigmoid(3.5 * (a - 0.9))
    pool = {(True, True): POSITIVE_EXCITED, (True, False): POSITIVE_CALM,
            (False, True): NEGATIVE_EXCITED, (False, False): NEGATIVE_CALM}[(positive, excited)]
    return str(rng.choice(pool))


def _feeling_words(rng: np.random.Generator, v: float, a: float) -> str:
    count = int(rng.integers(3, 6))
    words: list[str] = []
    while len(words) < count:
        word = _feeling(rng, v, a)
        if word not in words:
            words.append(word)
    return " , ".join(words)


def _diary(rng: np.random.Generator, v: float, a: float) -> str:
    strength = abs(v) + max(a - 1.0, 0.0)
    adv = "very " if strength > 1.5 else "really " if strength > 1.0 else "a bit " if strength < 0.4 else ""
    word, word2 = _feeling(rng, v, a).lower(), _feeling(rng, v, a).lower()
    feel = str(rng.choice(FEEL_TEMPLATES)).format(adv=adv, word=word, word2=word2)
    u = rng.random()
    p_good = _sigmoid(2.0 * v)
    events = GOOD_EVENTS if u < 0.8 * p_good else BAD_EVENTS if u < 0.8 else NEUTRAL_EVENTS
    event = str(rng.choice(events))
    sentences = [f"{rng.choice(OPENERS)} {event}.", feel]
    if rng.random() < 0.75:
        activities = HIGH_AROUSAL_ACTIVITIES if rng.random() < _sigmoid(3.5 * (a - 0.9)) else LOW_AROUSAL_ACTIVITIES
        activity = str(rng.choice(activities))
        sentences.insert(1 + int(rng.integers(0, 2)), activity[0].upper() + activity[1:] + ".")
    if rng.random() < 0.3:
        sentences.append(f"Also {rng.choice(NEUTRAL_EVENTS)}.")
    return " ".join(sentences)


def split_longitudinal(
    frame: pd.DataFrame, unseen_fraction: float = 0.5, latest_fraction: float = 0.2, seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, labelled test) like the official task: some users unseen, the rest split in time.

    A ``unseen_fraction`` of the users go to the test side entirely; every other user's latest
    ``latest_fraction`` of texts (at least one, and at least one kept for training) go there too.
    The test table keeps its labels and gains ``is_seen_user``; use :func:`test_inputs` to drop
    the labels.

    >>> f = make_longitudinal_corpus(n_users=6, texts_per_user=(5, 5), seed=0)
    >>> train, test = split_longitudinal(f, 0.5, 0.2, seed=0)
    >>> len(train) + len(test) == len(f), int(test["is_seen_user"].sum())
    (True, 3)
    """
    if not 0.0 <= unseen_fraction < 1.0 or not 0.0 <= latest_fraction < 1.0:
        raise AffectlabError("synthetic split: fractions must be in [0, 1)")
    rng = np.random.default_rng(seed)
    users = np.array(sorted(frame["user_id"].unique()))
    unseen = set(rng.choice(users, size=int(round(unseen_fraction * len(users))), replace=False).tolist())
    order = pd.to_datetime(frame["timestamp"], format="mixed")
    is_test = np.zeros(len(frame), dtype=bool)
    for user, rows in frame.groupby("user_id", sort=False).groups.items():
        idx = np.asarray(frame.index.get_indexer(rows))
        if user in unseen:
            is_test[idx] = True
            continue
        if len(idx) < 2:
            continue
        idx = idx[np.argsort(order.to_numpy()[idx], kind="stable")]
        take = min(len(idx) - 1, max(1, int(round(latest_fraction * len(idx)))))
        is_test[idx[len(idx) - take:]] = True
    train = frame[~is_test].reset_index(drop=True)
    test = frame[is_test].reset_index(drop=True)
    test["is_seen_user"] = ~test["user_id"].isin(unseen)
    return train, test


def test_inputs(test: pd.DataFrame, seen_users: Iterable[Any] | None = None) -> pd.DataFrame:
    """The official test-input layout: no labels, plus ``is_seen_user``.

    ``is_seen_user`` is kept when present, else computed from ``seen_users`` (default: none seen).
    """
    out = test.drop(columns=[c for c in LABELS if c in test.columns]).copy()
    if "is_seen_user" not in out.columns:
        seen = set(seen_users or ())
        out["is_seen_user"] = out["user_id"].isin(seen)
    return out[list(TEST_COLUMNS)].reset_index(drop=True)


test_inputs.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name


def write_longitudinal_csv(
    path: str | os.PathLike[str],
    frame: pd.DataFrame | None = None,
    *,
    test: bool = False,
    seen_users: Sequence[Any] | None = None,
    **make_kwargs: Any,
) -> pd.DataFrame:
    """Write a synthetic corpus as a SemEval CSV, atomically, and return what was written.

    With ``frame=None`` a corpus is generated from ``make_kwargs`` (``n_users``,
    ``texts_per_user``, ``seed``...). ``test=True`` writes the test-input variant (no labels,
    with ``is_seen_user``).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "test.csv"
    >>> written = write_longitudinal_csv(p, test=True, n_users=2, texts_per_user=(2, 3), seed=0)
    >>> "valence" in written.columns, bool(written["is_seen_user"].any())
    (False, False)
    """
    if frame is None:
        frame = make_longitudinal_corpus(**make_kwargs)
    elif make_kwargs:
        raise AffectlabError("write_longitudinal_csv: give either a frame or generator arguments, not both")
    out = test_inputs(frame, seen_users) if test else frame
    write_csv(path, out)
    return out
