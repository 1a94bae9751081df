"""Face geometry from video: MediaPipe FaceMesh landmarks → pose-normalised geometry + expression measures.

Per sampled frame the extractor returns one feature row and a face-found flag. Frames without
a face are kept (their row is zeros) and flagged 0 in the mask: sequences never shrink.

**One track.** FaceMesh looks for up to ``max_faces`` faces. The track starts on the largest
face; in later frames the face whose centre is nearest the last tracked centre is kept, so a
second person entering the picture does not take over. A candidate farther than 1.5 face
widths from the last position counts as "no face" for that frame, unless the track has been
lost for more than one second, after which the largest face starts a new track.

**Pose normalisation** (no 3-D model needed). Landmarks are taken in pixels (x·W, y·H, z·W).
A face frame is built from rigid points: origin = midpoint of the outer eye corners (33, 263);
x axis = right→left outer eye corner (image left→right for a frontal face); y axis = nose
bridge (168) → nose base (2), made orthogonal to x (points down); z = x × y (away from the
camera). Coordinates in this frame divided by the inter-ocular distance (IOD) are free of
translation, in-plane and out-of-plane rotation and scale.

**Columns** (:data:`MEASURE_NAMES`, then :data:`POSE_NAMES`, then the pose-normalised
coordinates ``lm{i}_{x|y|z}`` of all 468 landmarks, of the 128 on FaceMesh's contours
(:data:`CONTOUR_LANDMARKS`: lips, eyes, brows, face oval; the default) or of none); lengths
are in IOD units:

- ``mouth_open``: inner-lip gap (13–14); ``mouth_width``: lip-corner spread (61–291);
  ``mouth_aspect``: open / width; ``lip_corner_raise``: height of the lip corners above the
  inner-lip midpoint (positive = corners up, as in a smile);
- ``eye_aspect_left``/``eye_aspect_right``: eye aspect ratio (Soukupová & Čech 2016) from
  landmarks 362,385,387,263,373,380 / 33,160,158,133,153,144 (about 0.25–0.35 open, < 0.15 closed);
- ``brow_raise_left``/``brow_raise_right``: mean brow height (300,293,334,296,336 /
  70,63,105,66,107) above the upper eyelid midpoint (386 / 159);
- ``brow_inner_distance``: gap between the inner brow ends (107–336; smaller = frown);
- ``jaw_drop``: nose tip (1) to chin (152);
- pose: ``yaw``, ``pitch``, ``roll`` in degrees (approximate, from the face frame),
  ``face_size`` (IOD / frame width), ``face_x``, ``face_y`` (face centre / frame size).

>>> MEASURE_NAMES[:3]
['mouth_open', 'mouth_width', 'mouth_aspect']
>>> len(feature_names("all")) == len(MEASURE_NAMES) + len(POSE_NAMES) + 468 * 3
True
>>> len(feature_names("contours")), len(feature_names("none"))
(400, 16)
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator

import numpy as np
from pydantic import ConfigDict

from .base import Extractor, Features, Modality, dist_version, is_path, video_item_key
from .extract_config import FaceMeshSettings
from .registry import register_extractor

N_LANDMARKS = 468
MEASURE_NAMES = [
    "mouth_open", "mouth_width", "mouth_aspect", "lip_corner_raise", "eye_aspect_left", "eye_aspect_right",
    "brow_raise_left", "brow_raise_right", "brow_inner_distance", "jaw_drop",
]
POSE_NAMES = ["yaw", "pitch", "roll", "face_size", "face_x", "face_y"]

_R_EYE = (33, 160, 158, 133, 153, 144)  # p1..p6 of the eye aspect ratio, subject's right eye
_L_EYE = (362, 385, 387, 263, 373, 380)
_R_BROW, _L_BROW = (70, 63, 105, 66, 107), (300, 293, 334, 296, 336)


#: the landmarks of MediaPipe's FACEMESH_CONTOURS (lips, eyes, brows, face oval)
CONTOUR_LANDMARKS = (
    0, 7, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80, 81, 82, 84,
    87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155,
    157, 158, 159, 160, 161, 162, 163, 172, 173, 176, 178, 181, 185, 191, 234, 246, 249, 251, 263, 267, 269, 270,
    276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324,
    332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388,
    389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466,
)


def landmark_indices(landmarks: str | bool) -> tuple[int, ...]:
    """Which landmarks' coordinates are columns: ``all``, ``contours`` or ``none`` (bools: all/none)."""
    mode = {True: "all", False: "none"}.get(landmarks, landmarks) if isinstance(landmarks, bool) else landmarks
    if mode == "all":
        return tuple(range(N_LANDMARKS))
    if mode == "contours":
        return CONTOUR_LANDMARKS
    if mode == "none":
        return ()
    raise ValueError(f"landmarks must be all, contours or none, not {landmarks!r}")


