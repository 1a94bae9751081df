"""Benchmark for ``affectlab extract``: throughput, and EmoDB emotion recognition from eGeMAPS + praat.

    python benchmarks/bench_extract.py [--emodb ../shared/data/emodb] [--workers 2]
                                       [--features emodb.pkl] [--skip-throughput]

Throughput (this machine, wall clock, everything included: decoding, spawning workers):
audio seconds processed per wall second for eGeMAPS + praat, video frames per second for
decoding + FaceMesh + geometry, and the ASR real-time factor (processing time / audio time,
lower is faster) of the packaged Whisper tiny.en. Goals: audio >= 20x real time, face >= 25
frames per second.

EmoDB (535 recordings, 10 speakers), leave-one-speaker-out: 7-class UAR from the 88
eGeMAPS functionals alone and with the 12 praat measures, with scikit-learn baselines
(logistic regression, linear SVM); and CCC of arousal mapped from the categories (see
configs/extract/emodb.yaml) with ridge regression. Hyper-parameters are chosen inside each
training fold (inner group k-fold over the training speakers), never on the held-out speaker;
standardised features are clipped to [-5, 5] (see :func:`clip_z`).
Features are standardised either with the training speakers' statistics ("global") or per
speaker ("speaker": each speaker z-scored with their own statistics, labels unused: it uses the
held-out speaker's unlabelled recordings, a common choice in the speech-emotion literature).

Reference: Eyben, Scherer, Schuller et al. (2016), "The Geneva Minimalistic Acoustic Parameter
Set (GeMAPS) for Voice Research and Affective Computing", IEEE Trans. Affective Computing 7(2):
190-202: eGeMAPS with a linear SVM, leave-one-speaker-out on EmoDB, about 0.80 UAR (their best
SVM complexity, chosen over the test folds, so a little optimistic).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test media helpers (espeak speech, astronaut video)

REFERENCE_UAR = 0.80
DEFAULT_EMODB = ROOT.parent / "shared" / "data" / "emodb"


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table (pastes into reports and issues as is)."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    fmt = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([title, line, fmt(header), line] + [fmt(r) for r in rows] + [line])


# ---------------------------------------------------------------------------------------------
# Throughput


def audio_throughput(emodb: Path | None, n_files: int, workers: int) -> list[list[str]]:
    from affectlab.features.extract import extract_dataset
    from affectlab.features.extract_config import ExtractConfig

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        if emodb is not None and (emodb / "labels.csv").is_file():
            labels = pd.read_csv(emodb / "labels.csv", dtype=str).head(n_files)
            media, source = emodb, f"EmoDB, first {len(labels)} files"
        else:
            from conftest_media import espeak_wav

            media = tmpd / "media"
            media.mkdir()
            for i in range(n_files):
                espeak_wav(media / f"s{i}.wav", f"Sentence number {i}: the weather is lovely and I feel fine today.")
            labels = pd.DataFrame({"file": [f"s{i}.wav" for i in range(n_files)], "speaker": "s"})
            source = f"espeak speech, {n_files} files"
        labels.to_csv(tmpd / "labels.csv", index=False)
        import soundfile as sf

        seconds = sum(sf.info(str(media / f)).duration for f in labels["file"])
        for w in sorted({1, workers}):
            cfg = ExtractConfig.model_validate({"columns": {"group": "speaker"}, "batch": {"workers": w}})
            cpu0 = _cpu()
            t0 = time.perf_counter()
            extract_dataset(cfg, media, tmpd / "labels.csv", tmpd / "out.pkl", use_cache=False)
            wall = time.perf_counter() - t0
            cpu = _cpu() - cpu0
            rows.append([f"audio eGeMAPS+praat ({source})", f"{w}", f"{seconds:.0f} s audio", f"{wall:.1f}",
                         f"{seconds / wall:.1f}x real time", f"{seconds / cpu:.1f}x per CPU-second"])
    return rows


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def face_throughput(seconds: float) -> list[list[str]]:
    from conftest_media import astronaut_frames, write_video

    import cv2

    from affectlab.features.extract_config import FaceConfig
    from affectlab.features.face import FaceExtractor, filtered_native_stderr
    from affectlab.features.media import sample_frames

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        n = int(seconds * 25)
        frames = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_LINEAR) for f in astronaut_frames(n)]  # webcam size
        path = write_video(Path(tmp) / "astronaut.avi", frames, fps=25)
        for landmarks in ("all", "none"):
            cfg = FaceConfig(enabled=True, fps=25, landmarks=landmarks)
            t0 = time.perf_counter()
            with filtered_native_stderr(), FaceExtractor(cfg) as fx:
                track = fx.run(sample_frames(path, 25))
            wall = time.perf_counter() - t0
            rows.append([f"face FaceMesh 640x480 MJPG, landmarks={landmarks}", "1",
                         f"{n} frames ({seconds:.0f} s at 25 fps)", f"{wall:.1f}", f"{len(track.times) / wall:.1f} frames/s",
                         f"{len(track.times) / wall / 25:.2f}x real time; face found {track.mask.mean():.0%}"])
        from affectlab.core.extras import module_available

        if module_available("fer"):  # the expression extra: FaceMesh track + the FER-2013 network per face
            from affectlab.features.base import make_extractor

            expr = make_extractor("fer-expression", {"fps": 25})
            expr.model()  # the weights load once per worker: not part of the per-frame speed
            t0 = time.perf_counter()
            with filtered_native_stderr():
                out = expr(path)
            wall = time.perf_counter() - t0
            rows.append(["face fer-expression 640x480 MJPG (FaceMesh + mini-Xception)", "1",
                         f"{n} frames ({seconds:.0f} s at 25 fps)", f"{wall:.1f}", f"{len(out['times']) / wall:.1f} frames/s",
                         f"{len(out['times']) / wall / 25:.2f}x real time; face found {out['mask'].mean():.0%}"])
    return rows


def asr_throughput() -> list[list[str]]:
    from conftest_media import espeak_wav, read_wav

    from affectlab.features.asr import Transcriber, transcript_of
    from affectlab.features.extract_config import AsrConfig

    with tempfile.TemporaryDirectory() as tmp:
        text = ("Hello and welcome. Today we talk about the weather, which has been lovely all week. "
                "Tomorrow it may rain, so bring an umbrella if you go out. Thank you for listening.")
        x = read_wav(espeak_wav(Path(tmp) / "s.wav", text, speed=150))
        model = Transcriber(AsrConfig(enabled=True), cpu_threads=2)
        model.transcribe(x[:16000])  # warm-up
        t0 = time.perf_counter()
        words = model.transcribe(x)
        wall = time.perf_counter() - t0
    secs = len(x) / 16000
    return [["ASR faster-whisper tiny.en int8 (espeak speech)", "1 (2 threads)", f"{secs:.1f} s audio", f"{wall:.1f}",
             f"RTF {wall / secs:.3f}", f"{len(words)} words: {transcript_of(words)[:40]}..."]]


# ---------------------------------------------------------------------------------------------
# EmoDB


def emodb_features(emodb: Path, features: Path | None, workers: int) -> dict:
    if features is not None and features.is_file():
        with open(features, "rb") as fh:
            return pickle.load(fh)
    from affectlab.features.extract import extract_dataset
    from affectlab.features.extract_config import load_extract_config

    cfg = load_extract_config(ROOT / "configs" / "extract" / "emodb.yaml")
    out = features or Path(tempfile.mkdtemp()) / "emodb.pkl"
    summary = extract_dataset(cfg, emodb, emodb / "labels.csv", out, workers=workers)
    print(summary.line(), file=sys.stderr)
    with open(out, "rb") as fh:
        return pickle.load(fh)


def speaker_standardise(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """z-score every speaker's features with that speaker's own mean and sd (labels unused)."""
    out = np.empty_like(x, dtype=np.float64)
    for g in np.unique(groups):
        m = groups == g
        mu, sd = x[m].mean(axis=0), x[m].std(axis=0)
        out[m] = (x[m] - mu) / np.where(sd > 1e-12, sd, 1.0)
    return out


def categorical_baseline(kind: str):
    """A scikit-learn classifier for categorical targets, its C chosen inside the training speakers."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if kind == "logreg":
        model = LogisticRegression(max_iter=5000, class_weight="balanced")
        grid = {"logisticregression__C": [0.01, 0.1, 1.0]}
    elif kind == "svm":
        model = SVC(kernel="linear", class_weight="balanced")
        grid = {"svc__C": [0.001, 0.01, 0.1, 1.0]}
    else:
        raise ValueError(kind)
    return make_pipeline(StandardScaler(), clip_z(), model), grid


