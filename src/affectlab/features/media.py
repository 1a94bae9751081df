"""Decoding media: audio to mono float32 at a chosen rate, video to frames sampled at a chosen fps.

Audio goes through soundfile (WAV, FLAC, OGG, MP3...) first, then PyAV (installed with
faster-whisper; reads the audio track of video files), then an ``ffmpeg`` binary if one is on
PATH. Resampling uses soxr when installed, else scipy's polyphase filter.

Problems with one file raise :class:`MediaError` (a one-line reason); the batch records it in
``errors.csv`` and goes on.

>>> import numpy as np, soundfile as sf, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
>>> sf.write(p, np.sin(np.arange(8000) / 8000 * 2 * np.pi * 220).astype("float32"), 8000)
>>> x, sr = load_audio(p, 16000)
>>> sr, x.shape, x.dtype
(16000, (16000,), dtype('float32'))
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"})


class MediaError(Exception):
    """One input file (or segment) cannot be used; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class NoStreamError(MediaError):
    """The file has no stream of the wanted kind (e.g. a video without an audio track)."""


def is_video(path: str | Path) -> bool:
    """Whether ``path`` is a video file by its suffix."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def check_readable(path: Path) -> None:
    """Refuse missing, non-regular and zero-length files with a clear reason."""
    if not path.exists():
        raise MediaError("file not found")
    if not path.is_file():
        raise MediaError("not a regular file")
    if path.stat().st_size == 0:
        raise MediaError("zero-length file")


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample a 1-D signal (soxr high quality, else scipy polyphase)."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    try:
        import soxr

        return soxr.resample(x.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ").astype(np.float32)
    except ImportError:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(sr_in, sr_out)
        return resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


def _mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) if x.ndim == 2 else x


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=False)
    return _mono(x), int(sr)


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av  # bundled FFmpeg libraries; comes with faster-whisper

    try:
        container = av.open(str(path))
    except Exception as err:  # av raises its own error hierarchy
        raise MediaError(f"cannot open ({type(err).__name__})") from None
    with container:
        if not container.streams.audio:
            raise NoStreamError("no audio track")
        stream = container.streams.audio[0]
        sr = int(stream.codec_context.sample_rate or stream.rate)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    x = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return x.astype(np.float32), sr


def _read_ffmpeg(path: Path, sr: int) -> tuple[np.ndarray, int]:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(sr), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        if any("does not contain any stream" in m or "matches no streams" in m for m in msg):
            raise NoStreamError("no audio track")
        raise MediaError(f"ffmpeg: {msg[-1] if msg else 'no message'}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy(), sr


def load_audio(path: str | Path, sample_rate: int) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 at ``sample_rate``; :class:`MediaError` when it cannot."""
    p = Path(path)
    check_readable(p)
    errors: list[str] = []
    x: np.ndarray | None = None
    sr = sample_rate
    if not is_video(p):
        try:
            x, sr = _read_soundfile(p)
        except Exception as err:  # soundfile raises LibsndfileError, RuntimeError...
            errors.append(f"soundfile: {str(err).splitlines()[0][:80]}")
    if x is None:
        try:
            x, sr = _read_pyav(p)
        except ImportError:
            errors.append("PyAV not installed")
        except NoStreamError:
            raise
        except MediaError as err:
            errors.append(f"PyAV: {err}")
        except Exception as err:
            errors.append(f"PyAV: {type(err).__name__}")
    if x is None and shutil.which("ffmpeg"):
        try:
            x, sr = _read_ffmpeg(p, sample_rate)
        except NoStreamError:
            raise
        except MediaError as err:
            errors.append(str(err).replace(str(p), p.name))
    if x is None:
        raise MediaError(f"cannot decode audio ({'; '.join(errors) or 'no decoder'})")
    if x.size == 0:
        raise MediaError("no audio samples (zero-length recording)")
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return resample(x, sr, sample_rate), sample_rate


@dataclass
class VideoInfo:
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def video_info(path: str | Path) -> VideoInfo:
    """Native frame rate, frame count and size of a video (OpenCV)."""
    import cv2

    p = Path(path)
    check_readable(p)
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise MediaError("cannot open video (OpenCV)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if n <= 0 and fps > 0:  # some containers (WebM, streams) do not say: count by grabbing
            while cap.grab():
                n += 1
    finally:
        cap.release()
    if fps <= 0 or not np.isfinite(fps):
        raise MediaError("video reports no frame rate")
    if n <= 0 or w <= 0 or h <= 0:
        raise MediaError("video has no frames")
    return VideoInfo(fps, n, w, h)


def sample_frames(path: str | Path, fps: float, start: float = 0.0, end: float | None = None,
                  max_width: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time_s, rgb_frame)`` at ``fps`` (or the native rate if lower) within [start, end).

    Frames are picked on a fixed grid ``start + k / fps`` (the native frame nearest to each grid
    time; the time yielded is that frame's own time), so the same video gives the same frames
    every run. Frames not needed are only grabbed, not converted.
    """
    import cv2

    p = Path(path)
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise MediaError("cannot open video (OpenCV)")
    try:
        native = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if native <= 0:
            raise MediaError("video reports no frame rate")
        step = 1.0 / min(fps, native)
        stop = np.inf if end is None else end

        def index(k: int) -> int:  # the native frame nearest to grid time start + k * step
            return int(round((start + k * step) * native + 1e-9))

        k, i = 0, 0
        target = index(0)
        while i / native < stop - 1e-9:
            if not cap.grab():
                break
            if i == target:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    break
                if max_width and bgr.shape[1] > max_width:
                    scale = max_width / bgr.shape[1]
                    bgr = cv2.resize(bgr, (max_width, int(round(bgr.shape[0] * scale))), interpolation=cv2.INTER_AREA)
                yield i / native, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                while target <= i:
                    k += 1
                    target = index(k)
            i += 1
    finally:
        cap.release()


