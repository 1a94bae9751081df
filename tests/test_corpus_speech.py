"""Speech corpus recipes: labels parsed from each corpus's file names, fetched into the cache.

Every corpus is built here as a tiny fake (short generated WAVs named and laid out by the corpus's
convention, never real data) and fetched with ``affectlab data fetch NAME --source``; the labels
are checked against rows written out by hand from the corpora's documentation. EmoDB and URDU are
also fetched from the real copies under ../shared/data (skipped when absent) and compared with the
labels.csv shipped there.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from affectlab.corpus.datasets import DATASETS, is_cached
from affectlab.corpus.speech import CIRCUMPLEX, EMODB_CLASSES
from affectlab.features.extract_config import ExtractConfig
from affectlab.features.media_labels import read_labels
from test_corpus_datasets import one_error_line, run

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
EMODB_YAML = ROOT / "configs" / "extract" / "emodb.yaml"
SPEECH = ("crema-d", "emodb", "emovo", "ravdess", "savee", "shemo", "tess", "turev-db", "urdu")


def wav(path: Path, seed: int = 0, seconds: float = 0.05) -> Path:
    """A short noise burst: each seed gives different bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = 0.1 * np.random.default_rng(seed).standard_normal(int(16000 * seconds))
    sf.write(path, noise.astype(np.float32), 16000)
    return path


def corpus(root: Path, names: list[str]) -> Path:
    for seed, name in enumerate(names):
        wav(root / name, seed)
    return root


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def fetch(capsys, cache: Path, name: str, source: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "data", "fetch", name, "--source", str(source), "--cache", str(cache), *extra)


# ---- the one circumplex table -------------------------------------------------------------------

def test_circumplex_is_the_table_of_the_emodb_extract_config():
    target = yaml.safe_load(EMODB_YAML.read_text())["targets"][0]
    assert tuple(target["classes"]) == EMODB_CLASSES
    assert {e: (target["map"]["valence"][e], target["map"]["arousal"][e]) for e in target["classes"]} == CIRCUMPLEX


# ---- each corpus: its convention, hand-written expectations --------------------------------------

def test_emodb_names(tmp_path, capsys):
    src = corpus(tmp_path / "download", ["wav/03a01Fa.wav", "wav/16b10Td.wav", "wav/08a02Lb.wav", "wav/13a05Ec.wav"])
    (src / "erkennung.txt").write_text("not audio\n")
    (src / "lablaut").mkdir()
    (src / "lablaut" / "03a01Fa.lab").write_text("phonemes\n")
    code, out, err = fetch(capsys, tmp_path / "cache", "emodb", src)
    assert code == 0, err
    assert "emodb: 4 recordings of 4 speakers (boredom 1, disgust 1, happiness 1, sadness 1) and labels.csv" in out
    labels = read(tmp_path / "cache" / "emodb" / "labels.csv")
    assert labels.values.tolist() == [
        ["wav/03a01Fa.wav", "03", "male", "a01", "happiness", "a", "0.81", "0.51"],
        ["wav/08a02Lb.wav", "08", "female", "a02", "boredom", "b", "-0.65", "-0.62"],
        ["wav/13a05Ec.wav", "13", "female", "a05", "disgust", "c", "-0.6", "0.35"],
        ["wav/16b10Td.wav", "16", "female", "b10", "sadness", "d", "-0.63", "-0.27"],
    ]
    assert labels.columns.tolist() == ["file", "speaker", "gender", "text_code", "emotion", "version", "valence", "arousal"]
    assert not (tmp_path / "cache" / "emodb" / "labels-all.csv").exists()
    assert (tmp_path / "cache" / "emodb" / "wav" / "16b10Td.wav").read_bytes() == (src / "wav" / "16b10Td.wav").read_bytes()


