"""Issue 21: a full disk, a read-only mount or a missing permission for an output is one line and
exit 2, with no traceback and no partial file (``core.io.atomic_output``, ``check_writable``).

The tests may run as root (permissions are not enforced) and no small file system is mounted, so
the operating system's errors are injected where the writing happens.
"""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from test_bad_input import one_line_refusal

from affectlab.core.errors import AffectlabError
from affectlab.core.io import atomic_output, check_writable, write_csv

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))



def read_only_mkstemp(*a, **kw):
    """tempfile.mkstemp on a read-only mount."""
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), kw.get("dir"))

def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- core.io

def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(AffectlabError, match=rf"^{target}: cannot write here \(No space left on device\)$"):
        with atomic_output(target) as tmp:
            tmp.write_text("half a fi")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _leftovers(tmp_path) == []  # neither the target nor the temporary file


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_read_only_or_forbidden_rename_is_one_line(tmp_path, monkeypatch, code):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def refuse(src, dst):
        raise OSError(code, os.strerror(code), str(src), str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(AffectlabError, match=rf"out.csv: cannot write here \({os.strerror(code)}\)"):
        write_csv(target, pd.DataFrame({"a": [1]}))
    assert target.read_text() == "old\n" and _leftovers(tmp_path) == ["out.csv"]  # the old file kept as it was


def test_an_os_error_about_another_file_is_not_disguised(tmp_path):
    """Only errors about the output itself are the place's; anything else stays what it is."""
    with pytest.raises(PermissionError):
        with atomic_output(tmp_path / "out.csv"):
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "some-input.csv"))
    assert _leftovers(tmp_path) == []


def test_check_writable_probes_the_folder_and_leaves_nothing(tmp_path, monkeypatch):
    assert check_writable(tmp_path / "sub" / "p.csv") == tmp_path / "sub" / "p.csv"
    assert _leftovers(tmp_path) == []  # nothing created, not even the missing folder
    import tempfile

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(AffectlabError, match=r"p.csv: cannot write here \(Read-only file system\)"):
        check_writable(tmp_path / "p.csv")


# --------------------------------------------------------------------------- predict --out

@pytest.fixture
def table_run(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(30)], "who": [f"u{i % 5}" for i in range(30)],
                          "y": rng.normal(size=30).round(3)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: regression\nfeatures: {text: {kind: none}}\nsplit: {kind: group}\nbaselines: []\n"
                   "data: {format: table, columns: {id: id, group: who}, targets: [{name: y}]}\n"
                   "model: {name: group_mean}\n")
    code, _, err = run_cli(["train", cfg, "--data", tmp_path / "t.csv", "--out", tmp_path / "run"])
    assert code == 0, err
    return tmp_path / "run", tmp_path / "t.csv"


def test_predict_on_a_full_disk_is_one_line_without_a_partial_file(table_run, tmp_path, monkeypatch, capsys):
    run, data = table_run
    out = tmp_path / "preds"
    out.mkdir()
    real = pd.DataFrame.to_csv

    def full(self, path, *a, **kw):  # half the file lands, then the disk is full
        real(self.head(3), path, *a, **kw)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    code, _, err = run_cli(["predict", run, "--data", data, "--out", out / "p.csv"], capsys)
    one_line_refusal(code, err, f"{out / 'p.csv'}: cannot write here (No space left on device)")
    assert _leftovers(out) == []


def test_the_apis_predict_out_on_a_full_disk_raises_the_same_line(table_run, tmp_path, monkeypatch):
    import affectlab

    run, data = table_run

    def full(self, path, *a, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(AffectlabError, match=r"p.csv: cannot write here \(No space left on device\)$"):
        affectlab.load(run).predict(data, out=tmp_path / "api" / "p.csv")
    assert _leftovers(tmp_path / "api") == []


def test_predict_into_a_read_only_folder_is_refused_before_any_work(table_run, tmp_path, monkeypatch, capsys):
    run, data = table_run
    import tempfile

    import affectlab.pipeline as pipeline

    def never(*a, **kw):
        raise AssertionError("predict_run ran although the output cannot be written")

    monkeypatch.setattr(tempfile, "mkstemp", read_only_mkstemp)
    monkeypatch.setattr(pipeline, "predict_run", never)
    code, _, err = run_cli(["predict", run, "--data", data, "--out", tmp_path / "ro" / "p.csv"], capsys)
    one_line_refusal(code, err, "p.csv: cannot write here (Read-only file system)")
    assert not (tmp_path / "ro").exists()


# --------------------------------------------------------------------------- extract --out

@pytest.fixture
def media(tmp_path: Path) -> Path:
    pytest.importorskip("opensmile", reason="audio extra not installed (pip install affectlab[audio])")
    import soundfile as sf
    from conftest_media import tone

    (tmp_path / "media").mkdir()
    sf.write(tmp_path / "media" / "a.wav", tone(180, 0.6), 16000)
    sf.write(tmp_path / "media" / "b.wav", tone(240, 0.6), 16000)
    pd.DataFrame({"file": ["a.wav", "b.wav"], "group": ["x", "y"], "valence": ["0.5", "-1"]}
                 ).to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "cfg.yaml").write_text("targets:\n  - name: valence\nbatch:\n  workers: 1\n")
    return tmp_path


def _extract(ws: Path, out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run_cli(["extract", ws / "cfg.yaml", "--media", ws / "media", "--labels", ws / "labels.csv",
                    "--out", out, "--no-cache", "-q", *extra], capsys)


def test_extract_on_a_full_disk_is_one_line_without_a_partial_pickle(media, monkeypatch, capsys):
    out_dir = media / "out"
    out_dir.mkdir()
    real = pickle.dump

    def full(obj, fh, *a, **kw):
        fh.write(pickle.dumps(obj, *a, **kw)[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pickle, "dump", full)
    code, _, err = _extract(media, out_dir / "f.pkl", capsys)
    one_line_refusal(code, err, f"{out_dir / 'f.pkl'}: cannot write here (No space left on device)")
    assert _leftovers(out_dir) == ["errors.csv"]  # the problem list (empty) was written; no pickle, whole or half
    monkeypatch.setattr(pickle, "dump", real)
    code, _, err = _extract(media, out_dir / "f.pkl", capsys)
    assert code == 0 and pickle.loads((out_dir / "f.pkl").read_bytes())["train"]["id"] == ["x$_$a", "y$_$b"]


def test_extract_into_a_read_only_folder_is_refused_before_any_file_is_read(media, monkeypatch, capsys):
    import tempfile

    import affectlab.features.extract as extract

    def never(*a, **kw):
        raise AssertionError("extraction ran although the output cannot be written")

    monkeypatch.setattr(tempfile, "mkstemp", read_only_mkstemp)
    monkeypatch.setattr(extract, "run_tasks", never)
    code, _, err = _extract(media, media / "out" / "f.pkl", capsys)
    one_line_refusal(code, err, "f.pkl: cannot write here (Read-only file system)")
    assert not (media / "out").exists()
