"""Voice features: openSMILE eGeMAPS v02 (88 functionals, 25 frame-level LLDs), praat measures and,
with ``compare: true``, openSMILE's ComParE 2016 functionals (6373).

Three registered extractors (:mod:`affectlab.features.base`): ``egemaps``, ``praat`` and
``compare``, each called on a waveform and its rate or on a file; :class:`AudioExtractor`
combines the ones an ``audio:`` config section enables into one segment's features.

The functionals vector is eGeMAPS (88), then praat (12), then ComParE (6373), each block present
when enabled. ComParE 2016 (Schuller et al., Interspeech 2016 ComParE challenge) is the large
brute-force set: 65 LLDs (loudness, auditory spectrum, MFCC, RASTA, spectral and voicing
descriptors) and their deltas under a battery of functionals; on EmoDB with speaker
normalisation and a linear SVM it is stronger than eGeMAPS (docs/benchmarks.md). It costs about
0.05 s per 2-s file on one core (one more openSMILE pass).

praat (through parselmouth) adds, per segment: F0 mean, standard deviation, 5th/50th/95th
percentiles (Hz, voiced frames only), the voiced fraction, local and RAP jitter, local and APQ3
shimmer, mean harmonics-to-noise ratio (dB) and mean intensity (dB). Measures that praat leaves
undefined (no voiced frame: silence, noise) are set to 0 and counted in ``nonfinite``; the
voiced fraction (0 then) says why.

>>> import numpy as np
>>> sr = 16000
>>> t = np.arange(sr) / sr
>>> tone = (0.3 * np.sin(2 * np.pi * 150 * t)).astype("float32")
>>> feats = praat_features(tone, sr, AudioConfig())
>>> round(float(feats.values[PRAAT_NAMES.index("praat_f0_median_hz")]))
150
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from .base import AudioSignalExtractor, Features, StrictParams, dist_version
from .extract_config import AudioConfig
from .registry import register_extractor

PRAAT_NAMES = [
    "praat_f0_mean_hz", "praat_f0_sd_hz", "praat_f0_p5_hz", "praat_f0_median_hz", "praat_f0_p95_hz",
    "praat_voiced_fraction", "praat_jitter_local", "praat_jitter_rap", "praat_shimmer_local",
    "praat_shimmer_apq3", "praat_hnr_db", "praat_intensity_db",
]


@dataclass
class PraatResult:
    values: np.ndarray  # (len(PRAAT_NAMES),) float32, undefined measures set to 0
    voiced_fraction: float
    nonfinite: int  # how many measures praat left undefined


@dataclass
class AudioFeatures:
    """One segment's voice features."""

    functionals: np.ndarray  # (D_f,) float32: eGeMAPS functionals then praat measures
    lld: np.ndarray  # (T, 25) float32 eGeMAPS LLDs (10-ms hop, pooled by lld_pool); (0, 0) if egemaps is off
    voiced_fraction: float
    nonfinite: int = 0
    names: list[str] = field(default_factory=list)


