"""``affectlab train CONFIG --media DIR --labels CSV``: one command from a folder of recordings.

End to end on espeak-ng speech with the shipped example config (configs/examples/speech-folder.yaml):
the same predictions and scores, bit for bit, as ``affectlab extract`` then ``affectlab train --data``;
a second run reads every file's features from the cache; the run records the extract settings and
``predict`` refuses data extracted otherwise. Bad input: one line, exit 2, nothing written.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("opensmile", reason="audio extra not installed (pip install affectlab[audio])")

from conftest import run_cli  # noqa: E402
from conftest_media import espeak_wav  # noqa: E402
from test_bad_input import one_line_refusal, snapshot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "examples" / "speech-folder.yaml"
#: four "speakers" (espeak-ng voices), two "emotions" (fast and high / slow speech), two sentences each
VOICES = {"s1": "en", "s2": "en-us", "s3": "en+f3", "s4": "en+m3"}
EMOTIONS = {"angry": 210, "sad": 105}
SENTENCES = ("Kids are talking by the door.", "Dogs are sitting by the window.")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """A folder ``wav/`` of 16 espeak-ng recordings and ``labels.csv`` (file,speaker,gender,emotion)."""
    root = tmp_path_factory.mktemp("speech")
    (root / "wav").mkdir()
    rows = []
    for speaker, voice in VOICES.items():
        for emotion, speed in EMOTIONS.items():
            for k, text in enumerate(SENTENCES):
                name = f"wav/{speaker}_{emotion}_{k}.wav"
                espeak_wav(root / name, text, speed=speed, voice=voice)
                rows.append({"file": name, "speaker": speaker, "gender": "x", "emotion": emotion})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root


def _train(args: list, capsys, cache: Path, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setenv("AFFECTLAB_CACHE", str(cache))
    return run_cli(["train", *args], capsys)


def test_one_command_equals_extract_then_train(speech, tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    code, _, err = _train([EXAMPLE, "--media", speech, "--labels", speech / "labels.csv", "--out", tmp_path / "one",
                           "-q"], capsys, cache, monkeypatch)
    assert code == 0, err
    assert "extracted 16 of 16 samples from 16 of 16 files (0 failed, 0 with a masked modality, 0 files from cache)" in err
    assert f"settings: {EXAMPLE} (extract:)" in err
    # the two steps, with the example's extract: section as an extract config of its own
    settings = tmp_path / "extract.yaml"
    settings.write_text(yaml.safe_dump(yaml.safe_load(EXAMPLE.read_text())["extract"]))
    pkl = tmp_path / "speech.pkl"
    code, _, err = run_cli(["extract", settings, "--media", speech, "--labels", speech / "labels.csv", "--out", pkl,
                            "-q"], capsys)
    assert code == 0, err
    code, _, err = _train([EXAMPLE, "--data", pkl, "--out", tmp_path / "two", "-q"], capsys, cache, monkeypatch)
    assert code == 0, err
    one, two = tmp_path / "one", tmp_path / "two"
    assert (one / "predictions.csv").read_bytes() == (two / "predictions.csv").read_bytes()
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    assert s1["metrics"] == s2["metrics"] and s1["cis"] == s2["cis"]
    assert s1["targets"] == s2["targets"] and s1["targets"][0]["classes"] == ["angry", "sad"]
    # the pickle the run trained on lives in the cache and holds what the two-step pickle holds
    cached = Path(s1["data"]["path"])
    assert cached.parent.parent == cache / "corpora" and cached.name == "features.pkl"
    a, b = (pickle.loads(p.read_bytes()) for p in (cached, pkl))
    assert (a["train"]["audio"] == b["train"]["audio"]).all() and a["train"]["id"] == b["train"]["id"]
    assert a["config"]["params"] == b["config"]["params"]
    assert a["config"]["config_path"] == f"{EXAMPLE} (extract:)" and b["config"]["config_path"] == str(settings)
    # predictions scored independently of affectlab: UAR = sklearn's balanced accuracy of the file
    from sklearn.metrics import balanced_accuracy_score

    pred = pd.read_csv(one / "predictions.csv")
    gold = pd.read_csv(speech / "labels.csv")
    truth = dict(zip(gold["speaker"] + "$_$" + gold["file"].str.slice(4, -4), gold["emotion"]))
    pred = pred[pred["split"] == "oof"] if "split" in pred else pred
    uar = balanced_accuracy_score([truth[i] for i in pred["id"]], pred["pred_emotion"])
    assert uar == pytest.approx(s1["metrics"]["oof"]["uar"], abs=1e-12)

    # the same command again: every file's features from the cache
    code, _, err = _train([EXAMPLE, "--media", speech, "--labels", speech / "labels.csv", "--out", tmp_path / "again",
                           "-q"], capsys, cache, monkeypatch)
    assert code == 0, err
    assert "16 files from cache" in err
    assert (tmp_path / "again" / "predictions.csv").read_bytes() == (one / "predictions.csv").read_bytes()

    # the run records the settings that made its features; predict takes data made alike ...
    from affectlab.runs.rundir import RunDir

    recorded = RunDir.open(one).checkpoint()["features"]["extract_settings"]
    assert recorded["audio"]["egemaps"] is True and recorded["audio"]["sample_rate"] == 16000
    code, _, err = run_cli(["predict", one, "--data", pkl, "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    # ... and refuses data extracted with other settings (same 88 columns, other values)
    other = yaml.safe_load(settings.read_text())
    other["audio"]["sample_rate"] = 8000
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    code, _, err = run_cli(["extract", tmp_path / "other.yaml", "--media", speech, "--labels", speech / "labels.csv",
                            "--out", tmp_path / "other.pkl", "-q"], capsys)
    assert code == 0, err
    before = snapshot(tmp_path)
    code, _, err = run_cli(["predict", one, "--data", tmp_path / "other.pkl", "--out", tmp_path / "q.csv"], capsys)
    one_line_refusal(code, err, "other.pkl: extracted with audio.sample_rate 8000; the model's training features "
                                "with 16000: extract it with the same settings")
    assert snapshot(tmp_path) == before


def test_extract_may_name_an_extract_config_file(speech, tmp_path, capsys, monkeypatch):
    """``extract: PATH`` (relative to the train config's folder) gives the same corpus as the inline section."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "speech.yaml").write_text(yaml.safe_dump(raw.pop("extract")))
    raw["extract"] = "settings/speech.yaml"
    raw["split"] = {"kind": "group_kfold", "k": 2}
    raw["model"]["C"] = 0.01
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(raw))
    code, _, err = _train([tmp_path / "train.yaml", "--media", speech, "--labels", speech / "labels.csv",
                           "--out", tmp_path / "run", "-q"], capsys, tmp_path / "cache", monkeypatch)
    assert code == 0, err
    assert f"settings: {tmp_path / 'settings' / 'speech.yaml'})" in err


