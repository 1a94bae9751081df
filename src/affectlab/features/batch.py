"""Batch extraction: one task per media file, a process pool, the feature cache, per-row problems.

Each file is decoded once; all its LABELS.csv rows (segments) are cut from it. Every extractor
call goes through the one feature cache (:class:`affectlab.features.base.CachedExtractor`,
:class:`affectlab.features.cache.FeatureCache`): a segment's eGeMAPS, praat and ComParE
features, a file's transcript, the face track of a file's window are each stored as soon as
they are computed, keyed by the extractor's name, version and params and by the sha256 of the
file's bytes and the segment. An interrupted run started again computes only what it had not
finished; several workers (or runs) may write into one cache at once.

Problems are :class:`Problem` rows for ``errors.csv``:

- ``failed`` (the sample is left out): file missing, unreadable or zero-length; segment outside
  the recording or too short;
- ``masked`` (the sample is kept, one modality marked missing as documented): no audio track,
  no speech detected (voice features kept, praat's pitch measures 0, no transcript), no face
  in any frame (``vision_lengths`` 0; the all-zero ``vision_mask`` still has one entry per frame).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .base import AudioSignalExtractor, CachedExtractor, Features, NotCached, make_extractor, media_key
from .extract_config import ExtractConfig
from ..core.io import file_sha256
from .media import MediaError, NoStreamError, check_readable, is_video, load_audio, video_info
from .media_labels import SampleSpec

SEGMENT_TOLERANCE = 0.05  # seconds a segment may run past the end (container durations are rounded)


@dataclass(frozen=True)
class Problem:
    """One ``errors.csv`` row."""

    line: int
    id: str
    file: str
    status: str  # "failed" or "masked"
    modality: str  # "all", "audio", "vision", "text"
    reason: str


@dataclass
class FileTask:
    path: Path
    samples: list[SampleSpec]


@dataclass
class FileResult:
    """What one file gave: per-sample payloads (by id) and problems."""

    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    cached: bool = False


# ---------------------------------------------------------------------------------------------
# Extractors, built once per process


class Extractors:
    """The registered extractors an extract config enables, each behind the feature cache, built
    once per process (the heavy objects, openSMILE, MediaPipe, Whisper, load on first use).

    ``cache_root`` None: nothing is read from or written to a cache (``--no-cache``).
    """

    def __init__(self, cfg: ExtractConfig, cache_root: str | os.PathLike[str] | None = None,
                 single_thread: bool = False, cache_only: bool = False) -> None:
        from .audio import audio_parts

        self.cfg = cfg
        self.cache_root = cache_root
        self.single_thread = single_thread
        self.cache_only = cache_only  # raise NotCached rather than compute (see run_tasks)
        self.audio_parts = [CachedExtractor(make_extractor(name, params), cache_root)
                            for name, params in (audio_parts(cfg.audio) if cfg.audio.enabled else [])]
        for part in self.audio_parts:
            part.cache_only = cache_only
        self.ssl_parts = self._ssl_parts() if cfg.audio.enabled else []
        self._asr: CachedExtractor | None = None
        self._face: CachedExtractor | None = None
        self._expression: CachedExtractor | None = None

    def _ssl_parts(self) -> list[CachedExtractor]:
        """One cached extractor per ``audio.ssl`` entry (models load on first use)."""
        from .ssl import KIND_EXTRACTORS, ssl_params

        parts = []
        for entry in self.cfg.audio.ssl:
            part = CachedExtractor(make_extractor(KIND_EXTRACTORS[entry.kind],
                                                  ssl_params(entry, 1 if self.single_thread else 0)), self.cache_root)
            part.cache_only = self.cache_only
            parts.append(part)
        return parts

    @property
    def asr(self) -> CachedExtractor:
        if self._asr is None:
            params = self.cfg.asr.model_dump(exclude={"enabled"})
            if self.single_thread and not params["cpu_threads"]:
                params["cpu_threads"] = 1  # one thread per worker: workers are the parallelism
            self._asr = CachedExtractor(make_extractor("whisper", params), self.cache_root)
            self._asr.cache_only = self.cache_only
        return self._asr

    @property
    def face(self) -> CachedExtractor:
        if self._face is None:
            self._face = CachedExtractor(make_extractor("facemesh", self.cfg.face.facemesh_params()), self.cache_root)
            self._face.cache_only = self.cache_only
        return self._face

    @property
    def expression(self) -> CachedExtractor:
        if self._expression is None:
            self._expression = CachedExtractor(make_extractor("fer-expression", self.cfg.face.expression_params()),
                                               self.cache_root)
            self._expression.cache_only = self.cache_only
        return self._expression

    def all(self) -> list[CachedExtractor]:
        return [e for e in (*self.audio_parts, *self.ssl_parts, self._asr, self._face, self._expression) if e is not None]

    def counts(self) -> tuple[int, int]:
        """(cache hits, items computed) so far, over all extractors."""
        return sum(e.hits for e in self.all()), sum(e.computed for e in self.all())

    def audio(self, content: str, seg: np.ndarray, sr: int, start: float, end: float) -> Any:
        """One segment's voice features (:class:`affectlab.features.audio.AudioFeatures`)."""
        from .audio import combine

        outputs: dict[str, Features] = {}
        key = media_key(content, start=start, end=end)  # the same item for every audio extractor
        for part in self.audio_parts:
            extractor = part.extractor
            assert isinstance(extractor, AudioSignalExtractor)  # audio_parts holds the voice extractors only
            outputs[extractor.name] = part.get(key, functools.partial(extractor.compute, seg, sr))
        return combine(outputs)

    def ssl(self, content: str, seg: np.ndarray, sr: int, start: float, end: float) -> list[Features]:
        """One segment's pretrained-encoder outputs, one per ``audio.ssl`` entry (in order)."""
        key = media_key(content, start=start, end=end)
        out = []
        for part in self.ssl_parts:
            extractor = part.extractor
            assert isinstance(extractor, AudioSignalExtractor)
            out.append(part.get(key, functools.partial(extractor.compute, seg, sr)))
        return out


