"""Batch extraction: output layout, errors.csv, masking, per-file cache and resume, the process pool."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opensmile", reason="audio extra not installed (pip install affectlab[audio])")
pytest.importorskip("parselmouth", reason="audio extra not installed (pip install affectlab[audio])")
import soundfile as sf  # noqa: E402

from conftest_media import espeak_wav, tone  # noqa: E402

from affectlab.corpus.mmsa import RestrictedUnpickler, read_mmsa  # noqa: E402
from affectlab.core.errors import AffectlabError  # noqa: E402
from affectlab.features.extract import extract_dataset  # noqa: E402
from affectlab.features.extract_config import ExtractConfig  # noqa: E402
from affectlab.core.processes import pid_alive  # noqa: E402

MOODS = {"targets": [{"name": "mood", "kind": "category", "classes": ["calm", "happy"],
                      "map": {"valence": {"calm": 0.1, "happy": 0.8}, "arousal": {"calm": -0.5, "happy": 0.5}}},
                     {"name": "score", "kind": "number"}],
         "regression_label": "valence", "batch": {"workers": 1}}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Two real speech files, one silent file, one zero-length, one garbage; LABELS.csv with problems."""
    d = tmp_path_factory.mktemp("media")
    espeak_wav(d / "s1.wav", "Good morning, I am very happy to see you here today.")
    espeak_wav(d / "s2.wav", "The meeting was moved to Thursday afternoon.", voice="en-us")
    sf.write(d / "silent.wav", np.zeros(16000, np.float32), 16000)
    (d / "empty.wav").write_bytes(b"")
    (d / "junk.wav").write_bytes(b"RIFF????WAVEjunk" * 64)
    rows = [
        ("s1.wav", "alice", "", "", "happy", "1.5"),
        ("s2.wav", "bob", "0", "1.2", "calm", "2"),
        ("s2.wav", "bob", "1.2", "", "calm", ""),
        ("s2.wav", "bob", "2", "99", "calm", "3"),  # outside the recording
        ("silent.wav", "carol", "", "", "calm", "0"),  # no speech: kept, reported as masked
        ("empty.wav", "dave", "", "", "happy", "1"),
        ("junk.wav", "dave", "", "", "happy", "1"),
        ("missing.wav", "erin", "", "", "happy", "1"),
    ]
    pd.DataFrame(rows, columns=["file", "group", "start", "end", "mood", "score"]).to_csv(d / "labels.csv", index=False)
    return d