def _case(tmp_path: Path, speech: Path, name: str) -> list:
    """The arguments of one bad-input case; files it needs are made under ``tmp_path``."""
    labels = speech / "labels.csv"
    config = EXAMPLE
    out = ["--out", tmp_path / "run"]

    def edited(change) -> Path:  # noqa: ANN001
        cfg = yaml.safe_load(EXAMPLE.read_text())
        change(cfg)
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    if name == "labels-column":
        labels = tmp_path / "labels.csv"
        pd.read_csv(speech / "labels.csv").drop(columns=["speaker"]).to_csv(labels, index=False)
    elif name == "media-file":
        labels = tmp_path / "labels.csv"
        frame = pd.read_csv(speech / "labels.csv")
        frame.loc[3, "file"] = "wav/gone.wav"
        frame.loc[9, "file"] = "wav/gone-too.wav"
        frame.to_csv(labels, index=False)
    elif name == "data-and-media":
        return ["train", config, "--data", speech / "labels.csv", "--media", speech, "--labels", labels, *out]
    elif name == "media-without-labels":
        return ["train", config, "--media", speech, *out]
    elif name == "neither":
        return ["train", config, *out]
    elif name == "extract-key":
        config = edited(lambda c: c["extract"]["audio"].update(egemap=True))
    elif name == "extract-value":
        config = edited(lambda c: c["extract"]["audio"].update(sample_rate=3))
    elif name == "extract-missing":
        config = edited(lambda c: c.pop("extract"))
    elif name == "extract-path":
        config = edited(lambda c: c.update(extract="no/such.yaml"))
    elif name == "extract-kind":
        config = edited(lambda c: c["extract"]["targets"][0].update(kind="classification"))
    elif name == "target-not-extracted":
        config = edited(lambda c: c["data"]["targets"][0].update(name="mood"))
    elif name == "format":
        config = edited(lambda c: c["data"].update(format="table", options={}))
    elif name == "label-value":
        config = edited(lambda c: c["extract"]["targets"][0].update(classes=["angry", "happy"]))
    return ["train", config, "--media", speech, "--labels", labels, *out]


