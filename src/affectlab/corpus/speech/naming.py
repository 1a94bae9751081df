"""Labels from the file naming conventions of public speech emotion corpora.

Each parser takes a recording's path relative to the corpus folder (or zip) and returns

- a :class:`Parsed` (where the file goes in the cache, and its labels) when the name follows the
  corpus's convention,
- a :class:`Skip` when it follows the convention but is left out on purpose (RAVDESS song),
- ``None`` when the name is not one of the corpus's recordings (a stray file),

and raises :class:`~affectlab.core.errors.AffectlabError` when the name follows the convention but a
code in it is unknown (an emotion letter the corpus does not define): a label guessed wrong would
be a silent error. Emotions are named with the one vocabulary of :mod:`.circumplex`.

>>> from pathlib import PurePosixPath as P
>>> parse_emodb(P("wav/03a01Fa.wav")).labels
{'speaker': '03', 'gender': 'male', 'text_code': 'a01', 'emotion': 'happiness', 'version': 'a'}
>>> parse_emodb(P("wav/03a01Xa.wav"))
Traceback (most recent call last):
...
affectlab.core.errors.AffectlabError: wav/03a01Xa.wav: unknown emotion code 'X' (EmoDB defines A, E, F, L, N, T, W)
>>> parse_emodb(P("README.wav")) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from ...core.errors import AffectlabError


@dataclass(frozen=True)
class Parsed:
    """A recording that follows the convention: its place in the cache and its labels."""

    dest: str  # path inside the cache folder, e.g. 'wav/03a01Fa.wav'
    labels: dict[str, str]  # column -> value (speaker, emotion, and what else the name carries)


@dataclass(frozen=True)
class Skip:
    """A recording of the corpus that the recipe leaves out, and why (said once per reason)."""

    reason: str


Result = Parsed | Skip | None
Parser = Callable[[PurePosixPath], Result]


def _code(path: PurePosixPath, what: str, code: str, table: Mapping[str, str], corpus: str) -> str:
    """``table[code]``, or one line naming the file, the code and the codes the corpus defines."""
    try:
        return table[code]
    except KeyError:
        known = ", ".join(sorted(table))
        raise AffectlabError(f"{path}: unknown {what} code {code!r} ({corpus} defines {known})") from None


# --- EmoDB (Burkhardt et al. 2005): 03a01Fa = speaker 03, text a01, emotion F, version a ----------
EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                  "T": "sadness", "N": "neutral"}  # Wut/Ärger, Langeweile, Ekel, Angst, Freude, Trauer
EMODB_SPEAKERS = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
                  "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"}
EMODB_TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")
_EMODB = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def parse_emodb(path: PurePosixPath) -> Result:
    """EmoDB: ``03a01Fa.wav``: speaker, text code, emotion letter (German initial), version."""
    m = _EMODB.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    speaker, text, letter, version = m.groups()
    emotion = _code(path, "emotion", letter, EMODB_EMOTIONS, "EmoDB")
    gender = _code(path, "speaker", speaker, EMODB_SPEAKERS, "EmoDB")
    if text not in EMODB_TEXTS:
        raise AffectlabError(f"{path}: unknown text code {text!r} (EmoDB defines {', '.join(EMODB_TEXTS)})")
    return Parsed(f"wav/{path.name}", {"speaker": speaker, "gender": gender, "text_code": text,
                                       "emotion": emotion, "version": version})


# --- RAVDESS (Livingstone & Russo 2018): 03-01-06-01-02-01-12 = modality-channel-emotion-intensity-
# statement-repetition-actor; odd actors are male, even female ------------------------------------
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness", "05": "anger",
                    "06": "fear", "07": "disgust", "08": "surprise"}
RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_ravdess(path: PurePosixPath) -> Result:
    """RAVDESS audio-only speech (modality 03, channel 01); song (channel 02) is skipped.

    >>> from pathlib import PurePosixPath as P
    >>> parse_ravdess(P("Actor_12/03-01-06-01-02-01-12.wav")).labels
    {'speaker': '12', 'gender': 'female', 'text_code': '02', 'emotion': 'fear', 'intensity': 'normal', 'repetition': '01'}
    >>> parse_ravdess(P("Actor_12/03-02-06-01-02-01-12.wav"))
    Skip(reason='song (vocal channel 02): the recipe keeps speech')
    """
    m = _RAVDESS.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    modality, channel, emotion, intensity, statement, repetition, actor = m.groups()
    if modality != "03":
        raise AffectlabError(f"{path}: modality {modality!r} is not audio-only (03) in a .wav file")
    _code(path, "vocal channel", channel, {"01": "speech", "02": "song"}, "RAVDESS")
    if channel == "02":
        return Skip("song (vocal channel 02): the recipe keeps speech")
    if not 1 <= int(actor) <= 24:
        raise AffectlabError(f"{path}: unknown actor {actor!r} (RAVDESS has actors 01-24)")
    _code(path, "statement", statement, RAVDESS_STATEMENTS, "RAVDESS")
    if repetition not in ("01", "02"):
        raise AffectlabError(f"{path}: unknown repetition code {repetition!r} (RAVDESS defines 01, 02)")
    return Parsed(f"wav/{path.name}", {
        "speaker": actor, "gender": "male" if int(actor) % 2 else "female",
        "text_code": statement,
        "emotion": _code(path, "emotion", emotion, RAVDESS_EMOTIONS, "RAVDESS"),
        "intensity": _code(path, "intensity", intensity, RAVDESS_INTENSITY, "RAVDESS"),
        "repetition": repetition})


# --- CREMA-D (Cao et al. 2014): 1001_DFA_ANG_XX = actor_sentence_emotion_level -------------------
CREMAD_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral",
                   "SAD": "sadness"}
CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
CREMAD_SENTENCES = {
    "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened", "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about", "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold", "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment", "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before", "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
}
_CREMAD = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def parse_cremad(path: PurePosixPath) -> Result:
    """CREMA-D: ``1001_DFA_ANG_XX.wav`` (actors 1001-1091; gender is not in the name).

    >>> from pathlib import PurePosixPath as P
    >>> parse_cremad(P("AudioWAV/1001_DFA_ANG_XX.wav")).labels
    {'speaker': '1001', 'text_code': 'DFA', 'emotion': 'anger', 'intensity': 'unspecified'}
    """
    m = _CREMAD.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    actor, sentence, emotion, level = m.groups()
    if not 1001 <= int(actor) <= 1091:
        raise AffectlabError(f"{path}: unknown actor {actor!r} (CREMA-D has actors 1001-1091)")
    _code(path, "sentence", sentence, CREMAD_SENTENCES, "CREMA-D")
    return Parsed(f"wav/{path.name}", {
        "speaker": actor, "text_code": sentence,
        "emotion": _code(path, "emotion", emotion, CREMAD_EMOTIONS, "CREMA-D"),
        "intensity": _code(path, "level", level, CREMAD_LEVELS, "CREMA-D")})


# --- TESS (Dupuis & Pichora-Fuller 2010): OAF_back_angry = speaker_word_emotion; two women, OAF
# (older, 64) and YAF (younger, 26), say "Say the word ___" with 200 NU-6 target words ------------
TESS_EMOTIONS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
                 "neutral": "neutral", "ps": "surprise", "pleasant_surprise": "surprise",
                 "pleasant_surprised": "surprise", "sad": "sadness"}
_TESS = re.compile(r"^(OAF|YAF)_([A-Za-z]+)_([A-Za-z_]+)$")


def parse_tess(path: PurePosixPath) -> Result:
    """TESS: ``OAF_back_angry.wav``; the word is the text code; ``ps`` (pleasant surprise) is surprise.

    >>> from pathlib import PurePosixPath as P
    >>> parse_tess(P("OAF_Pleasant_surprise/OAF_bite_ps.wav")).labels
    {'speaker': 'OAF', 'gender': 'female', 'text_code': 'bite', 'emotion': 'surprise'}
    """
    m = _TESS.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    speaker, word, emotion = m.groups()
    return Parsed(f"wav/{path.name}", {
        "speaker": speaker, "gender": "female", "text_code": word.lower(),
        "emotion": _code(path, "emotion", emotion.lower(), TESS_EMOTIONS, "TESS")})


# --- SAVEE (Haq & Jackson 2009): AudioData/DC/a01.wav, or DC_a01.wav in flat copies; four male
# speakers; emotion letters a, d, f, h, n, sa, su and the take number ------------------------------
SAVEE_EMOTIONS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral",
                  "sa": "sadness", "su": "surprise"}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
_SAVEE = re.compile(r"^(?:([A-Z]{2})_)?([a-z]{1,2})(\d\d)$")


def parse_savee(path: PurePosixPath) -> Result:
    """SAVEE: the speaker from the ``DC_`` prefix or the ``DC/`` folder; the cache name is ``DC_a01.wav``.

    >>> from pathlib import PurePosixPath as P
    >>> parse_savee(P("AudioData/JK/sa03.wav"))
    Parsed(dest='wav/JK_sa03.wav', labels={'speaker': 'JK', 'gender': 'male', 'emotion': 'sadness', 'take': '03'})
    """
    m = _SAVEE.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    prefix, letters, take = m.groups()
    speaker = prefix or path.parent.name
    if speaker not in SAVEE_SPEAKERS:
        if prefix is None:
            return None  # a01.wav outside a speaker folder: no speaker to give it
        raise AffectlabError(f"{path}: unknown speaker {speaker!r} (SAVEE has {', '.join(SAVEE_SPEAKERS)})")
    emotion = _code(path, "emotion", letters, SAVEE_EMOTIONS, "SAVEE")
    return Parsed(f"wav/{speaker}_{letters}{take}.wav",
                  {"speaker": speaker, "gender": "male", "emotion": emotion, "take": take})


# --- URDU (Latif et al. 2018): Angry/SM1_F10_A010.wav = S + gender + speaker number, F + file
# number, emotion letter + clip number; folders Angry, Happy, Neutral, Sad --------------------------
URDU_EMOTIONS = {"A": "anger", "H": "happiness", "N": "neutral", "S": "sadness"}
URDU_FOLDERS = {"angry": "anger", "happy": "happiness", "neutral": "neutral", "sad": "sadness"}
_URDU = re.compile(r"^S([MF])(\d+)_F(\d+)_([A-Z])(\d+)$")


def parse_urdu(path: PurePosixPath) -> Result:
    """URDU: speaker ``M1`` (gender letter + number, as in the corpus's names); the emotion letter
    must agree with the emotion folder when the file sits in one.

    >>> from pathlib import PurePosixPath as P
    >>> parse_urdu(P("URDU-Dataset-master/Angry/SM1_F10_A010.wav")).labels
    {'speaker': 'M1', 'gender': 'male', 'emotion': 'anger'}
    """
    m = _URDU.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    gender, number, _file, letter, _clip = m.groups()
    emotion = _code(path, "emotion", letter, URDU_EMOTIONS, "URDU")
    folder = URDU_FOLDERS.get(path.parent.name.lower())
    if folder is not None and folder != emotion:
        raise AffectlabError(f"{path}: the name says {emotion} ({letter}) but the folder says {folder}")
    return Parsed(f"wav/{path.name}", {"speaker": f"{gender}{number}",
                                       "gender": "male" if gender == "M" else "female", "emotion": emotion})


# --- TurEV-DB (Canpolat et al. 2020): Sound Source/<Emotion>/<speaker>_<...>.wav; the emotion is
# the folder (Angry, Calm, Happy, Sad), the speaker the number before the first underscore --------
TUREV_FOLDERS = {"angry": "anger", "calm": "calm", "happy": "happiness", "sad": "sadness"}
_TUREV = re.compile(r"^(\d+)_.+$")


def parse_turev(path: PurePosixPath) -> Result:
    """TurEV-DB: emotion from the folder, speaker from the name; the cache keeps the folder.

    >>> from pathlib import PurePosixPath as P
    >>> parse_turev(P("TurEV-DB-master/Sound Source/Calm/1358_ben_3.wav"))
    Parsed(dest='wav/calm/1358_ben_3.wav', labels={'speaker': '1358', 'emotion': 'calm'})
    """
    m = _TUREV.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    emotion = _code(path, "emotion folder", path.parent.name.lower(), TUREV_FOLDERS, "TurEV-DB")
    return Parsed(f"wav/{path.parent.name.lower()}/{path.name}", {"speaker": m.group(1), "emotion": emotion})


# --- EMOVO (Costantini et al. 2014): f1/dis-f1-b1.wav = emotion (Italian, 3 letters)-speaker-sentence;
# 6 actors (f1-f3, m1-m3), 14 sentences (b1-b3, d1-d2, l1-l4, n1-n5) ---------------------------------
EMOVO_EMOTIONS = {"dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear", "rab": "anger",
                  "sor": "surprise", "tri": "sadness"}  # disgusto, gioia, neutro, paura, rabbia, sorpresa, tristezza
EMOVO_SENTENCES = ("b1", "b2", "b3", "d1", "d2", "l1", "l2", "l3", "l4", "n1", "n2", "n3", "n4", "n5")
_EMOVO = re.compile(r"^([a-z]{3})-([fm])([1-3])-([a-z]\d)$")


def parse_emovo(path: PurePosixPath) -> Result:
    """EMOVO: ``dis-f1-b1.wav``; the sentence is the text code.

    >>> from pathlib import PurePosixPath as P
    >>> parse_emovo(P("EMOVO/m2/gio-m2-l3.wav")).labels
    {'speaker': 'm2', 'gender': 'male', 'text_code': 'l3', 'emotion': 'happiness'}
    """
    m = _EMOVO.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    emotion, gender, number, sentence = m.groups()
    if sentence not in EMOVO_SENTENCES:
        raise AffectlabError(f"{path}: unknown sentence code {sentence!r} (EMOVO defines {', '.join(EMOVO_SENTENCES)})")
    return Parsed(f"wav/{path.name}", {
        "speaker": f"{gender}{number}", "gender": "male" if gender == "m" else "female", "text_code": sentence,
        "emotion": _code(path, "emotion", emotion, EMOVO_EMOTIONS, "EMOVO")})


# --- ShEMO (Mohamad Nezami et al. 2019): female/F30A02.wav = gender + speaker number, emotion letter,
# utterance number; semi-natural Persian radio plays -------------------------------------------------
SHEMO_EMOTIONS = {"A": "anger", "F": "fear", "H": "happiness", "N": "neutral", "S": "sadness", "W": "surprise"}
_SHEMO = re.compile(r"^([FM])(\d\d)([A-Z])(\d\d)$")


def parse_shemo(path: PurePosixPath) -> Result:
    """ShEMO: ``F30A02.wav``: speaker ``F30`` (as the corpus writes it), emotion letter ``A``.

    >>> from pathlib import PurePosixPath as P
    >>> parse_shemo(P("male/M12W05.wav")).labels
    {'speaker': 'M12', 'gender': 'male', 'emotion': 'surprise'}
    """
    m = _SHEMO.match(path.stem)
    if path.suffix.lower() != ".wav" or m is None:
        return None
    gender, number, letter, _utterance = m.groups()
    return Parsed(f"wav/{path.name}", {"speaker": f"{gender}{number}", "gender": "male" if gender == "M" else "female",
                                       "emotion": _code(path, "emotion", letter, SHEMO_EMOTIONS, "ShEMO")})
