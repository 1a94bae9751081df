"""``affectlab extract``: media folder + LABELS.csv → an MMSA-format pickle and ``errors.csv``.

Output layout (one key per split; everything is in ``train`` unless LABELS.csv has a split
column)::

    {'train': {'id', 'raw_text', 'group', 'file', 'segment_start', 'segment_end',
               'audio' (N, L, D), 'audio_lengths', 'audio_functionals' (N, D_f),
               'audio_lld' (N, T, 25), 'audio_lld_lengths', 'voiced_fraction',
               'audio_ssl' (N, L, D), 'audio_ssl_lengths' (one such key per audio.ssl entry),
               'audio_ssl_frames' (N, T, H), 'audio_ssl_frames_lengths' (with frames: true),
               'vision' (N, F, D_v), 'vision_lengths', 'vision_mask' (N, F), 'vision_frames',
               'vision_times' (N, F), 'vision_expression' (N, 1, D_e), 'vision_expression_lengths',
               'vision_expression_faces', 'vision_expression_sampled', 'vision_expression_frames'
               (N, F, d_e) with '_lengths' and '_mask' (face.expression.frames),
               'text' (N, 1, D_t), 'text_lengths', 'asr_words',
               'regression_labels' (N,), 'regression_labels_<target>', 'classification_labels',
               'classification_labels_<target>', 'category_<target>'},
     'config': {'format', 'extractors', 'versions', 'params', 'feature_names', 'classes',
                'targets', 'labels', 'counts', 'notes', ...}}

Only the blocks of enabled extractors are present. Lengths of 0 mark a missing modality
for that sample (the MMSA reader's convention); ``vision_mask`` marks frames without a face,
``vision_frames`` is the number of sampled frames (the mask's true length).
"""

from __future__ import annotations

import datetime as _dt
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..core.errors import AffectlabError
from ..core.extras import module_available
from ..core.io import atomic_output, write_csv
from ..core.paths import default_cache_dir
from .base import ensure_cache_root
from .batch import FileResult, FileTask, Problem, run_tasks
from .extract_config import ExtractConfig
from .media_labels import LabelTable, read_labels

OUTPUT_FORMAT = "affectlab-extract/1"
#: per extractor section: the pip extra that installs it and the modules it imports
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "audio": ("audio", ("opensmile", "parselmouth", "soundfile", "soxr")),
    "face": ("video", ("mediapipe", "cv2")),
    "asr": ("asr", ("faster_whisper",)),
}
ERROR_COLUMNS = ["line", "id", "file", "status", "modality", "reason"]


@dataclass
class ExtractSummary:
    """What a run did, for the CLI's last line."""

    n_samples: int
    n_ok: int
    n_files: int
    n_files_ok: int
    n_cached: int
    problems: list[Problem] = field(default_factory=list)
    out: Path | None = None
    errors_path: Path | None = None

    @property
    def n_failed(self) -> int:
        return self.n_samples - self.n_ok

    @property
    def n_masked(self) -> int:
        return len({p.id for p in self.problems if p.status == "masked"})

    def line(self) -> str:
        """The final line: how many succeeded."""
        return (f"extracted {self.n_ok} of {self.n_samples} samples from {self.n_files_ok} of {self.n_files} files "
                f"({self.n_failed} failed, {self.n_masked} with a masked modality, {self.n_cached} files from cache); "
                f"wrote {self.out}" + (f"; problems in {self.errors_path}" if self.problems else ""))


def check_extras(cfg: ExtractConfig) -> None:
    """One line naming the optional extra an enabled extractor needs, before any file is read."""
    for section, (extra, modules) in EXTRAS.items():
        if not getattr(cfg, section).enabled:
            continue
        missing = [m for m in modules if not module_available(m)]
        if missing:
            raise AffectlabError(f"the {section} extractor needs the '{extra}' extra ({', '.join(missing)} missing): "
                                 f"pip install 'affectlab[{extra}]', or disable {section} in the extract config")
    if cfg.face.enabled and cfg.face.expression.enabled and not module_available("fer"):
        from .expression import INSTALL_HINT

        raise AffectlabError(f"face.expression needs the 'expression' extra (fer missing): {INSTALL_HINT}, "
                             f"or set face.expression: false")
    if cfg.audio.enabled:
        from .base import check_requirements
        from .registry import EXTRACTORS
        from .ssl import KIND_EXTRACTORS

        for entry in cfg.audio.ssl:
            check_requirements(EXTRACTORS.get(KIND_EXTRACTORS[entry.kind]))