def test_ravdess_names_from_a_zip(tmp_path, capsys):
    """Speech kept, song skipped; calm and surprise only in labels-all.csv, without circumplex numbers."""
    files = corpus(tmp_path / "files", [
        "Actor_01/03-01-01-01-01-01-01.wav", "Actor_01/03-01-05-02-02-02-01.wav", "Actor_02/03-01-02-02-01-01-02.wav",
        "Actor_24/03-01-08-01-02-01-24.wav", "Actor_01/03-02-03-01-01-01-01.wav"])
    archive = tmp_path / "Audio_Speech_Actors_01-24.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(files.rglob("*.wav")):
            zf.write(path, path.relative_to(files).as_posix())
    code, out, err = fetch(capsys, tmp_path / "cache", "ravdess", archive)
    assert code == 0, err
    assert out.startswith("ravdess: 4 recordings of 3 speakers (anger 1, calm 1, neutral 1, surprise 1) and labels.csv")
    assert "Skipped 1 recording(s): song (vocal channel 02)" in err
    folder = tmp_path / "cache" / "ravdess"
    every = read(folder / "labels-all.csv")
    assert every.columns.tolist() == ["file", "speaker", "gender", "text_code", "emotion", "intensity", "repetition",
                                      "valence", "arousal"]
    assert every.values.tolist() == [
        ["wav/03-01-01-01-01-01-01.wav", "01", "male", "01", "neutral", "normal", "01", "0", "0"],
        ["wav/03-01-02-02-01-01-02.wav", "02", "female", "01", "calm", "strong", "01", "", ""],
        ["wav/03-01-05-02-02-02-01.wav", "01", "male", "02", "anger", "strong", "02", "-0.51", "0.59"],
        ["wav/03-01-08-01-02-01-24.wav", "24", "female", "02", "surprise", "normal", "01", "", ""],
    ]
    assert read(folder / "labels.csv").values.tolist() == every.iloc[[0, 2]].values.tolist()
    assert "labels.csv holds the 2 recordings in EmoDB's seven classes" in err
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert manifest["recipe"]["labels"] == {"labels.csv": 2, "labels-all.csv": 4}
    assert manifest["files"]["wav/03-01-02-02-01-01-02.wav"]["from"] == "Actor_02/03-01-02-02-01-01-02.wav"


def test_cremad_names(tmp_path, capsys):
    src = corpus(tmp_path / "CREMA-D" / "AudioWAV", ["1001_DFA_ANG_XX.wav", "1091_IEO_HAP_HI.wav", "1045_TSI_NEU_XX.wav",
                                                     "1002_WSI_FEA_LO.wav", "1003_ITS_SAD_MD.wav", "1004_MTI_DIS_XX.wav"])
    code, _, err = fetch(capsys, tmp_path / "cache", "crema-d", src.parent)
    assert code == 0, err
    assert read(tmp_path / "cache" / "crema-d" / "labels.csv").values.tolist() == [
        ["wav/1001_DFA_ANG_XX.wav", "1001", "DFA", "anger", "unspecified", "-0.51", "0.59"],
        ["wav/1002_WSI_FEA_LO.wav", "1002", "WSI", "fear", "low", "-0.64", "0.6"],
        ["wav/1003_ITS_SAD_MD.wav", "1003", "ITS", "sadness", "medium", "-0.63", "-0.27"],
        ["wav/1004_MTI_DIS_XX.wav", "1004", "MTI", "disgust", "unspecified", "-0.6", "0.35"],
        ["wav/1045_TSI_NEU_XX.wav", "1045", "TSI", "neutral", "unspecified", "0", "0"],
        ["wav/1091_IEO_HAP_HI.wav", "1091", "IEO", "happiness", "high", "0.81", "0.51"],
    ]


def test_tess_names_and_a_nested_identical_copy(tmp_path, capsys):
    names = ["OAF_angry/OAF_back_angry.wav", "YAF_pleasant_surprised/YAF_bite_ps.wav", "YAF_neutral/YAF_dog_neutral.wav"]
    src = corpus(tmp_path / "TESS", names)
    for name in names:  # the Kaggle copy holds the whole set twice
        (src / "tess copy" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / name, src / "tess copy" / name)
    code, _, err = fetch(capsys, tmp_path / "cache", "tess", src)
    assert code == 0, err
    assert "Ignored 3 identical second copies" in err
    assert read(tmp_path / "cache" / "tess" / "labels-all.csv").values.tolist() == [
        ["wav/OAF_back_angry.wav", "OAF", "female", "back", "anger", "-0.51", "0.59"],
        ["wav/YAF_bite_ps.wav", "YAF", "female", "bite", "surprise", "", ""],
        ["wav/YAF_dog_neutral.wav", "YAF", "female", "dog", "neutral", "0", "0"],
    ]