def feature_names(landmarks: str | bool) -> list[str]:
    """Column names of the per-frame face features."""
    return MEASURE_NAMES + POSE_NAMES + [f"lm{i}_{a}" for i in landmark_indices(landmarks) for a in "xyz"]


def face_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin, rotation (rows = face x, y, z axes in camera coordinates) and IOD of a (468, 3) face."""
    origin = (points[33] + points[263]) / 2
    xa = points[263] - points[33]
    iod = float(np.linalg.norm(xa))
    xa = xa / max(iod, 1e-9)
    down = points[2] - points[168]
    ya = down - (down @ xa) * xa
    ya = ya / max(float(np.linalg.norm(ya)), 1e-9)
    za = np.cross(xa, ya)
    return origin, np.stack([xa, ya, za]), iod


def normalise_pose(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(468, 3) pixel landmarks → pose-free coordinates in IOD units, the rotation and the IOD.

    >>> rng = np.random.default_rng(0)
    >>> pts = rng.normal(size=(468, 3)) * 50
    >>> c, s = np.cos(0.3), np.sin(0.3)
    >>> rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    >>> a, _, _ = normalise_pose(pts)
    >>> b, _, _ = normalise_pose(2.0 * pts @ rot.T + 7.0)   # rotated, scaled and moved
    >>> bool(np.allclose(a, b))
    True
    """
    origin, rot, iod = face_frame(points)
    return (points - origin) @ rot.T / max(iod, 1e-9), rot, iod


def _dist(a: np.ndarray, i: int, j: int) -> float:
    return float(np.linalg.norm(a[i] - a[j]))


def expression_measures(aligned: np.ndarray) -> np.ndarray:
    """The :data:`MEASURE_NAMES` values of one pose-normalised (468, 3) face."""
    mouth_open = _dist(aligned, 13, 14)
    mouth_width = _dist(aligned, 61, 291)
    mid_y = (aligned[13, 1] + aligned[14, 1]) / 2
    corner_raise = mid_y - (aligned[61, 1] + aligned[291, 1]) / 2  # y points down: corners above → positive

    def ear(idx: tuple[int, ...]) -> float:
        p1, p2, p3, p4, p5, p6 = idx
        return (_dist(aligned, p2, p6) + _dist(aligned, p3, p5)) / max(2 * _dist(aligned, p1, p4), 1e-9)

    brow_l = aligned[386, 1] - aligned[list(_L_BROW), 1].mean()
    brow_r = aligned[159, 1] - aligned[list(_R_BROW), 1].mean()
    return np.array([
        mouth_open, mouth_width, mouth_open / max(mouth_width, 1e-9), corner_raise, ear(_L_EYE), ear(_R_EYE),
        brow_l, brow_r, _dist(aligned, 107, 336), _dist(aligned, 1, 152),
    ], dtype=np.float32)


def pose_angles(rot: np.ndarray) -> tuple[float, float, float]:
    """Approximate yaw, pitch, roll (degrees) from the face axes (0, 0, 0 for a frontal, upright face)."""
    xa, ya = rot[0], rot[1]
    yaw = np.degrees(np.arctan2(xa[2], xa[0]))
    pitch = np.degrees(np.arctan2(-ya[2], ya[1]))
    roll = np.degrees(np.arctan2(xa[1], xa[0]))
    return float(yaw), float(pitch), float(roll)