def extract_dataset(cfg: ExtractConfig, media_dir: str | Path, labels: str | Path, out: str | Path, *,
                    errors_path: str | Path | None = None, cache_dir: str | Path | None = None,
                    workers: int | None = None, use_cache: bool = True,
                    progress: Callable[[int, int], None] | None = None,
                    allow_outside_media: bool = False, config_path: str | None = None) -> ExtractSummary:
    """Run the whole extraction; write ``out`` (atomically) and ``errors.csv``.

    ``progress(done_files, total_files)`` is called as files finish. LABELS.csv may name only
    files inside ``media_dir`` unless ``allow_outside_media``. ``config_path`` (where the
    settings came from) is recorded in the pickle's ``config``.
    """
    check_extras(cfg)
    media = Path(media_dir)
    if not media.is_dir():
        raise AffectlabError(f"{media}: --media is not a folder")
    out = Path(out)
    if out.is_dir():
        raise AffectlabError(f"{out}: --out is a folder, expected a file path such as features.pkl")
    table = read_labels(labels, media, cfg, allow_outside=allow_outside_media)
    errors_path = Path(errors_path) if errors_path is not None else out.parent / "errors.csv"
    if cfg.asr.enabled:  # fail on a bad model before any file is processed
        from .asr import resolve_whisper_model

        resolve_whisper_model(cfg.asr)
    if cfg.audio.enabled:  # and on an encoder that is neither a folder nor in the local cache
        from .ssl import resolve_ssl

        for entry in cfg.audio.ssl:
            resolve_ssl(entry)
    # the one feature cache (text embeddings included); created now, so a bad folder fails before any work
    root = ensure_cache_root(cache_dir or cfg.batch.cache_dir or default_cache_dir()) if use_cache else None
    groups = table.files()
    tasks = [FileTask(path, [table.samples[i] for i in idx]) for path, idx in groups.items()]
    done = 0
    cached = 0

    def on_done(task: FileTask, res: FileResult) -> None:
        nonlocal done, cached
        done += 1
        cached += int(res.cached)
        if progress:
            progress(done, len(tasks))

    if progress:
        progress(0, len(tasks))
    results = run_tasks(tasks, cfg, root, cpu_workers(workers or cfg.batch.workers), on_done)

    problems = [p for t in tasks for p in results[t.path].problems]
    problems.sort(key=lambda p: p.line)
    payload: dict[str, dict[str, Any]] = {}
    for t in tasks:
        payload.update(results[t.path].samples)
    n_ok = sum(1 for s in table.samples if s.id in payload)
    files_ok = sum(1 for t in tasks if results[t.path].samples)
    write_csv(errors_path, pd.DataFrame([p.__dict__ for p in problems], columns=ERROR_COLUMNS))
    summary = ExtractSummary(len(table.samples), n_ok, len(tasks), files_ok, cached, problems, out, errors_path)
    if n_ok == 0:
        raise AffectlabError(f"no sample could be extracted ({len(problems)} problems, see {errors_path})")
    data = assemble(table, payload, cfg, problems, labels_path=Path(labels), media_dir=media, cache_dir=root)
    if config_path:
        data["config"]["config_path"] = str(config_path)
    with atomic_output(out) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=4)
    return summary


# ---------------------------------------------------------------------------------------------


