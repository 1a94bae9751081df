"""Real media made on the spot for the extraction tests (a helper module, not a conftest).

Speech comes from espeak-ng (tests skip with a reason when the binary is missing), faces from
scikit-image's astronaut photo moved slightly frame to frame, and a face-free video from
scikit-image's coffee photo. Videos with a sound track are written with PyAV (installed with
faster-whisper); plain videos with OpenCV.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EMODB = SHARED_DATA / "emodb"

SENTENCE = "The quick brown fox jumps over the lazy dog. Speech features are easy to test."


def espeak_wav(path: Path, text: str = SENTENCE, speed: int = 150, voice: str = "en") -> Path:
    """Synthesise ``text`` to a WAV file with espeak-ng (22.05 kHz mono)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng): speech tests need real synthetic speech")
    subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(path), text], check=True, capture_output=True)
    return path


def tone(freq: float, seconds: float, sr: int = 16000, amp: float = 0.3) -> np.ndarray:
    """A pure sine as float32."""
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def astronaut_frames(n: int = 50, size: int = 400, angle: float = 0.0) -> list[np.ndarray]:
    """RGB frames of the astronaut's face with a slight drift (a few pixels), optionally rotated in-plane."""
    import cv2
    from skimage import data

    img = data.astronaut()  # 512 x 512 RGB, the face is in the upper middle
    frames = []
    for i in range(n):
        dx, dy = int(round(4 * np.sin(i / 6))), int(round(3 * np.cos(i / 8)))
        crop = np.ascontiguousarray(img[40 + dy:40 + dy + size, 60 + dx:60 + dx + size])
        if angle:
            rot = cv2.getRotationMatrix2D((size / 2, size / 3), angle, 1.0)
            crop = cv2.warpAffine(crop, rot, (size, size), borderMode=cv2.BORDER_REFLECT)
        frames.append(crop)
    return frames


def coffee_frames(n: int = 30, size: int = 320) -> list[np.ndarray]:
    """RGB frames of a coffee cup (no face), slightly moving."""
    from skimage import data

    img = data.coffee()
    return [np.ascontiguousarray(img[10 + i % 5:10 + i % 5 + size, 20 + i % 7:20 + i % 7 + size]) for i in range(n)]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Write RGB frames as an MJPG .avi (OpenCV, no sound)."""
    import cv2

    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def write_av(path: Path, frames: list[np.ndarray], audio: np.ndarray | None, sr: int = 16000, fps: int = 25) -> Path:
    """Write an MP4 (MPEG-4 video, AAC audio) with PyAV; skips when PyAV is missing."""
    av = pytest.importorskip("av", reason="PyAV (installed with faster-whisper) writes the test videos with sound")
    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w") as out:
        vs = out.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.bit_rate = 2_000_000
        astream = None
        if audio is not None:
            astream = out.add_stream("aac", rate=sr)
            astream.layout = "mono"
        for f in frames:
            for packet in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if astream is not None:
            pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            step = 1024
            for i in range(0, len(pcm), step):
                chunk = pcm[i:i + step]
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
                frame.sample_rate = sr
                frame.pts = i
                for packet in astream.encode(frame):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return path


def read_wav(path: Path, sr: int = 16000) -> np.ndarray:
    from affectlab.features.media import load_audio

    return load_audio(path, sr)[0]