@pytest.fixture(scope="module")
def extracted(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    cfg = ExtractConfig.model_validate(MOODS)
    summary = extract_dataset(cfg, media, media / "labels.csv", out / "f.pkl", cache_dir=out / "cache")
    return summary, out


def load(path: Path) -> dict:
    with open(path, "rb") as fh:
        return RestrictedUnpickler(fh).load()  # our output holds only containers, strings, numbers, arrays


def test_output_layout_and_labels(extracted):
    summary, out = extracted
    data = load(out / "f.pkl")
    assert set(data) == {"train", "config"}
    tr = data["train"]
    assert tr["id"] == ["alice$_$s1", "bob$_$s2@0-1.2", "bob$_$s2@1.2-end", "carol$_$silent"]
    assert tr["group"] == ["alice", "bob", "bob", "carol"]
    n = len(tr["id"])
    assert tr["audio"].shape == (n, 1, 100) and tr["audio"].dtype == np.float32
    assert tr["audio_lengths"].tolist() == [1, 1, 1, 1]
    assert tr["audio_lld"].shape[0] == n and tr["audio_lld"].shape[2] == 25
    assert tr["audio_lld_lengths"][1] == pytest.approx(120, abs=8)  # 1.2 s of 10-ms frames
    assert np.isfinite(tr["audio"]).all()
    assert tr["regression_labels"].tolist() == pytest.approx([0.8, 0.1, 0.1, 0.1])
    assert tr["regression_labels_arousal"].tolist() == pytest.approx([0.5, -0.5, -0.5, -0.5])
    assert np.isnan(tr["regression_labels_score"][2]) and tr["regression_labels_score"][0] == 1.5
    assert tr["classification_labels"].tolist() == [1, 0, 0, 0]
    assert tr["category_mood"] == ["happy", "calm", "calm", "calm"]
    assert tr["segment_end"][1] == pytest.approx(1.2) and tr["segment_start"][2] == pytest.approx(1.2)
    assert "text" not in tr and tr["raw_text"] == [""] * n
    cfg = data["config"]
    assert cfg["extractors"] == ["egemaps", "praat"]
    assert {"opensmile", "parselmouth", "praat"} <= set(cfg["versions"])
    assert len(cfg["feature_names"]["audio"]) == 100 and cfg["classes"]["mood"] == ["calm", "happy"]
    assert cfg["params"]["audio"]["sample_rate"] == 16000
    assert cfg["counts"]["extracted"] == 4 and cfg["counts"]["failed"] == 4
    assert summary.n_ok == 4 and summary.n_samples == 8
    assert summary.line().startswith("extracted 4 of 8 samples from 3 of 6 files")


def test_errors_csv_names_each_problem(extracted):
    _, out = extracted
    errors = pd.read_csv(out / "errors.csv", dtype=str, keep_default_na=False)
    assert list(errors.columns) == ["line", "id", "file", "status", "modality", "reason"]
    by_file = {(r.file, r.status): r.reason for r in errors.itertuples()}
    assert "outside the recording" in by_file[("s2.wav", "failed")]
    assert by_file[("empty.wav", "failed")] == "zero-length file"
    assert "cannot decode audio" in by_file[("junk.wav", "failed")]
    assert by_file[("missing.wav", "failed")] == "file not found"
    assert "no speech detected" in by_file[("silent.wav", "masked")]
    assert errors["line"].tolist() == sorted(errors["line"].tolist(), key=int)


def test_mmsa_reader_reads_the_splits(extracted):
    _, out = extracted
    data = load(out / "f.pkl")
    data.pop("config")  # the reader wants split dicts only; see docs/extraction.md
    p = out / "splits-only.pkl"
    p.write_bytes(pickle.dumps(data))
    corpus = read_mmsa(p)
    assert corpus.frame["group"].tolist() == ["alice", "bob", "bob", "carol"]
    assert corpus.features["audio"].shape == (4, 1, 100)


def test_second_run_reads_the_cache_and_writes_the_same(extracted, media):
    summary, out = extracted
    cfg = ExtractConfig.model_validate(MOODS)
    again = extract_dataset(cfg, media, media / "labels.csv", out / "g.pkl", cache_dir=out / "cache")
    assert again.n_cached == 3  # the three files that gave samples; failed files are retried
    a, b = load(out / "f.pkl")["train"], load(out / "g.pkl")["train"]
    assert np.array_equal(a["audio"], b["audio"]) and a["id"] == b["id"]


def _items(cache: Path, extractor: str) -> list[Path]:
    """The cached items of one extractor (``<cache>/features/<name>-<key>/items/*/*.item``)."""
    return sorted(cache.glob(f"features/{extractor}-*/items/*/*.item"))


def test_the_cache_holds_each_extractor_apart_and_no_pickle(extracted):
    _, out = extracted
    cache = out / "cache"
    assert len(_items(cache, "egemaps")) == len(_items(cache, "praat")) == 4  # one per extracted segment
    assert not list(cache.rglob("*.pkl"))  # the cache holds arrays only: nothing is unpickled from it
    meta = json.loads(next(cache.glob("features/egemaps-*/extractor.json")).read_text())
    assert meta["name"] == "egemaps" and meta["params"] == {"sample_rate": 16000, "lld_pool": 1}


def test_interrupted_run_resumes(media, tmp_path):
    cfg = ExtractConfig.model_validate(MOODS)
    cache = tmp_path / "cache"
    extract_dataset(cfg, media, media / "labels.csv", tmp_path / "a.pkl", cache_dir=cache)
    praat = _items(cache, "praat")
    assert len(praat) == 4
    # as if the run had stopped before these items were stored, or while writing one (never
    # happens: writes are atomic); both are computed again, the rest is read
    egemaps = {p.name: p for p in _items(cache, "egemaps")}
    praat[0].unlink()
    egemaps[praat[0].name].unlink()
    praat[1].write_bytes(praat[1].read_bytes()[:-20])
    again = extract_dataset(cfg, media, media / "labels.csv", tmp_path / "b.pkl", cache_dir=cache)
    assert again.n_ok == 4 and again.n_cached <= 2  # files with a recomputed segment are not "from cache"
    assert len(_items(cache, "praat")) == 4
    a, b = load(tmp_path / "a.pkl")["train"], load(tmp_path / "b.pkl")["train"]
    assert np.array_equal(a["audio"], b["audio"]) and np.array_equal(a["audio_lld"], b["audio_lld"])


def test_a_killed_extraction_keeps_what_it_finished(media, tmp_path):
    """kill -9 in the middle of a run: the items stored before it are used by the next run."""
    script = tmp_path / "run.py"
    script.write_text(_KILL_AFTER_TWO.format(media=str(media), out=str(tmp_path)))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "AFFECTLAB_PROGRESS": "off"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    stored = len(_items(tmp_path / "cache", "praat"))
    assert 1 <= stored < 4
    again = extract_dataset(ExtractConfig.model_validate(MOODS), media, media / "labels.csv", tmp_path / "b.pkl",
                            cache_dir=tmp_path / "cache")
    assert again.n_ok == 4 and again.n_cached >= 1
    assert not list((tmp_path / "cache").rglob(".tmp-*"))  # the next writer swept what the killed one left


_KILL_AFTER_TWO = """
import os, signal
from affectlab.features import batch
from affectlab.features.extract import extract_dataset
from affectlab.features.extract_config import ExtractConfig
import test_features_batch as t

real, done = batch.process_file, []

def kill_after_two(task, ex):
    res = real(task, ex)
    done.append(task)
    if len(done) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return res

batch.process_file = kill_after_two
extract_dataset(ExtractConfig.model_validate(t.MOODS), {media!r}, {media!r} + "/labels.csv", {out!r} + "/a.pkl",
                cache_dir={out!r} + "/cache")
"""


def test_an_unwritable_cache_is_one_line(media, tmp_path, monkeypatch):
    from affectlab.features.cache import FeatureCache

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FeatureCache, "put_item", full)
    with pytest.raises(AffectlabError, match="cannot write .No space left on device") as err:
        extract_dataset(ExtractConfig.model_validate(MOODS), media, media / "labels.csv", tmp_path / "o.pkl",
                        cache_dir=tmp_path / "cache")
    assert "\n" not in str(err.value) and not (tmp_path / "o.pkl").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(AffectlabError, match="is a file, not a folder"):
        extract_dataset(ExtractConfig.model_validate(MOODS), media, media / "labels.csv", tmp_path / "o.pkl",
                        cache_dir=tmp_path / "file")