def frame_features(points: np.ndarray, width: int, height: int, landmarks: str | bool) -> np.ndarray:
    """One frame's feature row from (468, 3) pixel landmarks."""
    aligned, rot, iod = normalise_pose(points)
    yaw, pitch, roll = pose_angles(rot)
    centre = points[:, :2].mean(axis=0)
    pose = np.array([yaw, pitch, roll, iod / width, centre[0] / width, centre[1] / height], dtype=np.float32)
    idx = landmark_indices(landmarks)
    parts = [expression_measures(aligned), pose, aligned[list(idx)].astype(np.float32).reshape(-1)]
    return np.concatenate(parts)


@dataclass
class FaceTrack:
    """Features of sampled frames: ``times`` (T,), ``features`` (T, D), ``mask`` (T,) 1 = face found."""

    times: np.ndarray
    features: np.ndarray
    mask: np.ndarray
    faces_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))  # candidates per frame


class _Tracker:
    """Keeps one face across frames (see the module docstring)."""

    def __init__(self, lost_after: float = 1.0) -> None:
        self.centre: np.ndarray | None = None
        self.width = 0.0
        self.last_seen = -np.inf
        self.lost_after = lost_after

    def choose(self, t: float, faces: list[np.ndarray]) -> np.ndarray | None:
        if not faces:
            return None
        boxes = [(f[:, :2].min(axis=0), f[:, :2].max(axis=0)) for f in faces]
        centres = [(lo + hi) / 2 for lo, hi in boxes]
        widths = [float(hi[0] - lo[0]) for lo, hi in boxes]
        if self.centre is None or t - self.last_seen > self.lost_after:
            k = int(np.argmax([w * float(hi[1] - lo[1]) for w, (lo, hi) in zip(widths, boxes)]))
        else:
            d = [float(np.linalg.norm(c - self.centre)) for c in centres]
            k = int(np.argmin(d))
            if d[k] > 1.5 * max(self.width, 1e-9):
                return None
        self.centre, self.width, self.last_seen = centres[k], widths[k], t
        return faces[k]


NOISE = re.compile(rb"^([IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]|INFO: Created TensorFlow Lite"
                   rb"|WARNING: All log messages before absl::InitializeLog)")


@contextlib.contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Drop MediaPipe's C++ log lines (TFLite INFO, absl W0000/I0000) from file descriptor 2.

    They come from graph threads, at any time, and would bury the progress bar and the
    one-line error contract. fd 2 goes through a pipe; a thread passes on every line that is
    not such a log line. On exit fd 2 is restored and everything pending is written out.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to filter
        yield
        return
    read_end, write_end = os.pipe()

    def pump() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out = b"".join(line + b"\n" for line in lines if not NOISE.match(line))
            if pending and not NOISE.match(pending) and not pending.startswith((b"W0", b"I0", b"E0", b"INFO", b"WARN")):
                out, pending = out + pending, b""  # partial writes (progress bars) pass at once
            if out:
                os.write(saved, out)
        if pending and not NOISE.match(pending):
            os.write(saved, pending)

    thread = threading.Thread(target=pump, name="affectlab-stderr-filter", daemon=True)
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF
        thread.join(timeout=5)
        os.close(read_end)
        os.close(saved)


