"""A media folder and its LABELS.csv as a training corpus: ``affectlab train CONFIG --media DIR --labels CSV``.

The train config's ``extract:`` section says how the features are made: inline (the schema of
``configs/extract/*.yaml``) or the path of such a file (relative to the train config's folder).
:func:`plan_media` checks everything before the first slow step (both configs, the labels file's
columns and values, that every media file is there, that the train config's targets are among
the extracted ones); :func:`extract_plan` then runs ``affectlab extract`` through the feature
cache into the pickle the run trains on. That pickle lives in the cache, under
``<cache>/corpora/<key>/features.pkl`` (``errors.csv`` beside it), the key covering the
extract settings that decide the features, the labels file (path and bytes) and the media
folder; a second run of the same command only re-reads the cached features and rewrites it.

The extract settings that made a corpus's features (:func:`feature_settings`) go with the corpus
into the run's checkpoint; ``predict`` refuses data extracted otherwise (:func:`check_same_settings`).

>>> feature_settings({"audio": {"enabled": True, "egemaps": True, "compare": False, "pitch_floor": 75,
...                             "min_duration": 0.1, "lld_pool": 10}, "face": {"enabled": False, "fps": 25},
...                   "batch": {"workers": 2}})
{'audio': {'egemaps': True, 'pitch_floor': 75}}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..core.errors import AffectlabError
from ..core.io import read_yaml
from ..core.paths import default_cache_dir
from .extract_config import ExtractConfig, validate_extract_config
from .media_labels import LabelTable, read_labels

if TYPE_CHECKING:
    from ..config import RunConfig
    from .extract import ExtractSummary

#: the cache's folder of extracted corpora
CORPORA = "corpora"
#: extract-config sections that make features, and per section the keys that do not change the
#: values of the columns a model uses: ``enabled`` (a missing modality is refused anyway),
#: ``compare`` (it appends columns after the first 100), which samples are reported or left out
#: (``min_voiced_fraction``, ``min_duration``), and how the work is done
_FEATURE_SECTIONS: dict[str, frozenset[str]] = {
    "audio": frozenset({"enabled", "compare", "min_voiced_fraction", "min_duration"}),
    "face": frozenset({"enabled"}),
    "asr": frozenset({"enabled", "device", "cpu_threads", "allow_download"}),
    "text": frozenset({"cache_dir", "batch_size", "device"}),
}


@dataclass(frozen=True)
class MediaPlan:
    """Everything checked; what :func:`extract_plan` will do."""

    settings: ExtractConfig
    origin: str  # where the settings came from, e.g. "speech-folder.yaml (extract:)"
    media: Path
    labels: Path
    table: LabelTable
    cache_root: Path
    out: Path  # the pickle, in the cache


def extract_settings(section: "dict[str, Any] | str | None", config_path: "str | Path | None") -> tuple[ExtractConfig, str]:
    """The train config's ``extract:`` section as an :class:`ExtractConfig`, and where it came from.

    A mapping is the settings themselves; a string is the path of an extract config, relative to
    the train config's folder (absolute paths as given). Bad settings are one line.

    >>> cfg, origin = extract_settings({"audio": {"praat": False}}, "configs/x.yaml")
    >>> cfg.audio.egemaps, cfg.audio.praat, origin
    (True, False, 'configs/x.yaml (extract:)')
    >>> extract_settings({"audio": {"egemap": True}}, "x.yaml")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: x.yaml: extract.audio.egemap: Extra inputs are not permitted (did you mean `egemaps`?)
    """
    where = str(config_path) if config_path is not None else "config"
    if section is None:
        raise AffectlabError(f"{where}: --media needs an extract: section in the train config (the extract settings "
                             "inline, as in configs/extract/*.yaml, or the path of such a file)")
    if isinstance(section, str):
        path = Path(section).expanduser()
        if not path.is_absolute() and config_path is not None:
            path = Path(config_path).parent / path
        if not path.is_file():
            raise AffectlabError(f"{where}: extract: {section!r} is not a file (a path is read relative to the "
                                 f"train config's folder: {path})")
        return validate_extract_config(read_yaml(path), str(path)), str(path)
    if not isinstance(section, dict):
        raise AffectlabError(f"{where}: extract: expected the extract settings (a mapping) or the path of an "
                             f"extract config, not {type(section).__name__}")
    try:
        cfg = validate_extract_config(section, "extract")
    except AffectlabError as err:  # "extract: audio.egemap: ..." said as the key's place in the train config
        line = str(err).removeprefix("extract: ")
        raise AffectlabError(f"{where}: extract.{line}" if not line.startswith("(top level)") else
                             f"{where}: extract: {line.removeprefix('(top level): ')}") from None
    return cfg, f"{where} (extract:)"


def check_targets(cfg: "RunConfig", settings: ExtractConfig, where: str) -> None:
    """The train config's targets must be among what the extraction writes: a category target
    among its category targets, a number among its numeric ones (mapped ones included)."""
    categories = [t.name for t in settings.targets if t.kind == "category"]
    numbers = settings.numeric_targets()
    for t in cfg.data.targets:
        stem = t.column or t.name
        have = categories if t.kind == "category" else numbers
        if stem not in have:
            other = numbers if t.kind == "category" else categories
            hint = (f"; {stem!r} is a {'number' if t.kind == 'category' else 'category'} there" if stem in other else "")
            raise AffectlabError(f"{where}: data.targets: {t.kind} target {stem!r} is not one the extract settings "
                                 f"write ({t.kind} targets: {', '.join(have) or 'none'}){hint}")


def _missing_files(table: LabelTable, labels: Path, media: Path) -> None:
    """One line naming the first LABELS.csv row whose file is not there (and how many more)."""
    missing = [s for s in table.samples if not s.path.is_file()]
    if missing:
        first = missing[0]
        more = len({s.path for s in missing}) - 1
        raise AffectlabError(f"{labels} line {first.line}: file {first.file!r} not found in --media {media}"
                             + (f" (and {more} more missing files)" if more else ""))


def corpus_key(settings: ExtractConfig, table: LabelTable, labels: Path, media: Path) -> str:
    """The cache key of an extracted corpus: the settings that decide its content (not ``batch``),
    the labels file (resolved path and sha256) and the media folder (resolved path)."""
    from .extract import OUTPUT_FORMAT

    what = {"format": OUTPUT_FORMAT, "settings": settings.model_dump(mode="json", exclude={"batch"}),
            "labels": [str(labels.resolve()), table.sha256], "media": str(media.resolve())}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def plan_media(cfg: "RunConfig", config_path: "str | Path | None", media: str | Path, labels: str | Path, *,
               cache_dir: "str | Path | None" = None) -> MediaPlan:
    """Check the train config, its extract settings, LABELS.csv and the media files (each one line);
    nothing is written. The cache is ``cache_dir``, else the extract settings' ``batch.cache_dir``,
    else the train config's ``features.cache_dir``, else the default cache."""
    from .extract import check_extras

    where = str(config_path) if config_path is not None else "config"
    if cfg.data.format != "mmsa":
        raise AffectlabError(f"{where}: data.format is {cfg.data.format!r}; --media extracts an MMSA pickle: set "
                             "data.format: mmsa")
    settings, origin = extract_settings(cfg.extract, config_path)
    check_targets(cfg, settings, where)
    check_extras(settings)
    media, labels = Path(media), Path(labels)
    if not media.is_dir():
        raise AffectlabError(f"{media}: --media is not a folder")
    if not labels.is_file():
        raise AffectlabError(f"{labels}: --labels is not a file")
    table = read_labels(labels, media, settings)
    _missing_files(table, labels, media)
    root = Path(cache_dir or settings.batch.cache_dir or cfg.features.cache_dir or default_cache_dir()).expanduser()
    out = root / CORPORA / corpus_key(settings, table, labels, media) / "features.pkl"
    return MediaPlan(settings, origin, media, labels, table, root, out)