def _pad(seqs: list[np.ndarray | None], dim: int, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Stack (T_i, D) arrays into (N, max T, D) with zeros, and the lengths (0 for None)."""
    lengths = np.array([0 if s is None else len(s) for s in seqs], dtype=np.int64)
    width = max(int(lengths.max()) if len(lengths) else 0, 1)
    out = np.zeros((len(seqs), width, dim), dtype=dtype)
    for i, s in enumerate(seqs):
        if s is not None and len(s):
            out[i, :len(s)] = s.reshape(len(s), dim)
    return out, lengths


def assemble(table: LabelTable, payload: dict[str, dict[str, Any]], cfg: ExtractConfig, problems: list[Problem],
             *, labels_path: Path, media_dir: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    """Build the MMSA-format dict from per-sample payloads (samples in LABELS.csv order); text
    embeddings go through the feature cache under ``cache_dir`` (None: the default cache)."""
    keep = [i for i, s in enumerate(table.samples) if s.id in payload]
    split_names = list(dict.fromkeys(table.samples[i].split for i in keep))
    versions, feature_names, notes = _describe(cfg)
    nonfinite = {"audio": 0}
    data: dict[str, Any] = {}
    all_texts: list[tuple[str, int, str]] = []  # (split, position, text)
    for split in split_names:
        rows = [i for i in keep if table.samples[i].split == split]
        specs = [table.samples[i] for i in rows]
        pl = [payload[s.id] for s in specs]
        part: dict[str, Any] = {
            "id": [s.id for s in specs],
            "raw_text": [p.get("text", "") for p in pl],
            "group": [s.group for s in specs],
            "file": [s.file for s in specs],
            "segment_start": np.array([p["start"] for p in pl], dtype=np.float32),
            "segment_end": np.array([p["end"] for p in pl], dtype=np.float32),
        }
        if cfg.audio.enabled:
            nf = len(feature_names["audio_functionals"])
            func = [None if p.get("audio") is None else p["audio"]["functionals"][None, :] for p in pl]
            functionals, flen = _pad(func, nf)
            part["audio_functionals"] = functionals[:, 0, :]
            part["voiced_fraction"] = np.array([p.get("voiced_fraction", np.nan) for p in pl], dtype=np.float32)
            nonfinite["audio"] += int(sum(p.get("nonfinite", 0) for p in pl))
            if cfg.audio.egemaps:
                lld, llen = _pad([None if p.get("audio") is None else p["audio"]["lld"] for p in pl],
                                 len(feature_names["audio_lld"]))
                part["audio_lld"], part["audio_lld_lengths"] = lld, llen
            if cfg.audio.sequence == "lld" and cfg.audio.egemaps:
                part["audio"], part["audio_lengths"] = part["audio_lld"], part["audio_lld_lengths"]
            else:
                part["audio"], part["audio_lengths"] = functionals, flen
            _add_ssl(part, pl, cfg, feature_names)
        if cfg.face.enabled:
            nv = len(feature_names["vision"])
            vis = [None if p.get("vision") is None else p["vision"]["features"] for p in pl]
            feats, frames = _pad(vis, nv)
            masks, _ = _pad([None if p.get("vision") is None else p["vision"]["mask"][:, None] for p in pl], 1, np.uint8)
            times, _ = _pad([None if p.get("vision") is None else p["vision"]["times"][:, None] for p in pl], 1)
            found = masks[:, :, 0].sum(axis=1)
            part["vision"] = feats
            part["vision_mask"] = masks[:, :, 0]
            part["vision_times"] = times[:, :, 0]
            part["vision_frames"] = frames
            part["vision_lengths"] = np.where(found > 0, frames, 0).astype(np.int64)  # no face at all: missing
        if cfg.face.enabled and cfg.face.expression.enabled:
            part.update(_expression_block([p.get("expression") for p in pl], cfg.face.expression.embedding,
                                          cfg.face.expression.frames))
        if cfg.asr.enabled:
            part["asr_words"] = [p.get("words", []) for p in pl]
            part["text_source"] = [p.get("text_source", "none") for p in pl]
        primary = cfg.primary_label()
        for name, values in table.numbers.items():
            part[f"regression_labels_{name}"] = values[rows].astype(np.float32)
        if primary is not None:
            part["regression_labels"] = table.numbers[primary][rows].astype(np.float32)
        for k, (name, codes) in enumerate(table.codes.items()):
            part[f"classification_labels_{name}"] = codes[rows]
            part[f"category_{name}"] = [table.categories[name][i] for i in rows]
            if k == 0:
                part["classification_labels"] = codes[rows]
        data[split] = part
        all_texts += [(split, j, t) for j, t in enumerate(part["raw_text"])]

    if cfg.text.kind != "none":
        _add_text_features(data, all_texts, cfg, versions, feature_names, cache_dir)
    elif any(t for _, _, t in all_texts):
        notes.append("text features not computed (text.kind: none); raw_text holds the transcripts")
    else:
        notes.append("no text: no transcripts in LABELS.csv and ASR disabled; 'text' is absent")

    data["config"] = {
        "format": OUTPUT_FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "extractors": [name for name, on in (("egemaps", cfg.audio.enabled and cfg.audio.egemaps),
                                             ("praat", cfg.audio.enabled and cfg.audio.praat),
                                             *((f"ssl:{e.kind}:{e.name}", cfg.audio.enabled) for e in cfg.audio.ssl),
                                             ("facemesh", cfg.face.enabled),
                                             ("fer-expression", cfg.face.enabled and cfg.face.expression.enabled),
                                             ("whisper", cfg.asr.enabled),
                                             (f"text:{cfg.text.kind}:{cfg.text.name}", cfg.text.kind != "none")) if on],
        "versions": versions,
        "params": cfg.model_dump(mode="json"),
        "feature_names": feature_names,
        "classes": table.classes,
        "targets": {"regression_labels": cfg.primary_label(), "numeric": list(table.numbers),
                    "categories": list(table.codes),
                    "maps": {t.name: t.map for t in cfg.targets if t.map}},
        "labels": {"path": str(labels_path), "sha256": table.sha256, "rows": len(table.samples)},
        "media_dir": str(media_dir),
        "counts": {"samples": len(table.samples), "extracted": len(keep),
                   "failed": len(table.samples) - len(keep),
                   "masked": {m: len({p.id for p in problems if p.status == "masked" and p.modality == m})
                              for m in ("audio", "vision", "text")}},
        "nonfinite": nonfinite,
        "notes": notes,
    }
    return data


def _expression_block(parts: list[dict[str, Any] | None], embedding: bool, frames: bool) -> dict[str, np.ndarray]:
    """The pickle's expression keys from per-sample payloads (None: no video for the sample).

    ``vision_expression`` (N, 1, D) pooled; ``vision_expression_lengths`` 1, or 0 when no frame had
    a face (the MMSA convention for a missing modality); ``vision_expression_faces`` and
    ``vision_expression_sampled`` the frames with a face and the frames sampled; with ``frames``
    also ``vision_expression_frames`` (N, F, d) and its ``_lengths`` and ``_mask``.
    """
    from .expression import frame_names, pooled_names

    d = len(pooled_names(embedding))
    pooled, _ = _pad([None if p is None else p["pooled"][None, :] for p in parts], d)
    faces = np.array([0 if p is None else p["faces"] for p in parts], np.int64)
    out = {"vision_expression": pooled, "vision_expression_lengths": (faces > 0).astype(np.int64),
           "vision_expression_faces": faces,
           "vision_expression_sampled": np.array([0 if p is None else p["frames"] for p in parts], np.int64)}
    if frames:
        seq, lengths = _pad([None if p is None else p["features"] for p in parts], len(frame_names(embedding)))
        out["vision_expression_frames"], out["vision_expression_frames_lengths"] = seq, lengths
        out["vision_expression_frames_mask"] = _pad([None if p is None else p["mask"][:, None] for p in parts],
                                                    1, np.uint8)[0][:, :, 0]
    return out


def _add_ssl(part: dict[str, Any], pl: list[dict[str, Any]], cfg: ExtractConfig, names: dict[str, list[str]]) -> None:
    """The ``audio.ssl`` encoders' arrays: ``<key>`` (N, L, D) pooled vectors (L = 1, or one row per
    hidden state for ``layers: all``) and, with ``frames: true``, ``<key>_frames`` (N, T, H); each
    with ``_lengths`` (0 where the audio is missing)."""
    for j, entry in enumerate(cfg.audio.ssl):
        outs = [None if p.get("audio") is None or p.get("ssl") is None else p["ssl"][j] for p in pl]
        first = next((o for o in outs if o is not None), None)
        if first is None:
            continue
        rows, dim = first["pooled"].shape
        part[entry.key], part[f"{entry.key}_lengths"] = _pad([None if o is None else o["pooled"] for o in outs], dim)
        h = dim // 2 if entry.pooling == "mean_std" else dim
        stats = ("mean", "std") if entry.pooling == "mean_std" else ("mean",)
        names[entry.key] = [f"{entry.kind}:{entry.name}:{s}{i}" for s in stats for i in range(h)]
        if entry.frames:
            fk = entry.frames_key
            part[fk], part[f"{fk}_lengths"] = _pad([None if o is None else o["frames"] for o in outs], h)
            names[fk] = [f"{entry.kind}:{entry.name}:h{i}" for i in range(h)]


def _describe(cfg: ExtractConfig) -> tuple[dict[str, str], dict[str, list[str]], list[str]]:
    """Extractor versions and feature names (the objects are cheap to build in the parent)."""
    from ..core.version import __version__

    versions: dict[str, str] = {"affectlab": __version__, "numpy": np.__version__}
    names: dict[str, list[str]] = {}
    notes: list[str] = []
    if cfg.audio.enabled:
        from .audio import AudioExtractor

        ax = AudioExtractor(cfg.audio)
        versions.update(ax.versions())
        names["audio_functionals"] = ax.functional_names()
        names["audio_lld"] = ax.lld_names()
        names["audio"] = names["audio_lld"] if (cfg.audio.sequence == "lld" and cfg.audio.egemaps) else names["audio_functionals"]
        if cfg.audio.egemaps:
            versions["egemaps"] = "eGeMAPSv02"
        if cfg.audio.ssl:
            from .base import make_extractor
            from .ssl import KIND_EXTRACTORS, ssl_params

            for entry in cfg.audio.ssl:
                versions[entry.key] = f"{entry.kind}:{entry.name}; " + make_extractor(KIND_EXTRACTORS[entry.kind], ssl_params(entry)).version
    if cfg.face.enabled:
        from .face import FaceExtractor, feature_names

        versions.update(FaceExtractor.versions())
        names["vision"] = feature_names(cfg.face.landmarks)
        if cfg.face.expression.enabled:
            from .expression import frame_names, pooled_names, weights_fingerprint

            versions["expression_model"] = weights_fingerprint()
            names["vision_expression"] = pooled_names(cfg.face.expression.embedding)
            if cfg.face.expression.frames:
                names["vision_expression_frames"] = frame_names(cfg.face.expression.embedding)
    if cfg.asr.enabled:
        import faster_whisper

        from .asr import model_fingerprint, resolve_whisper_model

        versions["faster_whisper"] = faster_whisper.__version__
        versions["whisper_model"] = cfg.asr.model
        versions["whisper_model_fingerprint"] = model_fingerprint(resolve_whisper_model(cfg.asr))
    return versions, names, notes


def _add_text_features(data: dict[str, Any], texts: list[tuple[str, int, str]], cfg: ExtractConfig,
                       versions: dict[str, str], names: dict[str, list[str]], cache_dir: Path | None = None) -> None:
    """Sentence embeddings of the transcripts (cached by affectlab's text feature cache)."""
    from .text import embed_texts, make_encoder

    encoder = make_encoder(cfg.text)
    versions["text_encoder"] = f"{cfg.text.kind}:{cfg.text.name}"
    versions["text_encoder_fingerprint"] = encoder.version
    nonempty = [(s, j, t) for s, j, t in texts if t]
    vectors = embed_texts([t for _, _, t in nonempty], cfg.text, cache_dir, encoder=encoder)[0] if nonempty else None
    dim = int(vectors.shape[1]) if vectors is not None else 0
    for split, part in data.items():
        n = len(part["id"])
        part["text"] = np.zeros((n, 1, max(dim, 1)), np.float32)
        part["text_lengths"] = np.zeros(n, np.int64)
    for k, (split, j, _) in enumerate(nonempty):
        data[split]["text"][j, 0] = vectors[k]  # type: ignore[index]
        data[split]["text_lengths"][j] = 1
    names["text"] = [f"emb{i}" for i in range(dim)]


def cpu_workers(requested: int) -> int:
    """Never more processes than CPUs."""
    return max(1, min(requested, os.cpu_count() or 1))