@pytest.mark.parametrize("layout", ["folders", "flat"])
def test_savee_names(tmp_path, capsys, layout):
    codes = [("DC", "a01"), ("JE", "sa02"), ("KL", "su15"), ("JK", "n30")]
    names = [f"AudioData/{s}/{c}.wav" if layout == "folders" else f"{s}_{c}.wav" for s, c in codes]
    src = corpus(tmp_path / "savee", names)
    (src / "info.txt").write_text("x\n")
    code, _, err = fetch(capsys, tmp_path / "cache", "savee", src)
    assert code == 0, err
    assert read(tmp_path / "cache" / "savee" / "labels-all.csv").values.tolist() == [
        ["wav/DC_a01.wav", "DC", "male", "", "anger", "01", "-0.51", "0.59"],
        ["wav/JE_sa02.wav", "JE", "male", "", "sadness", "02", "-0.63", "-0.27"],
        ["wav/JK_n30.wav", "JK", "male", "", "neutral", "30", "0", "0"],
        ["wav/KL_su15.wav", "KL", "male", "", "surprise", "15", "", ""],
    ]


def test_urdu_names(tmp_path, capsys):
    src = corpus(tmp_path / "URDU-Dataset-master", ["Angry/SM1_F10_A010.wav", "Sad/SF10_F1_S01.wav",
                                                    "Happy/SM24_F3_H041.wav", "Neutral/SF7_F3_N041.wav"])
    code, _, err = fetch(capsys, tmp_path / "cache", "urdu", src)
    assert code == 0, err
    assert read(tmp_path / "cache" / "urdu" / "labels.csv").values.tolist() == [
        ["wav/SF10_F1_S01.wav", "F10", "female", "", "sadness", "-0.63", "-0.27"],
        ["wav/SF7_F3_N041.wav", "F7", "female", "", "neutral", "0", "0"],
        ["wav/SM1_F10_A010.wav", "M1", "male", "", "anger", "-0.51", "0.59"],
        ["wav/SM24_F3_H041.wav", "M24", "male", "", "happiness", "0.81", "0.51"],
    ]


def test_turev_names(tmp_path, capsys):
    src = corpus(tmp_path / "TurEV-DB-master" / "Sound Source", ["Angry/1358_a_1.wav", "Calm/6783_b_2.wav",
                                                                 "Happy/1358_c_3.wav", "Sad/2222_d_4.wav"])
    code, _, err = fetch(capsys, tmp_path / "cache", "turev-db", src.parent)
    assert code == 0, err
    assert read(tmp_path / "cache" / "turev-db" / "labels-all.csv").values.tolist() == [
        ["wav/angry/1358_a_1.wav", "1358", "", "anger", "-0.51", "0.59"],
        ["wav/calm/6783_b_2.wav", "6783", "", "calm", "", ""],
        ["wav/happy/1358_c_3.wav", "1358", "", "happiness", "0.81", "0.51"],
        ["wav/sad/2222_d_4.wav", "2222", "", "sadness", "-0.63", "-0.27"],
    ]


def test_emovo_names(tmp_path, capsys):
    src = corpus(tmp_path / "EMOVO", ["f1/dis-f1-b1.wav", "m2/gio-m2-l3.wav", "f3/sor-f3-n5.wav", "m3/rab-m3-d2.wav"])
    code, _, err = fetch(capsys, tmp_path / "cache", "emovo", src)
    assert code == 0, err
    assert read(tmp_path / "cache" / "emovo" / "labels-all.csv").values.tolist() == [
        ["wav/dis-f1-b1.wav", "f1", "female", "b1", "disgust", "-0.6", "0.35"],
        ["wav/gio-m2-l3.wav", "m2", "male", "l3", "happiness", "0.81", "0.51"],
        ["wav/rab-m3-d2.wav", "m3", "male", "d2", "anger", "-0.51", "0.59"],
        ["wav/sor-f3-n5.wav", "f3", "female", "n5", "surprise", "", ""],
    ]


def test_shemo_names(tmp_path, capsys):
    src = corpus(tmp_path / "ShEMO", ["female/F30A02.wav", "male/M12W05.wav", "female/F07H01.wav", "male/M01F10.wav"])
    code, _, err = fetch(capsys, tmp_path / "cache", "shemo", src)
    assert code == 0, err
    assert read(tmp_path / "cache" / "shemo" / "labels-all.csv").values.tolist() == [
        ["wav/F07H01.wav", "F07", "female", "", "happiness", "0.81", "0.51"],
        ["wav/F30A02.wav", "F30", "female", "", "anger", "-0.51", "0.59"],
        ["wav/M01F10.wav", "M01", "male", "", "fear", "-0.64", "0.6"],
        ["wav/M12W05.wav", "M12", "male", "", "surprise", "", ""],
    ]