def praat_features(x: np.ndarray, sr: int, cfg: "AudioConfig | PraatParams") -> PraatResult:
    """praat pitch, jitter, shimmer, HNR and intensity of one mono segment (``cfg``: anything with
    ``pitch_floor`` and ``pitch_ceiling``)."""
    import parselmouth
    from parselmouth.praat import call

    snd = parselmouth.Sound(x.astype(np.float64), sampling_frequency=sr)
    pitch = snd.to_pitch(pitch_floor=cfg.pitch_floor, pitch_ceiling=cfg.pitch_ceiling)
    f0 = pitch.selected_array["frequency"]
    voiced = f0[f0 > 0]
    vf = float(voiced.size / f0.size) if f0.size else 0.0
    nan = float("nan")
    vals: dict[str, float] = {k: nan for k in PRAAT_NAMES}
    vals["praat_voiced_fraction"] = vf
    if voiced.size:
        vals["praat_f0_mean_hz"] = float(voiced.mean())
        vals["praat_f0_sd_hz"] = float(voiced.std())
        p5, p50, p95 = np.percentile(voiced, [5, 50, 95])
        vals.update(praat_f0_p5_hz=float(p5), praat_f0_median_hz=float(p50), praat_f0_p95_hz=float(p95))
    if voiced.size >= 3:  # jitter/shimmer need a few periods
        try:
            # = "To PointProcess (periodic, cc)" with this floor and ceiling, which would compute the
            # same pitch (Sound_to_Pitch) again first: ~5 ms a 2-s file saved, the points identical
            points = call([snd, pitch], "To PointProcess (cc)")
            vals["praat_jitter_local"] = call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
            vals["praat_jitter_rap"] = call(points, "Get jitter (rap)", 0, 0, 0.0001, 0.02, 1.3)
            vals["praat_shimmer_local"] = call([snd, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
            vals["praat_shimmer_apq3"] = call([snd, points], "Get shimmer (apq3)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
        except parselmouth.PraatError:
            pass  # too few periods: left undefined
    try:
        harm = snd.to_harmonicity_cc(time_step=0.01, minimum_pitch=cfg.pitch_floor)
        hv = harm.values[harm.values > -200]  # praat writes -200 dB for unvoiced frames
        if hv.size:
            vals["praat_hnr_db"] = float(hv.mean())
    except parselmouth.PraatError:
        pass
    if snd.duration > 6.4 / cfg.pitch_floor:  # praat needs a few pitch periods for intensity
        inten = snd.to_intensity(minimum_pitch=cfg.pitch_floor)
        iv = inten.values[np.isfinite(inten.values)]
        if iv.size:
            vals["praat_intensity_db"] = float(iv.mean())
    arr = np.array([vals[k] for k in PRAAT_NAMES], dtype=np.float64)
    bad = ~np.isfinite(arr)
    arr[bad] = 0.0
    return PraatResult(arr.astype(np.float32), vf, int(bad.sum()))


# ---------------------------------------------------------------------------------------------
# The registered extractors: one each for eGeMAPS, praat and ComParE


class EgemapsParams(StrictParams):
    sample_rate: int = Field(16000, ge=8000, le=48000)  # files and waveforms are resampled to this
    lld_pool: int = Field(1, ge=1)  # average every k 10-ms LLD frames


class PraatParams(StrictParams):
    sample_rate: int = Field(16000, ge=8000, le=48000)
    pitch_floor: float = Field(75.0, gt=0)
    pitch_ceiling: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "PraatParams":
        if self.pitch_floor >= self.pitch_ceiling:
            raise ValueError("pitch_floor must be below pitch_ceiling")
        return self


class CompareParams(StrictParams):
    sample_rate: int = Field(16000, ge=8000, le=48000)


def _clip16(x: np.ndarray) -> np.ndarray:
    # openSMILE reads 16-bit PCM; opensmile-python's own cast wraps values beyond full scale around
    # (+1.0 becomes -1.0: a click), and resampling a clipped recording overshoots 1.0, so clip first
    return np.clip(x, -1.0, 32767 / 32768)


def _finite(a: np.ndarray) -> tuple[np.ndarray, int]:
    """NaN/inf set to 0, and how many there were."""
    return np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0), int((~np.isfinite(a)).sum())


@register_extractor
class EgemapsExtractor(AudioSignalExtractor[EgemapsParams]):
    """openSMILE eGeMAPS v02: ``functionals`` (88,), ``lld`` (T, 25) at 10 ms (pooled by
    ``lld_pool``), ``nonfinite`` (values openSMILE left undefined, set to 0)."""

    name = "egemaps"
    Params = EgemapsParams

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._func = self._lld = None
        self._one_pass = True

    @property
    def version(self) -> str:
        return f"{self.code_version}; opensmile {dist_version('opensmile')}; eGeMAPSv02"

    def _smiles(self) -> tuple[Any, Any]:
        if self._func is None:
            import opensmile

            self._func = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                         feature_level=opensmile.FeatureLevel.Functionals)
            self._lld = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                        feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
        return self._func, self._lld

    def functional_names(self) -> list[str]:
        return list(self._smiles()[0].feature_names)

    def lld_names(self) -> list[str]:
        return list(self._smiles()[1].feature_names)

    def _egemaps(self, x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """eGeMAPS functionals (88,) and LLDs (T, 25): one openSMILE pass, two sinks.

        opensmile-python runs the whole graph once per feature level; its bundled multi-sink
        output config lets one run feed both, which halves the cost. Should a future opensmile
        change those internals, we fall back to two runs.
        """
        func, lld = self._smiles()
        if self._one_pass:
            try:
                return egemaps_one_pass(func, x, sr)
            except Exception:  # private API moved: results stay right, only slower
                self._one_pass = False
        return func.process_signal(x, sr).to_numpy(dtype=np.float32).reshape(-1), lld.process_signal(x, sr).to_numpy(dtype=np.float32)

    def compute(self, x: np.ndarray, sr: int) -> Features:
        f, seq = self._egemaps(_clip16(x), sr)
        f, bad_f = _finite(f)
        seq, bad_s = _finite(seq)
        lld = pool_frames(seq, self.params.lld_pool).astype(np.float32)
        return {"functionals": f.astype(np.float32), "lld": lld, "nonfinite": np.asarray(bad_f + bad_s, np.int64)}


@register_extractor
class PraatExtractor(AudioSignalExtractor[PraatParams]):
    """praat (parselmouth) voice measures: ``functionals`` (12,) = :data:`PRAAT_NAMES`,
    ``voiced_fraction``, ``nonfinite`` (measures praat left undefined, set to 0)."""

    name = "praat"
    Params = PraatParams

    @property
    def version(self) -> str:
        return f"{self.code_version}; praat-parselmouth {dist_version('praat-parselmouth')}"

    def compute(self, x: np.ndarray, sr: int) -> Features:
        pr = praat_features(x, sr, self.params)
        return {"functionals": pr.values, "voiced_fraction": np.asarray(pr.voiced_fraction, np.float64),
                "nonfinite": np.asarray(pr.nonfinite, np.int64)}


@register_extractor
class CompareExtractor(AudioSignalExtractor[CompareParams]):
    """openSMILE ComParE 2016 functionals: ``functionals`` (6373,), ``nonfinite``."""

    name = "compare"
    Params = CompareParams

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._smile = None

    @property
    def version(self) -> str:
        return f"{self.code_version}; opensmile {dist_version('opensmile')}; ComParE_2016"

    def smile(self) -> Any:
        if self._smile is None:
            import opensmile

            self._smile = opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016,
                                          feature_level=opensmile.FeatureLevel.Functionals)
        return self._smile

    def functional_names(self) -> list[str]:
        return [f"compare_{n}" for n in self.smile().feature_names]

    def compute(self, x: np.ndarray, sr: int) -> Features:
        c, bad = _finite(self.smile().process_signal(_clip16(x), sr).to_numpy(dtype=np.float32).reshape(-1))
        return {"functionals": c.astype(np.float32), "nonfinite": np.asarray(bad, np.int64)}


# ---------------------------------------------------------------------------------------------
# The voice features of ``affectlab extract``: the enabled extractors of an AudioConfig, combined


def audio_parts(cfg: AudioConfig) -> list[tuple[str, dict[str, Any]]]:
    """The registered extractors (name, params) an ``audio:`` config section runs, in column order.

    >>> [name for name, _ in audio_parts(AudioConfig(compare=True))]
    ['egemaps', 'praat', 'compare']
    """
    out: list[tuple[str, dict[str, Any]]] = []
    if cfg.egemaps:
        out.append(("egemaps", {"sample_rate": cfg.sample_rate, "lld_pool": cfg.lld_pool}))
    if cfg.praat:
        out.append(("praat", {"sample_rate": cfg.sample_rate, "pitch_floor": cfg.pitch_floor,
                              "pitch_ceiling": cfg.pitch_ceiling}))
    if cfg.compare:
        out.append(("compare", {"sample_rate": cfg.sample_rate}))
    return out


def combine(outputs: dict[str, Features]) -> AudioFeatures:
    """One segment's :class:`AudioFeatures` from the outputs of its extractors (by name): the
    functionals are eGeMAPS, then praat, then ComParE; the voiced fraction is praat's, else the
    share of eGeMAPS LLD frames with an F0."""
    parts: list[np.ndarray] = []
    lld = np.zeros((0, 0), np.float32)
    nonfinite = 0
    if "egemaps" in outputs:
        e = outputs["egemaps"]
        parts.append(e["functionals"])
        lld = e["lld"]
        nonfinite += int(e["nonfinite"])
    if "praat" in outputs:
        p = outputs["praat"]
        parts.append(p["functionals"])
        vf = float(p["voiced_fraction"])
        nonfinite += int(p["nonfinite"])
    else:
        vf = voiced_fraction_from_lld(lld)
    if "compare" in outputs:
        c = outputs["compare"]
        parts.append(c["functionals"])
        nonfinite += int(c["nonfinite"])
    return AudioFeatures(np.concatenate(parts).astype(np.float32), lld.astype(np.float32), vf, nonfinite)


class AudioExtractor:
    """eGeMAPS + praat (+ ComParE) for mono segments at ``cfg.sample_rate``: the registered
    extractors an ``audio:`` section enables, built once, their outputs combined (:func:`combine`)."""

    name = "audio"

    def __init__(self, cfg: AudioConfig) -> None:
        from .base import make_extractor

        self.cfg = cfg
        self.parts: dict[str, Any] = {name: make_extractor(name, params) for name, params in audio_parts(cfg)}

    @property
    def _func(self) -> Any:
        return self.parts["egemaps"]._smiles()[0] if "egemaps" in self.parts else None

    @property
    def _lld(self) -> Any:
        return self.parts["egemaps"]._smiles()[1] if "egemaps" in self.parts else None

    def functional_names(self) -> list[str]:
        names: list[str] = []
        for name, part in self.parts.items():
            names += PRAAT_NAMES if name == "praat" else part.functional_names()
        return names

    def lld_names(self) -> list[str]:
        return self.parts["egemaps"].lld_names() if "egemaps" in self.parts else []

    @staticmethod
    def versions() -> dict[str, str]:
        out = {}
        try:
            import opensmile

            out["opensmile"] = opensmile.__version__
        except ImportError:
            pass
        try:
            import parselmouth

            out["parselmouth"] = parselmouth.__version__
            out["praat"] = parselmouth.PRAAT_VERSION
        except ImportError:
            pass
        return out

    def __call__(self, x: np.ndarray, sr: int) -> AudioFeatures:
        """Features of one segment ``x`` (mono float32 at ``sr``)."""
        return combine({name: part.compute(x, sr) for name, part in self.parts.items()})


def egemaps_one_pass(smile, x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Run an eGeMAPS ``opensmile.Smile`` graph once with an LLD sink and a functionals sink."""
    import os

    from opensmile.core.config import config as smcfg
    from opensmile.core.lib import OpenSMILE

    root = smile.default_config_root
    options = dict(smile.options)
    options.update({
        "source": os.path.join(root, smcfg.EXTERNAL_INPUT_CONFIG),
        "sink": os.path.join(root, smcfg.EXTERNAL_OUTPUT_MULTI_CONFIG),
        "sinkLevelLLD": "lld", "sinkLevelFunc": "func", "sampleRate": sr, "nBits": 16,
        "bufferModeRbConf": os.path.join(root, "shared/BufferModeRb.conf.inc"),
        "frameModeFunctionalsConf": os.path.join(root, "shared/FrameModeFunctionals.conf.inc"),
    })
    lld: list[np.ndarray] = []
    func: list[np.ndarray] = []
    engine = OpenSMILE()
    engine.initialize(config_file=smile.config_path, options=options, loglevel=smile.loglevel,
                      log_file=smile.logfile, debug=smile.verbose)
    try:
        engine.external_sink_set_callback_ex("extsinklld", lambda data, meta: lld.append(data.copy()))
        engine.external_sink_set_callback_ex("extsinkfunc", lambda data, meta: func.append(data.copy()))
        pcm = (np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)  # as opensmile-python feeds it
        engine.external_audio_source_write_data(smcfg.EXTERNAL_SOURCE_COMPONENT, bytes(pcm))
        engine.external_audio_source_set_eoi(smcfg.EXTERNAL_SOURCE_COMPONENT)
        engine.run()
    finally:
        engine.free()
    f = func[0].reshape(-1).astype(np.float32) if func else np.full(len(smile.feature_names), np.nan, np.float32)
    seq = np.vstack(lld).astype(np.float32) if lld else np.zeros((0, 25), np.float32)
    return f, seq


def pool_frames(seq: np.ndarray, k: int) -> np.ndarray:
    """Average non-overlapping blocks of ``k`` frames (a last partial block included).

    >>> pool_frames(np.arange(10, dtype=float).reshape(5, 2), 2).tolist()
    [[1.0, 2.0], [5.0, 6.0], [8.0, 9.0]]
    """
    if k <= 1 or len(seq) == 0:
        return seq
    n = -(-len(seq) // k)
    pad = n * k - len(seq)
    padded = np.concatenate([seq, np.repeat(seq[-1:], pad, axis=0)]) if pad else seq
    sums = padded.reshape(n, k, -1).sum(axis=1)
    counts = np.full((n, 1), float(k))
    counts[-1, 0] = k - pad
    if pad:  # remove the repeated rows' contribution from the last block
        sums[-1] -= seq[-1] * pad
    return sums / counts


def voiced_fraction_from_lld(lld: np.ndarray) -> float:
    """Fraction of LLD frames with an F0 (eGeMAPS F0 is 0 where unvoiced); column 10 is F0semitone."""
    if lld.size == 0:
        return float("nan")
    return float((lld[:, 10] > 0).mean())