class FaceExtractor:
    """MediaPipe FaceMesh over a stream of RGB frames (one instance per video: it tracks).

    ``cfg``: a :class:`FaceConfig`, :class:`FaceMeshParams` or any other :class:`FaceMeshSettings`."""

    name = "face"

    def __init__(self, cfg: FaceMeshSettings) -> None:
        import mediapipe as mp

        self.cfg = cfg
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=cfg.max_faces, refine_landmarks=False,
            min_detection_confidence=cfg.min_detection_confidence, min_tracking_confidence=cfg.min_tracking_confidence)

    @staticmethod
    def versions() -> dict[str, str]:
        import cv2
        import mediapipe as mp

        return {"mediapipe": mp.__version__, "opencv": cv2.__version__, "face_model": "FaceMesh (mp.solutions.face_mesh, 468 landmarks)"}

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> "FaceExtractor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        """The (468, 3) pixel landmarks (x·W, y·H, z·W) of every face FaceMesh finds in one frame
        (video mode: call in frame order)."""
        h, w = rgb.shape[:2]
        rgb = np.ascontiguousarray(rgb)
        rgb.flags.writeable = False  # lets MediaPipe use the buffer without a copy
        res = self._mesh.process(rgb)
        return [np.array([(p.x * w, p.y * h, p.z * w) for p in lms.landmark[:N_LANDMARKS]], dtype=np.float64)
                for lms in res.multi_face_landmarks or []]

    def run(self, frames: Iterable[tuple[float, np.ndarray]]) -> FaceTrack:
        """Process ``(time, rgb)`` frames in order; every frame gives one row and one mask value."""
        dim = len(feature_names(self.cfg.landmarks))
        tracker = _Tracker()
        times, rows, mask, seen = [], [], [], []
        for t, rgb in frames:
            h, w = rgb.shape[:2]
            faces = self.faces(rgb)
            chosen = tracker.choose(t, faces)
            times.append(t)
            seen.append(len(faces))
            if chosen is None:
                rows.append(np.zeros(dim, np.float32))
                mask.append(0)
            else:
                row = frame_features(chosen, w, h, self.cfg.landmarks)
                ok = bool(np.isfinite(row).all())
                rows.append(row if ok else np.zeros(dim, np.float32))
                mask.append(int(ok))
        feats = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
        return FaceTrack(np.asarray(times, np.float64), feats, np.asarray(mask, np.uint8), np.asarray(seen, np.int16))


# ---------------------------------------------------------------------------------------------
# The registered extractor


class FaceMeshParams(FaceMeshSettings):
    """What ``face:`` in an extract config sets, less ``enabled`` (the same fields: one schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@register_extractor
class FaceMeshExtractor(Extractor[FaceMeshParams]):
    """MediaPipe FaceMesh geometry per frame of a video file (``start``/``end`` seconds; frames
    sampled at ``fps``, see :func:`affectlab.features.media.sample_frames`) or of a sequence of
    ``(time, rgb)`` frames: ``features`` (T, D) (:func:`feature_names`), ``mask`` (T,) uint8
    (1 = a face), ``times`` (T,) seconds, ``faces_seen`` (T,). Each call tracks afresh."""

    name = "facemesh"
    modality: ClassVar[Modality] = "video"
    Params = FaceMeshParams
    requires = ("video", ("mediapipe", "cv2"))

    @property
    def version(self) -> str:
        return (f"{self.code_version}; mediapipe {dist_version('mediapipe')}; "
                f"opencv {dist_version('opencv-python', 'opencv-python-headless', 'opencv-contrib-python')}")

    def feature_names(self) -> list[str]:
        return feature_names(self.params.landmarks)

    def __call__(self, video: Any, *, start: float = 0.0, end: float | None = None) -> Features:
        from .media import sample_frames

        frames = sample_frames(video, self.params.fps, start, end, self.params.max_width) if is_path(video) else video
        with FaceExtractor(self.params) as fx:
            track = fx.run(frames)
        return {"times": track.times, "features": track.features, "mask": track.mask, "faces_seen": track.faces_seen}

    def item_key(self, video: Any, *, start: float = 0.0, end: float | None = None, content: str | None = None) -> str:
        """A file: its bytes and the window; frames: their times and pixels (give a list, not a generator)."""
        return video_item_key(video, start, end, content)


def track_of(features: Features) -> FaceTrack:
    """The :class:`FaceTrack` of a :class:`FaceMeshExtractor` output."""
    return FaceTrack(features["times"], features["features"], features["mask"], features["faces_seen"])