# ---- labels.csv is what `affectlab extract configs/extract/emodb.yaml` reads ----------------------

@pytest.mark.parametrize("name, names", [
    ("ravdess", ["03-01-01-01-01-01-01.wav", "03-01-05-02-02-02-01.wav", "03-01-02-02-01-01-02.wav"]),
    ("urdu", ["Angry/SM1_F10_A010.wav", "Sad/SF10_F1_S01.wav"]),
    ("tess", ["OAF_back_angry.wav", "YAF_bite_ps.wav", "YAF_dog_disgust.wav"]),
])
def test_labels_read_as_is_by_the_emodb_extract_config(tmp_path, capsys, name, names):
    code, _, err = fetch(capsys, tmp_path / "cache", name, corpus(tmp_path / "src", names))
    assert code == 0, err
    folder = tmp_path / "cache" / name
    cfg = ExtractConfig.model_validate(yaml.safe_load(EMODB_YAML.read_text()))
    table = read_labels(folder / "labels.csv", folder, cfg)
    labels = read(folder / "labels.csv")
    assert [s.path for s in table.samples] == [folder / f for f in labels["file"]]
    assert all(s.path.is_file() for s in table.samples)
    assert [s.group for s in table.samples] == labels["speaker"].tolist()
    assert table.numbers["valence"].tolist() == [CIRCUMPLEX[e][0] for e in labels["emotion"]]
    assert table.numbers["arousal"].tolist() == labels["arousal"].astype(float).tolist()


def test_extract_with_the_emodb_config_on_a_fetched_corpus(tmp_path, capsys):
    """The documented command, end to end, on speech synthesised with espeak-ng named as RAVDESS files."""
    pytest.importorskip("opensmile", reason="audio extra not installed (pip install affectlab[audio])")
    from conftest_media import espeak_wav

    src = tmp_path / "src" / "Actor_01"
    src.mkdir(parents=True)
    espeak_wav(src / "03-01-05-02-01-01-01.wav", "Kids are talking by the door!", speed=190)
    espeak_wav(src / "03-01-04-01-02-01-01.wav", "Dogs are sitting by the door.", speed=110)
    code, _, err = fetch(capsys, tmp_path / "cache", "ravdess", src.parent)
    assert code == 0, err
    folder = tmp_path / "cache" / "ravdess"
    code, _, err = run(capsys, "extract", str(EMODB_YAML), "--media", str(folder), "--labels",
                         str(folder / "labels.csv"), "--out", str(tmp_path / "r.pkl"), "--workers", "1", "-q",
                         "--cache-dir", str(tmp_path / "fcache"))
    assert code == 0, err
    import pickle

    train = pickle.loads((tmp_path / "r.pkl").read_bytes())["train"]
    assert sorted(train["category_emotion"]) == ["anger", "sadness"]
    assert train["audio"].shape[0] == 2 and np.isfinite(train["audio"]).all()


# ---- bad input: one line, exit 2, nothing in the cache --------------------------------------------