def clip_z():
    """Clip standardised features to [-5, 5]: eGeMAPS' coefficient-of-variation functionals
    (``*_stddevNorm``) explode when a mean is near 0 (|z| > 20 on a few EmoDB files), and one
    such value would dominate a linear model's prediction for that recording."""
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(np.clip, kw_args={"a_min": -5.0, "a_max": 5.0})


def loso(x: np.ndarray, y: np.ndarray, groups: np.ndarray, make, grid: dict | None) -> np.ndarray:
    """Leave-one-group-out predictions; hyper-parameters from an inner GroupKFold on the training groups."""
    from sklearn.model_selection import GridSearchCV, GroupKFold

    pred = np.empty(len(y), dtype=y.dtype)
    for g in np.unique(groups):
        test = groups == g
        est = make()
        if grid:
            inner = GroupKFold(n_splits=3)
            scoring = "balanced_accuracy" if y.dtype.kind in "iUO" else "r2"
            est = GridSearchCV(est, grid, cv=inner, scoring=scoring, n_jobs=1)
            est.fit(x[~test], y[~test], groups=groups[~test])
        else:
            est.fit(x[~test], y[~test])
        pred[test] = est.predict(x[test])
    return pred


def emodb_table(data: dict) -> tuple[str, list[list[str]]]:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from affectlab.metrics import METRICS

    tr = data["train"]
    names = data["config"]["feature_names"]["audio_functionals"]
    x_all = tr["audio_functionals"].astype(np.float64)
    groups = np.asarray(tr["group"])
    y = np.asarray(tr["category_emotion"])
    arousal = tr["regression_labels_arousal"].astype(np.float64)
    # columns: eGeMAPS, then praat, then (audio.compare: true) ComParE 2016
    n_egemaps = sum(1 for n in names if not n.startswith(("praat_", "compare_")))
    n_praat = sum(1 for n in names if n.startswith("praat_"))
    sets = {f"eGeMAPS ({n_egemaps})": x_all[:, :n_egemaps],
            f"eGeMAPS + praat ({n_egemaps + n_praat})": x_all[:, :n_egemaps + n_praat]}
    if x_all.shape[1] > n_egemaps + n_praat:
        sets[f"eGeMAPS + praat + ComParE ({x_all.shape[1]})"] = x_all
    rows = []
    uar, acc, f1, ccc = (METRICS.get(k) for k in ("uar", "accuracy", "macro_f1", "ccc"))
    for set_name, x in sets.items():
        for norm in ("global", "speaker"):
            xx = speaker_standardise(x, groups) if norm == "speaker" else x
            for kind in ("logreg", "svm"):
                t0 = time.perf_counter()
                model, grid = categorical_baseline(kind)
                pred = loso(xx, y, groups, lambda m=model: __import__("sklearn").base.clone(m), grid)
                rows.append([set_name, norm, kind, f"{uar(y, pred):.3f}", f"{acc(y, pred):.3f}", f"{f1(y, pred):.3f}",
                             "", f"{time.perf_counter() - t0:.0f}"])
            t0 = time.perf_counter()
            make = lambda: make_pipeline(StandardScaler(), clip_z(), RidgeCV(alphas=np.logspace(-2, 4, 13)))  # noqa: E731
            pa = loso(xx, arousal, groups, make, None)  # RidgeCV picks alpha by GCV on the training speakers
            rows.append([set_name, norm, "ridge (arousal)", "", "", "", f"{ccc(arousal, pa):.3f}",
                         f"{time.perf_counter() - t0:.0f}"])
    counts = pd.Series(y).value_counts()
    chance = f"chance: UAR {1 / len(counts):.3f} (7 classes), majority-class accuracy {counts.max() / len(y):.3f}"
    return chance, rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", type=Path, default=DEFAULT_EMODB)
    ap.add_argument("--features", type=Path, default=None, help="EmoDB pickle from 'affectlab extract' (made if absent)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--audio-files", type=int, default=120)
    ap.add_argument("--video-seconds", type=float, default=10.0)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-emodb", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    have_emodb = (args.emodb / "labels.csv").is_file()
    print(f"# affectlab extract benchmark ({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start)")
    if not args.skip_throughput:
        rows = audio_throughput(args.emodb if have_emodb else None, args.audio_files, args.workers)
        rows += face_throughput(args.video_seconds)
        rows += asr_throughput()
        print(table("Throughput (wall clock; goals: audio >= 20x real time, face >= 25 frames/s)",
                    ["extractor", "workers", "input", "wall s", "speed", "notes"], rows))
        print()
    if args.skip_emodb:
        return
    if not have_emodb:
        print(f"EmoDB not found at {args.emodb}: skipping the recognition benchmark")
        return
    data = emodb_features(args.emodb, args.features, args.workers)
    chance, rows = emodb_table(data)
    print(table(f"EmoDB leave-one-speaker-out (10 speakers, {len(data['train']['id'])} recordings); "
                f"reference: eGeMAPS + linear SVM UAR ~{REFERENCE_UAR:.2f} (Eyben et al. 2016); {chance}",
                ["features", "standardise", "model", "UAR", "accuracy", "macro F1", "arousal CCC", "fit s"], rows))


if __name__ == "__main__":
    main()
