"""Face geometry from video: frame sampling, masks, pose normalisation, one track."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2", reason="video extra not installed (pip install affectlab[video])")
pytest.importorskip("mediapipe", reason="video extra not installed (pip install affectlab[video])")
pytest.importorskip("skimage", reason="scikit-image makes the test videos (pip install affectlab[test])")

from conftest_media import astronaut_frames, coffee_frames, write_video  # noqa: E402

from affectlab.features.extract_config import FaceConfig  # noqa: E402
from affectlab.features.face import (  # noqa: E402
    CONTOUR_LANDMARKS, MEASURE_NAMES, POSE_NAMES, FaceExtractor, _Tracker, feature_names, normalise_pose,
)
from affectlab.features.media import MediaError, sample_frames, video_info  # noqa: E402


@pytest.fixture(scope="module")
def astronaut_avi(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "astronaut.avi", astronaut_frames(50), fps=25)


@pytest.fixture(scope="module")
def astronaut_track(astronaut_avi):
    with FaceExtractor(FaceConfig(enabled=True)) as fx:
        return fx.run(sample_frames(astronaut_avi, 25))


def col(track, name):
    return track.features[:, feature_names("contours").index(name)]


def test_every_frame_gives_one_row_and_one_mask_value(astronaut_avi, astronaut_track):
    info = video_info(astronaut_avi)
    n = info.frame_count
    assert n == 50
    assert astronaut_track.features.shape == (n, len(feature_names("contours")))
    assert astronaut_track.mask.shape == (n,) and astronaut_track.times.shape == (n,)
    assert astronaut_track.mask.mean() >= 0.9  # the astronaut's face is found in (nearly) every frame
    assert np.isfinite(astronaut_track.features).all()
    assert np.all(np.diff(astronaut_track.times) > 0)


def test_expression_measures_are_plausible(astronaut_track):
    found = astronaut_track.mask == 1
    ear = np.concatenate([col(astronaut_track, "eye_aspect_left")[found], col(astronaut_track, "eye_aspect_right")[found]])
    assert np.all((ear > 0.15) & (ear < 0.45))  # open eyes
    assert np.all(col(astronaut_track, "lip_corner_raise")[found] > 0)  # she smiles: corners above the lip midpoint
    assert np.all(np.abs(col(astronaut_track, "yaw")[found]) < 25)  # roughly frontal
    # the slight drift moves the face in the picture but not its pose-normalised shape
    assert np.ptp(col(astronaut_track, "face_x")[found]) > 0.005
    assert np.std(col(astronaut_track, "mouth_width")[found]) < 0.02


def test_in_plane_rotation_shows_as_roll_not_as_expression(tmp_path, astronaut_track):
    rotated = write_video(tmp_path / "rot.avi", astronaut_frames(10, angle=15.0), fps=25)
    with FaceExtractor(FaceConfig(enabled=True)) as fx:
        track = fx.run(sample_frames(rotated, 25))
    assert track.mask.all()
    base = np.median(col(astronaut_track, "roll")[astronaut_track.mask == 1])
    assert np.median(col(track, "roll")) - base == pytest.approx(-15.0, abs=3.0)  # OpenCV turns counter-clockwise
    for name in ("mouth_width", "eye_aspect_left", "brow_raise_left"):
        ref = np.median(col(astronaut_track, name)[astronaut_track.mask == 1])
        assert np.median(col(track, name)) == pytest.approx(ref, abs=0.03), name


def test_video_without_a_face_is_kept_and_masked(tmp_path):
    video = write_video(tmp_path / "coffee.avi", coffee_frames(20), fps=25)
    with FaceExtractor(FaceConfig(enabled=True)) as fx:
        track = fx.run(sample_frames(video, 25))
    assert track.mask.shape == (20,) and track.mask.sum() == 0
    assert track.features.shape == (20, len(feature_names("contours"))) and not track.features.any()


def test_sampling_rate_and_segment_bounds(astronaut_avi):
    times = [t for t, _ in sample_frames(astronaut_avi, 10)]
    assert len(times) == 20  # 2 s at 10 fps
    assert np.allclose(np.diff(times), 0.1, atol=0.021)  # nearest native frame (25 fps grid) to each 0.1 s step
    seg = [t for t, _ in sample_frames(astronaut_avi, 25, start=0.5, end=1.0)]
    assert len(seg) in (12, 13)  # 0.5 s at 25 fps, frames nearest 0.50 ... 0.98 s
    assert seg[0] >= 0.48 and seg[-1] < 1.0
    assert [t for t, _ in sample_frames(astronaut_avi, 100)][:3] == pytest.approx([0.0, 0.04, 0.08])  # never above native


def test_landmark_columns_all_contours_none():
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_CONTOURS

    assert feature_names("none") == feature_names(False) == MEASURE_NAMES + POSE_NAMES
    assert len(feature_names("all")) == len(feature_names(True)) == len(MEASURE_NAMES) + len(POSE_NAMES) + 468 * 3
    assert sorted(CONTOUR_LANDMARKS) == sorted({i for edge in FACEMESH_CONTOURS for i in edge})
    assert FaceConfig(landmarks=True).landmarks == "all" and FaceConfig().landmarks == "contours"


def test_pose_normalisation_removes_rotation_scale_and_translation():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(468, 3)) * 40
    a, b, c = 0.2, -0.3, 0.4
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    moved = 3.0 * pts @ (rz @ ry @ rx).T + np.array([100.0, -20.0, 5.0])
    assert np.allclose(normalise_pose(pts)[0], normalise_pose(moved)[0], atol=1e-9)


def test_tracker_keeps_one_face_when_another_appears():
    def face(cx: float, cy: float, size: float) -> np.ndarray:
        pts = np.zeros((468, 3))
        pts[:, 0] = cx + np.linspace(-size / 2, size / 2, 468)
        pts[:, 1] = cy + np.linspace(-size / 2, size / 2, 468)[::-1]
        return pts

    tr = _Tracker()
    a = face(100, 100, 50)
    assert tr.choose(0.0, [a]) is a
    big = face(300, 120, 120)  # a larger face enters; the track stays on the first person
    a2 = face(104, 101, 50)
    assert tr.choose(0.04, [big, a2]) is a2
    assert tr.choose(0.08, [big]) is None  # first person gone: masked, not swapped
    assert tr.choose(2.0, [big]) is big  # lost for > 1 s: a new track starts on the largest face


def test_unreadable_video_is_a_media_error(tmp_path):
    p = tmp_path / "broken.mp4"
    p.write_bytes(b"\x00" * 2048)
    with pytest.raises(MediaError):
        video_info(p)


def test_two_faces_one_track(tmp_path):
    """Two people in the picture: the track stays on the one it started with (the larger)."""
    import cv2
    from skimage import data

    zoom = cv2.resize(data.astronaut()[10:270, 130:390], (400, 400), interpolation=cv2.INTER_LINEAR)
    frames = [np.ascontiguousarray(np.concatenate([f, np.roll(zoom, i % 3, axis=0)], axis=1))
              for i, f in enumerate(astronaut_frames(20))]
    video = write_video(tmp_path / "two.avi", frames, fps=25)
    with FaceExtractor(FaceConfig(enabled=True, max_faces=2, max_width=800)) as fx:
        track = fx.run(sample_frames(video, 25))
    assert (track.faces_seen == 2).mean() > 0.8  # FaceMesh does see both
    assert track.mask.mean() > 0.9
    x = col(track, "face_x")[track.mask == 1]
    assert np.all(x > 0.5) and np.std(x) < 0.02  # always the right, larger face