@pytest.mark.parametrize("name, names, message", [
    ("emodb", ["wav/hello.wav", "notes.txt"], ("no recording named by the EmoDB convention (e.g. 03a01Fa.wav); "
                                               "1 .wav files do not follow it (e.g. wav/hello.wav)")),
    ("emodb", ["wav/03a01Fa.wav", "wav/03a01Xa.wav"], "wav/03a01Xa.wav: unknown emotion code 'X' (EmoDB defines A, E, F, L, N, T, W)"),
    ("emodb", ["wav/05a01Fa.wav"], "unknown speaker code '05'"),
    ("ravdess", ["03-01-09-01-01-01-01.wav"], "unknown emotion code '09'"),
    ("ravdess", ["03-02-01-01-01-01-01.wav"], "skipped 1: song (vocal channel 02)"),
    ("crema-d", ["1001_DFA_XYZ_XX.wav"], "unknown emotion code 'XYZ' (CREMA-D defines ANG, DIS, FEA, HAP, NEU, SAD)"),
    ("crema-d", ["1001_DFA_ANG_ZZ.wav"], "unknown level code 'ZZ'"),
    ("tess", ["OAF_back_bored.wav"], "unknown emotion code 'bored'"),
    ("savee", ["DC_x01.wav"], "unknown emotion code 'x'"),
    ("savee", ["XY_a01.wav"], "unknown speaker 'XY'"),
    ("urdu", ["SM1_F10_Q010.wav"], "unknown emotion code 'Q' (URDU defines A, H, N, S)"),
    ("urdu", ["Happy/SM1_F10_A010.wav"], "the name says anger (A) but the folder says happiness"),
    ("turev-db", ["Sound Source/Bored/1358_a_1.wav"], "unknown emotion folder code 'bored'"),
    ("turev-db", [], "no recording named by the TurEV-DB convention"),
    ("emovo", ["f1/ang-f1-b1.wav"], "unknown emotion code 'ang' (EMOVO defines dis, gio, neu, pau, rab, sor, tri)"),
    ("emovo", ["f1/rab-f1-x9.wav"], "unknown sentence code 'x9'"),
    ("shemo", ["F01X01.wav"], "unknown emotion code 'X' (ShEMO defines A, F, H, N, S, W)"),
])
def test_bad_sources_are_one_line_and_leave_no_cache(tmp_path, capsys, name, names, message):
    src = corpus(tmp_path / "src", [n for n in names if n.endswith(".wav")])
    src.mkdir(exist_ok=True)
    for n in names:
        if not n.endswith(".wav"):
            (src / n).write_text("x\n")
    code, out, err = fetch(capsys, tmp_path / "cache", name, src)
    assert code == 2 and out == ""
    assert message in one_error_line(err)
    assert not (tmp_path / "cache").exists()


def test_a_refused_refetch_keeps_the_good_cache(tmp_path, capsys):
    good = corpus(tmp_path / "good", ["03a01Fa.wav"])
    assert fetch(capsys, tmp_path / "cache", "emodb", good)[0] == 0
    before = (tmp_path / "cache" / "emodb" / "labels.csv").read_bytes()
    bad = corpus(tmp_path / "bad", ["03a01Fa.wav", "03a01Za.wav"])
    code, _, err = fetch(capsys, tmp_path / "cache", "emodb", bad, "--force")
    assert code == 2 and "unknown emotion code 'Z'" in one_error_line(err)
    assert (tmp_path / "cache" / "emodb" / "labels.csv").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["emodb"]


def test_two_different_files_for_one_name(tmp_path, capsys):
    src = tmp_path / "src"
    wav(src / "a" / "03a01Fa.wav", 1)
    wav(src / "b" / "03a01Fa.wav", 2)
    code, _, err = fetch(capsys, tmp_path / "cache", "emodb", src)
    assert code == 2 and "a/03a01Fa.wav and b/03a01Fa.wav differ but both would be wav/03a01Fa.wav" in one_error_line(err)
    assert not (tmp_path / "cache").exists()


def test_git_lfs_pointers_instead_of_audio(tmp_path, capsys):
    src = tmp_path / "CREMA-D" / "AudioWAV"
    src.mkdir(parents=True)
    (src / "1001_DFA_ANG_XX.wav").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n")
    code, _, err = fetch(capsys, tmp_path / "cache", "crema-d", src)
    assert code == 2 and "is a Git LFS pointer, not audio" in one_error_line(err)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("name, where", [("savee", "Register.html"), ("tess", "tspace.library.utoronto.ca"),
                                         ("crema-d", "git lfs clone"), ("emovo", "voice.fub.it"),
                                         ("shemo", "github.com/mansourehk/ShEMO")])
def test_no_anonymous_download_says_where_and_asks_for_source(tmp_path, capsys, name, where):
    code, _, err = run(capsys, "data", "fetch", name, "--cache", str(tmp_path / "cache"))
    line = one_error_line(err)
    assert code == 2 and where in line and f"affectlab data fetch {name} --source" in line
    assert not (tmp_path / "cache").exists()


# ---- download over HTTP, the manifest, the second fetch ------------------------------------------