def test_changed_parameters_do_not_reuse_the_cache(media, tmp_path):
    cache = tmp_path / "cache"
    extract_dataset(ExtractConfig.model_validate(MOODS), media, media / "labels.csv", tmp_path / "a.pkl", cache_dir=cache)
    raw = dict(MOODS, audio={"pitch_floor": 60})  # praat's params change; eGeMAPS's do not
    summary = extract_dataset(ExtractConfig.model_validate(raw), media, media / "labels.csv", tmp_path / "b.pkl",
                              cache_dir=cache)
    assert summary.n_cached == 0  # every file had a praat item to compute
    assert len(list(cache.glob("features/praat-*"))) == 2 and len(list(cache.glob("features/egemaps-*"))) == 1
    a, b = load(tmp_path / "a.pkl")["train"], load(tmp_path / "b.pkl")["train"]
    assert np.array_equal(a["audio"][..., :88], b["audio"][..., :88])  # eGeMAPS read from the cache
    raw = dict(MOODS, audio={"praat": False})
    extract_dataset(ExtractConfig.model_validate(raw), media, media / "labels.csv", tmp_path / "c.pkl", cache_dir=cache)
    assert load(tmp_path / "c.pkl")["train"]["audio"].shape[2] == 88


def test_process_pool_gives_the_same_numbers(media, tmp_path, extracted):
    _, out = extracted
    cfg = ExtractConfig.model_validate(dict(MOODS, batch={"workers": 2}))
    summary = extract_dataset(cfg, media, media / "labels.csv", tmp_path / "p.pkl", use_cache=False)
    assert summary.n_ok == 4
    a, b = load(out / "f.pkl")["train"], load(tmp_path / "p.pkl")["train"]
    assert np.allclose(a["audio"], b["audio"], atol=1e-5)