def extract_plan(plan: MediaPlan, *, progress: Callable[[int, int], None] | None = None) -> "ExtractSummary":
    """Extract the planned corpus through the feature cache into ``plan.out`` (atomically)."""
    from .extract import extract_dataset

    plan.out.parent.mkdir(parents=True, exist_ok=True)
    return extract_dataset(plan.settings, plan.media, plan.labels, plan.out, cache_dir=plan.cache_root,
                           progress=progress, config_path=plan.origin)


def feature_settings(params: Any) -> dict[str, Any]:
    """The extract settings (an extraction's recorded ``params``) that decide the values of the
    features, per section; {} when there are none."""
    if not isinstance(params, dict):
        return {}
    out: dict[str, Any] = {}
    for section, ignored in _FEATURE_SECTIONS.items():
        values = params.get(section)
        if not isinstance(values, dict) or values.get("enabled") is False or values.get("kind") == "none":
            continue
        out[section] = {k: v for k, v in values.items() if k not in ignored}
        if section == "audio" and values.get("sequence", "functionals") == "functionals":
            out[section].pop("lld_pool", None)  # pools only the LLD frames, not 'audio' of functionals
    return out


def first_difference(trained: dict[str, Any], new: dict[str, Any], sections: "set[str] | None" = None) -> str | None:
    """The first ``section.key`` whose value differs between two :func:`feature_settings` (only the
    sections both have, of ``sections`` when given).

    >>> first_difference({"audio": {"pitch_floor": 75}}, {"audio": {"pitch_floor": 60}})
    'audio.pitch_floor'
    >>> first_difference({"audio": {"pitch_floor": 75}}, {"face": {"fps": 5}}) is None
    True
    """
    for section in trained:
        if section not in new or (sections is not None and section not in sections):
            continue
        for key in dict.fromkeys([*trained[section], *new[section]]):
            if trained[section].get(key) != new[section].get(key):
                return f"{section}.{key}"
    return None


#: the extract-config sections behind each feature key a model can need
SECTIONS_OF = {"audio": {"audio"}, "vision": {"face"}, "text": {"asr", "text"}, "text_encoder": {"asr"}}


def check_same_settings(trained: Any, new: Any, needed: "set[str] | list[str]", source: str) -> None:
    """Refuse data whose features were extracted with other settings than the model's training
    data (both recorded), for the features the model uses: same dimensions, other values, a wrong
    prediction without a word otherwise.

    >>> check_same_settings({"audio": {"pitch_floor": 75}}, {"audio": {"pitch_floor": 60}}, ["audio"], "new.pkl")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: new.pkl: extracted with audio.pitch_floor 60; the model's training features with 75: extract it with the same settings
    """
    if not isinstance(trained, dict) or not isinstance(new, dict) or not trained or not new:
        return
    sections = set().union(*(SECTIONS_OF.get(f, set()) for f in needed)) if needed else set()
    key = first_difference(trained, new, sections)
    if key is not None:
        section, name = key.split(".", 1)
        raise AffectlabError(f"{source}: extracted with {key} {new[section].get(name)!r}; the model's training "
                             f"features with {trained[section].get(name)!r}: extract it with the same settings")