@pytest.mark.parametrize("name, fragment", [
    ("labels-column", "labels.csv: missing group column 'speaker' (has: file, gender, emotion)"),
    ("media-file", "labels.csv line 5: file 'wav/gone.wav' not found in --media"),
    ("data-and-media", "give --data (features already extracted) or --media with --labels (extracted now), not both"),
    ("media-without-labels", "--media and --labels go together"),
    ("neither", "give --data PATH, or --media DIR with --labels LABELS.csv"),
    ("extract-key", "cfg.yaml: extract.audio.egemap: Extra inputs are not permitted (did you mean `egemaps`?)"),
    ("extract-value", "cfg.yaml: extract.audio.sample_rate: Input should be greater than or equal to 8000"),
    ("extract-missing", "cfg.yaml: --media needs an extract: section in the train config"),
    ("extract-path", "cfg.yaml: extract: 'no/such.yaml' is not a file"),
    ("extract-kind", "kind 'classification' is not one of regression, category (did you mean `category`?)"),
    ("target-not-extracted", "data.targets: category target 'mood' is not one the extract settings write "
                             "(category targets: emotion)"),
    ("format", "cfg.yaml: data.format is 'table'; --media extracts an MMSA pickle: set data.format: mmsa"),
    ("label-value", "labels.csv line 4: emotion 'sad' is not one of the classes angry, happy"),
])
def test_bad_input_is_one_line_and_writes_nothing(speech, tmp_path, capsys, monkeypatch, name, fragment):
    args = _case(tmp_path, speech, name)
    if name == "media-file":
        fragment += f" {speech} (and 1 more missing files)"
    monkeypatch.setenv("AFFECTLAB_CACHE", str(tmp_path / "cache"))
    before, data_before = snapshot(tmp_path), snapshot(speech)
    code, out, err = run_cli(args, capsys)
    one_line_refusal(code, err, fragment)
    assert out == ""
    assert snapshot(tmp_path) == before and snapshot(speech) == data_before  # no run, no cache, no pickle


def test_the_old_and_new_target_words_read_alike(tmp_path):
    """One vocabulary (regression | category) in train and extract configs; `number` is read as regression."""
    from affectlab.config import RunConfig
    from affectlab.features.extract_config import ExtractConfig

    old = ExtractConfig.model_validate({"targets": [{"name": "v", "kind": "number"}]})
    new = ExtractConfig.model_validate({"targets": [{"name": "v", "kind": "regression"}]})
    assert old == new and old.numeric_targets() == ["v"]
    run = RunConfig.model_validate({"data": {"targets": [{"name": "v", "kind": "number"}]}})
    assert run.data.targets[0].kind == "regression"
    for path in sorted((ROOT / "configs" / "extract").glob("*.yaml")):  # the contracts still load
        from affectlab.features.extract_config import load_extract_config

        load_extract_config(path)
