"""A reader of CTranslate2's ``model.bin`` (the weights file of a converted model, such as
faster-whisper's Whisper folders), so its variables can be loaded into another framework.

The format (CTranslate2's ``src/models/model.cc``, binary versions 4 to 6), little-endian: a
uint32 binary version; the spec name and a uint32 spec revision; a uint32 variable count, then per
variable its name, a uint8 rank, ``rank`` uint32 dims, a uint8 dtype id (0 float32, 1 int8,
2 int16, 3 int32, 4 float16, 5 bfloat16), a uint32 byte count and the raw data; then a uint32
alias count and (alias, name) pairs. A string is a uint16 length that counts a closing NUL, then
the bytes. Only the variables asked for are read (:func:`read_variables`); the others are skipped.

Weights quantised to int8 come with a float32 ``<name>_scale`` per output row (CTranslate2 stores
``round(w * scale)``, so ``w = q / scale``); :func:`dequantized` undoes that. int16 weights (a
single scale) are refused.

A hand-built file of one float16 matrix, one int8 matrix with its scale, and a scalar:

>>> import io, struct
>>> def s(t): return struct.pack("<H", len(t) + 1) + t.encode() + b"\\0"
>>> def var(name, dims, dtype, data):
...     return s(name) + struct.pack(f"<B{len(dims)}I", len(dims), *dims) + struct.pack("<BI", dtype, len(data)) + data
>>> blob = (struct.pack("<I", 6) + s("DemoSpec") + struct.pack("<II", 1, 4)
...         + var("enc/w", (2, 2), 4, np.array([[1, 2], [3, 4]], np.float16).tobytes())
...         + var("enc/q/weight", (2, 2), 1, np.array([[10, -20], [127, 0]], np.int8).tobytes())
...         + var("enc/q/weight_scale", (2,), 0, np.array([10, 127], np.float32).tobytes())
...         + var("dec/heads", (), 2, struct.pack("<h", 6)) + struct.pack("<I", 0))
>>> f = io.BytesIO(blob)
>>> header = read_header(f)
>>> header.spec, header.revision, header.version
('DemoSpec', 1, 6)
>>> v = read_variables(f, header, lambda name: name.startswith("enc/"))
>>> sorted(v), v["enc/w"].dtype, v["enc/w"].tolist()
(['enc/q/weight', 'enc/q/weight_scale', 'enc/w'], dtype('float16'), [[1.0, 2.0], [3.0, 4.0]])
>>> dequantized(v)["enc/q/weight"].tolist()
[[1.0, -2.0], [1.0, 0.0]]
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

import numpy as np

from ..core.errors import AffectlabError

#: CTranslate2's DataType ids (include/ctranslate2/types.h) -> numpy dtype; bfloat16 (5) is read
#: as uint16 and widened to float32
DTYPES: dict[int, np.dtype] = {0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
                               4: np.dtype("<f2"), 5: np.dtype("<u2")}
DTYPE_NAMES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
#: binary versions whose variable records carry a dtype id and a byte count
SUPPORTED_VERSIONS = range(4, 7)


@dataclass(frozen=True)
class Header:
    version: int
    spec: str
    revision: int
    n_variables: int


def _read(f: IO[bytes], n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise AffectlabError("CTranslate2 model.bin: the file ends early (truncated or not a model.bin)")
    return b


def _u32(f: IO[bytes]) -> int:
    return int(struct.unpack("<I", _read(f, 4))[0])


def _string(f: IO[bytes]) -> str:
    n = int(struct.unpack("<H", _read(f, 2))[0])
    return _read(f, n).rstrip(b"\0").decode("utf-8", errors="replace")


def read_header(f: IO[bytes]) -> Header:
    """The binary version, spec name and revision, and the variable count (``f`` is left at the first variable)."""
    version = _u32(f)
    if version not in SUPPORTED_VERSIONS:
        raise AffectlabError(f"CTranslate2 model.bin: binary version {version} is not supported "
                             f"(this reader knows versions {SUPPORTED_VERSIONS.start}..{SUPPORTED_VERSIONS.stop - 1})")
    spec = _string(f)
    revision = _u32(f)
    return Header(version, spec, revision, _u32(f))


def read_variables(f: IO[bytes], header: Header, keep: Callable[[str], bool]) -> dict[str, np.ndarray]:
    """The variables whose name ``keep`` accepts, as arrays of their stored dtype (bfloat16 widened
    to float32); ``f`` must be just past ``header``. The data of the others is skipped, not read."""
    out: dict[str, np.ndarray] = {}
    for _ in range(header.n_variables):
        name = _string(f)
        rank = _read(f, 1)[0]
        dims = struct.unpack(f"<{rank}I", _read(f, 4 * rank))
        dtype_id = _read(f, 1)[0]
        n_bytes = _u32(f)
        if not keep(name):
            f.seek(n_bytes, 1)
            continue
        if dtype_id not in DTYPES:
            raise AffectlabError(f"CTranslate2 model.bin: variable {name!r} has unknown dtype id {dtype_id}")
        dtype = DTYPES[dtype_id]
        if n_bytes != dtype.itemsize * int(np.prod(dims, dtype=np.int64)):
            raise AffectlabError(f"CTranslate2 model.bin: variable {name!r} holds {n_bytes} bytes, "
                                 f"not what shape {tuple(dims)} of {DTYPE_NAMES[dtype_id]} needs")
        arr = np.frombuffer(_read(f, n_bytes), dtype=dtype).reshape(dims)
        if dtype_id == 5:  # bfloat16: the top half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out


def read_model(path: str | Path, keep: Callable[[str], bool]) -> tuple[Header, dict[str, np.ndarray]]:
    """The header and the kept variables of a ``model.bin`` file (or of the folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.bin"
    try:
        with open(p, "rb") as f:
            header = read_header(f)
            return header, read_variables(f, header, keep)
    except OSError as err:
        raise AffectlabError(f"{p}: cannot read the CTranslate2 model ({err.strerror or err})") from None


def dequantized(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``variables`` with every int8 ``<name>`` that has a ``<name>_scale`` turned back into
    float32 (``q / scale``, one scale per output row), the scales dropped; other integer weights
    with a scale (int16) are refused."""
    out = dict(variables)
    for name in [n for n in variables if f"{n}_scale" in variables]:
        q, scale = variables[name], np.asarray(variables[f"{name}_scale"], np.float32)
        if q.dtype != np.int8:
            raise AffectlabError(f"CTranslate2 model.bin: {name!r} is quantised to {q.dtype} "
                                 "(only float32, float16, bfloat16 and int8 weights are read; convert with another quantization)")
        per_row = scale.reshape((-1,) + (1,) * (q.ndim - 1)) if scale.ndim else scale
        out[name] = q.astype(np.float32) / per_row
        del out[f"{name}_scale"]
    return out