def test_download_records_hashes_and_a_second_fetch_downloads_nothing(tmp_path, capsys, monkeypatch):
    from test_corpus_datasets import Server

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    files = corpus(tmp_path / "files", ["wav/03a01Fa.wav", "wav/11b02Wd.wav"])
    (tmp_path / "www").mkdir()
    with zipfile.ZipFile(tmp_path / "www" / "download.zip", "w") as zf:
        for path in sorted(files.rglob("*.wav")):
            zf.write(path, path.relative_to(files).as_posix())
        zf.writestr("erkennung.txt", "x\n")
    server = Server(tmp_path / "www")
    cache = tmp_path / "cache"
    try:
        argv = ("data", "fetch", "emodb", "--url", server.url("download.zip"), "--cache", str(cache), "--json")
        code, out, err = run(capsys, *argv)
        assert code == 0, err
        result = json.loads(out)
        assert result["summary"].startswith("emodb: 2 recordings of 2 speakers (anger 1, happiness 1) and labels.csv")
        import hashlib

        expected = {f"wav/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in files.rglob("*.wav")}
        assert {k: v for k, v in result["files"].items() if k.startswith("wav/")} == expected
        manifest = json.loads((cache / "emodb" / "MANIFEST.json").read_text())
        assert manifest["source"] == server.url("download.zip") and manifest["licence"] == DATASETS.get("emodb").licence
        assert manifest["recipe"]["emotions"] == {"anger": 1, "happiness": 1}
        assert is_cached("emodb", cache, verify=True)
        code, out, _ = run(capsys, *argv)
        assert code == 0 and json.loads(out)["already_cached"] is True and server.requests == 1
        wav(cache / "emodb" / "wav" / "03a01Fa.wav", 99)  # a damaged cache is fetched again
        assert not is_cached("emodb", cache, verify=True)
        code, out, _ = run(capsys, *argv)
        assert code == 0 and json.loads(out)["already_cached"] is False and server.requests == 2
        assert is_cached("emodb", cache, verify=True)
        code, out, _ = run(capsys, "data", "path", "emodb", "--cache", str(cache))
        assert code == 0 and out.strip() == str(cache / "emodb")
    finally:
        server.close()


def test_list_shows_every_corpus(tmp_path, capsys):
    code, out, _ = run(capsys, "data", "list", "--cache", str(tmp_path), "--json")
    rows = {r["name"]: r for r in json.loads(out)["datasets"]}
    assert code == 0 and set(SPEECH) <= set(rows)
    assert rows["ravdess"]["licence"] == "CC BY-NC-SA 4.0" and rows["ravdess"]["size"].startswith("1440 recordings")
    assert rows["savee"]["download"] == "no: --source" and rows["emodb"]["download"] == "yes"
    assert all(rows[n]["speakers"] and rows[n]["emotions"] for n in SPEECH)
    code, out, _ = run(capsys, "data", "list", "--cache", str(tmp_path))
    assert code == 0 and all(n in out for n in SPEECH)


# ---- the real copies ------------------------------------------------------------------------------

def test_real_emodb_copy_gives_its_shipped_labels(tmp_path, capsys):
    if not (SHARED / "emodb" / "labels.csv").is_file():
        pytest.skip(f"real data not found at {SHARED / 'emodb'} (../shared/data/emodb)")
    code, out, err = fetch(capsys, tmp_path / "cache", "emodb", SHARED / "emodb")
    assert code == 0, err
    ours = read(tmp_path / "cache" / "emodb" / "labels.csv")
    shipped = read(SHARED / "emodb" / "labels.csv").sort_values("file").reset_index(drop=True)
    assert len(ours) == 535 and "535 recordings of 10 speakers" in out
    pd.testing.assert_frame_equal(ours[shipped.columns.tolist()], shipped)


def test_real_urdu_copy_gives_its_shipped_labels(tmp_path, capsys):
    if not (SHARED / "urdu" / "labels.csv").is_file():
        pytest.skip(f"real data not found at {SHARED / 'urdu'} (../shared/data/urdu)")
    code, out, err = fetch(capsys, tmp_path / "cache", "urdu", SHARED / "urdu")
    assert code == 0, err
    ours = read(tmp_path / "cache" / "urdu" / "labels.csv")
    shipped = read(SHARED / "urdu" / "labels.csv").sort_values("file").reset_index(drop=True)
    # the shipped copy names emotions by the corpus's folders; the recipe by the one vocabulary
    shipped["emotion"] = shipped["emotion"].map({"angry": "anger", "happy": "happiness", "neutral": "neutral", "sad": "sadness"})
    assert len(ours) == 400 and "400 recordings of 29 speakers" in out
    pd.testing.assert_frame_equal(ours[shipped.columns.tolist()], shipped)


def test_docs_table_lists_every_corpus_with_its_links():
    text = (ROOT / "docs" / "datasets.md").read_text()
    for name in SPEECH:
        spec = DATASETS.get(name)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert spec.homepage in row and (not spec.archive_url or spec.archive_url in row), name
        assert str(spec.recipe.recordings) in row, name