_WORKER: Extractors | None = None


_STDERR_FILTER: contextlib.ExitStack | None = None


def _init_worker(cfg_json: str, parent_pid: int | None = None, cache_root: str | None = None) -> None:
    global _WORKER, _STDERR_FILTER
    if parent_pid is not None:
        die_with_parent(parent_pid)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _silence_native_logs()
    cfg = ExtractConfig.model_validate_json(cfg_json)
    if cfg.face.enabled:  # for the worker's lifetime; its results and errors travel back by pickle
        from .face import filtered_native_stderr

        _STDERR_FILTER = contextlib.ExitStack()
        _STDERR_FILTER.enter_context(filtered_native_stderr())
    _WORKER = Extractors(cfg, cache_root, single_thread=True)


PR_SET_PDEATHSIG = 1
#: seconds between two checks of the watchdog thread (systems without ``PR_SET_PDEATHSIG``)
WATCHDOG_INTERVAL = 1.0


def die_with_parent(parent_pid: int) -> None:
    """Make this (worker) process end when ``parent_pid`` ends, however it ends (even ``kill -9``).

    On Linux the kernel sends SIGKILL to the worker when its parent dies (``PR_SET_PDEATHSIG``);
    elsewhere, or when ``prctl`` is unavailable, a daemon thread polls ``os.getppid()``. A parent
    that died before this call (the worker was re-parented already) ends the worker at once.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while True:
                if os.getppid() != parent_pid:
                    os._exit(1)
                threading.Event().wait(WATCHDOG_INTERVAL)

        threading.Thread(target=watch, name="affectlab-parent-watchdog", daemon=True).start()


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: pending tasks cancelled, running workers terminated (not waited for)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        with contextlib.suppress(Exception):
            if proc.is_alive():
                proc.terminate()
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """While a pool runs, SIGTERM (and SIGHUP) raise :class:`SystemExit` in the main thread, so the
    pool is torn down (its workers terminated) instead of the process vanishing around them.
    Handlers someone else installed are left alone; the previous ones are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_exit(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    saved: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                saved[sig] = signal.signal(sig, raise_exit)
    try:
        yield
    finally:
        for sig, old in saved.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)