def test_split_column_and_lld_sequences(media, tmp_path):
    labels = pd.DataFrame({"file": ["s1.wav", "s2.wav"], "group": ["a", "b"], "split": ["train", "test"],
                           "text": ["good morning", ""]})
    labels.to_csv(tmp_path / "l.csv", index=False)
    cfg = ExtractConfig.model_validate({"audio": {"sequence": "lld", "lld_pool": 10}, "batch": {"workers": 1}})
    extract_dataset(cfg, media, tmp_path / "l.csv", tmp_path / "o.pkl", use_cache=False)
    data = load(tmp_path / "o.pkl")
    assert set(data) == {"train", "test", "config"}
    assert data["train"]["raw_text"] == ["good morning"]
    assert data["test"]["audio"].shape[2] == 25  # LLDs, pooled to 100-ms steps
    dur = data["test"]["segment_end"][0]
    assert data["test"]["audio_lengths"][0] == pytest.approx(dur * 10, abs=2)
    assert "regression_labels" not in data["train"]
    assert any("raw_text holds the transcripts" in n for n in data["config"]["notes"])


def test_nothing_extracted_is_an_error_and_writes_no_output(tmp_path, media):
    pd.DataFrame({"file": ["missing.wav"], "group": ["g"]}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(AffectlabError, match="no sample could be extracted"):
        extract_dataset(ExtractConfig(), media, tmp_path / "l.csv", tmp_path / "o.pkl", use_cache=False)
    assert not (tmp_path / "o.pkl").exists()
    assert (tmp_path / "errors.csv").read_text().count("\n") == 2


@pytest.mark.parametrize("rows, message", [
    ({"file": ["s1.wav"]}, "missing group column 'group'"),
    ({"file": ["s1.wav"], "group": ["g"], "mood": ["angry"]}, "'angry' is not one of the classes calm, happy"),
    ({"file": ["s1.wav", "s1.wav"], "group": ["g", "g"], "mood": ["calm", "calm"]}, "duplicate sample id"),
    ({"file": ["s1.wav"], "group": ["g"], "start": ["abc"], "mood": ["calm"]}, "start 'abc' is not a number"),
    ({"file": ["s1.wav"], "group": ["g"], "mood": ["calm"], "score": ["x"]}, "score 'x' is not a number"),
])
def test_bad_labels_tables_are_one_line_errors(tmp_path, media, rows, message):
    pd.DataFrame(rows).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(AffectlabError, match=message) as err:
        extract_dataset(ExtractConfig.model_validate(MOODS), media, tmp_path / "l.csv", tmp_path / "o.pkl")
    assert "\n" not in str(err.value) and "line" in str(err.value) or "column" in str(err.value)
    assert not (tmp_path / "o.pkl").exists()


def test_tone_segments_of_one_file(tmp_path):
    """One long file, three segments: each gets the pitch of its own part of the recording."""
    x = np.concatenate([tone(110, 1.0), tone(220, 1.0), tone(330, 1.0)])
    sf.write(tmp_path / "tones.wav", x, 16000)
    pd.DataFrame({"file": ["tones.wav"] * 3, "group": ["t"] * 3, "start": [0, 1, 2], "end": [1, 2, 3]}).to_csv(
        tmp_path / "l.csv", index=False)
    extract_dataset(ExtractConfig.model_validate({"batch": {"workers": 1}}), tmp_path, tmp_path / "l.csv",
                    tmp_path / "o.pkl", use_cache=False)
    data = load(tmp_path / "o.pkl")
    names = data["config"]["feature_names"]["audio_functionals"]
    f0 = data["train"]["audio_functionals"][:, names.index("praat_f0_median_hz")]
    assert f0.tolist() == pytest.approx([110, 220, 330], rel=0.02)


def test_video_without_sound_track_keeps_the_face_and_masks_the_audio(tmp_path):
    pytest.importorskip("mediapipe", reason="video extra not installed")
    pytest.importorskip("skimage", reason="scikit-image makes the test video")
    from conftest_media import astronaut_frames, write_video

    write_video(tmp_path / "silent.avi", astronaut_frames(25), fps=25)
    pd.DataFrame({"file": ["silent.avi"], "group": ["v"]}).to_csv(tmp_path / "l.csv", index=False)
    cfg = ExtractConfig.model_validate({"face": {"enabled": True, "fps": 10, "landmarks": False}, "batch": {"workers": 1}})
    summary = extract_dataset(cfg, tmp_path, tmp_path / "l.csv", tmp_path / "o.pkl", use_cache=False)
    assert summary.n_ok == 1
    tr = load(tmp_path / "o.pkl")["train"]
    assert tr["audio_lengths"].tolist() == [0] and not tr["audio"].any()
    assert tr["vision_frames"].tolist() == [10] and tr["vision_mask"][0].sum() >= 9  # 1 s at 10 fps
    assert tr["vision"].shape == (1, 10, 16)
    errors = pd.read_csv(tmp_path / "errors.csv")
    assert errors[["status", "modality", "reason"]].values.tolist() == [["masked", "audio", "no audio track"]]


def test_an_unexpected_error_in_one_file_does_not_stop_the_batch(media, tmp_path, monkeypatch):
    from affectlab.features import audio as audio_mod

    real = audio_mod.EgemapsExtractor.compute

    def flaky(self, x, sr):
        if len(x) == 16000:  # the one-second silent file
            raise RuntimeError("openSMILE fell over")
        return real(self, x, sr)

    monkeypatch.setattr(audio_mod.EgemapsExtractor, "compute", flaky)
    summary = extract_dataset(ExtractConfig.model_validate(MOODS), media, media / "labels.csv", tmp_path / "o.pkl",
                              use_cache=False)
    assert summary.n_ok == 3
    reasons = pd.read_csv(tmp_path / "errors.csv")["reason"].tolist()
    assert "unexpected RuntimeError: openSMILE fell over" in reasons


# ---------------------------------------------------------------------------------------------
# Worker lifetime: a killed extraction leaves no worker behind

_HOLD_POOL = r"""
import os, sys, time
from pathlib import Path
from affectlab.features.batch import FileTask, run_tasks
from affectlab.features.extract_config import ExtractConfig
from affectlab.features.media_labels import SampleSpec

out = Path(sys.argv[1])
cfg = ExtractConfig.model_validate({"batch": {"workers": 2}})
tasks = [FileTask(out / f"missing{i}.wav", []) for i in range(6)]  # fail at once, no extra needed
seen = []

def hold(task, res):  # all files done: keep the pool (and its workers) alive until killed
    seen.append(task)
    if len(seen) == len(tasks):
        import multiprocessing
        pids = [p.pid for p in multiprocessing.active_children()]
        (out / "pids.tmp").write_text(" ".join(map(str, pids)))
        os.replace(out / "pids.tmp", out / "pids")
        time.sleep(600)

if __name__ == "__main__":  # spawned workers import this file again
    run_tasks(tasks, cfg, None, workers=2, on_done=hold)
"""


def _alive(pid: int) -> bool:
    """``pid_alive``, except that a zombie nobody reaped counts as gone."""
    if not pid_alive(pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state not in ("Z", "X")


def _start_holding_pool(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / "hold.py"
    script.write_text(_HOLD_POOL)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 90
    while not (tmp_path / "pids").is_file():
        if proc.poll() is not None:
            pytest.fail(f"the extraction script ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the extraction script did not start its workers in 90 s")
        time.sleep(0.1)
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert pids and all(_alive(p) for p in pids)
    return proc, pids


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_a_killed_extraction(tmp_path, sig):
    proc, pids = _start_holding_pool(tmp_path)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    left = _gone_within(pids, 10)
    for pid in left:  # do not leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent ({sig.name})"


def test_die_with_parent_exits_when_the_parent_is_already_gone():
    code = ("import os; from affectlab.features.batch import die_with_parent; "
            "die_with_parent(os.getppid() + 1000000); print('still here')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert res.returncode == 1 and "still here" not in res.stdout