def _silence_native_logs() -> None:
    """MediaPipe/TFLite/absl print INFO lines on stderr; they would drown the progress bar."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


# ---------------------------------------------------------------------------------------------
# One file


def _segment_bounds(s: SampleSpec, duration: float) -> tuple[float, float]:
    start = 0.0 if s.start is None else s.start
    end = duration if s.end is None else s.end
    return start, end


def process_file(task: FileTask, ex: Extractors) -> FileResult:
    """Extract every sample of one file; problems with the file or a segment become :class:`Problem` rows."""
    cfg = ex.cfg
    res = FileResult()

    def fail_all(reason: str) -> FileResult:
        res.problems += [Problem(s.line, s.id, s.file, "failed", "all", reason) for s in task.samples]
        return res

    try:
        check_readable(task.path)
        content = file_sha256(task.path)  # the cache key of everything this file gives
    except MediaError as err:
        return fail_all(str(err))
    except OSError as err:
        return fail_all(f"cannot read ({err.strerror or err})")
    hits_before, computed_before = ex.counts()
    video = is_video(task.path)
    need_asr = cfg.asr.enabled and any(not s.text for s in task.samples)
    audio, sr, audio_note = None, cfg.audio.sample_rate, ""
    if cfg.audio.enabled or need_asr:
        try:
            audio, sr = load_audio(task.path, cfg.audio.sample_rate)
        except NoStreamError as err:
            audio_note = str(err)
        except MediaError as err:
            if not (video and cfg.face.enabled):
                return fail_all(str(err))
            audio_note = str(err)
    vinfo, video_note = None, ""
    if cfg.face.enabled:
        if not video:
            video_note = "not a video file"
        else:
            try:
                vinfo = video_info(task.path)
            except MediaError as err:
                if audio is None:
                    return fail_all(str(err))
                video_note = str(err)
    if audio is None and vinfo is None:
        return fail_all(audio_note or video_note or "nothing to extract from this file")
    duration = len(audio) / sr if audio is not None else vinfo.duration  # type: ignore[union-attr]

    good: list[tuple[SampleSpec, float, float]] = []
    for s in task.samples:
        start, end = _segment_bounds(s, duration)
        if start < 0 or end > duration + SEGMENT_TOLERANCE or start >= min(end, duration):
            res.problems.append(Problem(s.line, s.id, s.file, "failed", "all",
                                        f"segment {start:g}-{end:g} s outside the recording (0-{duration:.2f} s)"))
        elif end - start < cfg.audio.min_duration:
            res.problems.append(Problem(s.line, s.id, s.file, "failed", "all",
                                        f"segment {start:g}-{end:g} s shorter than {cfg.audio.min_duration:g} s"))
        else:
            good.append((s, start, min(end, duration)))
    if not good:
        return res

    words = None
    if need_asr and audio is not None:
        from .asr import words_of

        x = audio
        # the whole file at 16 kHz: decoded at another rate and resampled, the signal differs a little
        key = media_key(content, rate=16000) if sr == 16000 else media_key(content, rate=16000, via=sr)
        words = words_of(ex.asr.get(key, lambda: ex.asr.extractor(x, sr)))

    track, expr = None, None
    if vinfo is not None:
        from .face import track_of

        lo, hi = min(g[1] for g in good), max(g[2] for g in good)
        track = track_of(ex.face(task.path, start=lo, end=hi, content=content))
        if cfg.face.expression.enabled:
            expr = ex.expression(task.path, start=lo, end=hi, content=content)

    for s, start, end in good:
        out: dict[str, Any] = {"start": start, "end": end, "duration": duration, "nonfinite": 0}
        if cfg.audio.enabled:
            if audio is None:
                out["audio"] = None
                res.problems.append(Problem(s.line, s.id, s.file, "masked", "audio", audio_note))
            else:
                seg = audio[int(round(start * sr)):int(round(end * sr))]
                feats = ex.audio(content, seg, sr, start, end)
                out["audio"] = {"functionals": feats.functionals, "lld": feats.lld}
                if ex.ssl_parts:
                    out["ssl"] = ex.ssl(content, seg, sr, start, end)
                out["voiced_fraction"] = feats.voiced_fraction
                out["nonfinite"] += feats.nonfinite
                if np.isfinite(feats.voiced_fraction) and feats.voiced_fraction < cfg.audio.min_voiced_fraction:
                    res.problems.append(Problem(s.line, s.id, s.file, "masked", "audio",
                                                f"no speech detected (voiced fraction {feats.voiced_fraction:.3f})"))
        if cfg.asr.enabled:
            if s.text:
                out.update(text=s.text, text_source="labels", words=[])
            elif words is None:
                out.update(text="", text_source="none", words=[])
                res.problems.append(Problem(s.line, s.id, s.file, "masked", "text", f"no transcript: {audio_note or 'no audio'}"))
            else:
                from .asr import transcript_of, words_in

                mine = words_in(words, start, end)
                out.update(text=transcript_of(mine), text_source="asr",
                           words=[[w.word.strip(), w.start, w.end, round(w.probability, 4)] for w in mine])
                if not out["text"]:
                    res.problems.append(Problem(s.line, s.id, s.file, "masked", "text", "no speech recognised"))
        else:
            out.update(text=s.text, text_source="labels" if s.text else "none", words=[])
        if cfg.face.enabled:
            if track is None:
                out["vision"] = None
                res.problems.append(Problem(s.line, s.id, s.file, "masked", "vision", video_note))
            else:
                sel = (track.times >= start - 1e-6) & (track.times < end - 1e-6)
                mask = track.mask[sel]
                out["vision"] = {"features": track.features[sel], "mask": mask,
                                 "times": (track.times[sel] - start).astype(np.float32)}
                if mask.size == 0:
                    res.problems.append(Problem(s.line, s.id, s.file, "masked", "vision", "no video frame in the segment"))
                elif mask.sum() == 0:
                    res.problems.append(Problem(s.line, s.id, s.file, "masked", "vision", f"no face found in {mask.size} frames"))
            if expr is not None:
                out["expression"] = expression_payload(expr, start, end, cfg.face.expression.frames)
        res.samples[s.id] = out
    hits, computed = ex.counts()
    res.cached = hits > hits_before and computed == computed_before  # everything came from the cache
    return res


def expression_payload(expr: Features, start: float, end: float, frames: bool) -> dict[str, Any]:
    """One segment's part of a file's expression track: the clip's pooled vector (mean and std
    over the frames with a face), the frames with a face, the frames sampled (and the frames)."""
    from .expression import pool_clip

    sel = (expr["times"] >= start - 1e-6) & (expr["times"] < end - 1e-6)
    pooled, faces = pool_clip(expr["features"][sel], expr["mask"][sel])
    out: dict[str, Any] = {"pooled": pooled, "faces": faces, "frames": int(sel.sum())}
    if frames:
        out["features"], out["mask"] = expr["features"][sel], expr["mask"][sel]
    return out


def process_file_safely(task: FileTask, ex: Extractors) -> FileResult:
    """:func:`process_file`, with an unexpected error in one file recorded for its rows, not raised.

    A batch of thousands of files must not stop on one odd recording; the error type and
    message go to ``errors.csv`` ("unexpected ...") so the file can be reported as a bug.
    A bad ASR model is a config error and still stops the run.
    """
    from ..core.errors import AffectlabError

    try:
        return process_file(task, ex)
    except (AffectlabError, NotCached):
        raise
    except Exception as err:  # noqa: BLE001 (recorded, see docstring)
        msg = " ".join(str(err).split())[:200]
        return FileResult(problems=[Problem(s.line, s.id, s.file, "failed", "all",
                                            f"unexpected {type(err).__name__}: {msg}") for s in task.samples])


# ---------------------------------------------------------------------------------------------
# Many files


def run_tasks(tasks: list[FileTask], cfg: ExtractConfig, cache_root: Path | None, workers: int,
              on_done: Callable[[FileTask, FileResult], None] | None = None) -> dict[Path, FileResult]:
    """Process ``tasks``, in a pool of ``workers`` processes when > 1; every extractor call goes
    through the feature cache under ``cache_root`` (None: no cache)."""
    results: dict[Path, FileResult] = {}
    if workers > 1 and cache_root is not None:
        # files wholly in the cache are read here, without starting a pool (its start costs
        # seconds); from the first file with something to compute on, the pool does the rest
        reader = Extractors(cfg, cache_root, cache_only=True)
        for k, task in enumerate(tasks):
            try:
                res = process_file_safely(task, reader)
            except NotCached:
                tasks = tasks[k:]
                break
            results[task.path] = res
            if on_done:
                on_done(task, res)
        else:
            return results
    if not tasks:
        return results
    if workers <= 1 or len(tasks) == 1:
        _silence_native_logs()
        ex = Extractors(cfg, cache_root)
        with contextlib.ExitStack() as stack:
            if cfg.face.enabled:
                from .face import filtered_native_stderr

                stack.enter_context(filtered_native_stderr())
            for task in tasks:
                res = process_file_safely(task, ex)
                results[task.path] = res
                if on_done:
                    on_done(task, res)
        return results
    # spawn, not fork: MediaPipe, ctranslate2 and torch hold threads that a fork would copy broken
    ctx = get_context("spawn")
    # workers end with this process: SIGINT/SIGTERM tear the pool down (workers terminated), and a
    # worker whose parent is killed outright (kill -9) is killed by the kernel (die_with_parent)
    root = str(cache_root) if cache_root is not None else None
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                               initializer=_init_worker, initargs=(cfg.model_dump_json(), os.getpid(), root))
    with _signals_raise():
        try:
            pending: dict[Future, FileTask] = {}
            queue = list(tasks)
            while queue or pending:
                while queue and len(pending) < 2 * workers:  # keep the pool fed without pickling everything up front
                    task = queue.pop(0)
                    pending[pool.submit(_run_task, task)] = task
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = pending.pop(fut)
                    res = fut.result()
                    results[task.path] = res
                    if on_done:
                        on_done(task, res)
        except BaseException:
            _terminate_workers(pool)
            raise
        pool.shutdown(wait=True)
    return results


def _run_task(task: FileTask) -> FileResult:
    assert _WORKER is not None
    return process_file_safely(task, _WORKER)
