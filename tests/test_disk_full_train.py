"""``train`` on a full disk or a read-only ``--out`` (issue 21): one line naming the file and the
reason, exit 2, no traceback, and nothing left behind (no ``last.ckpt.tmp``, no staging folder,
no ``--out``). The errors are injected (``OSError(ENOSPC)`` as ``write()`` raises it on a full
disk, ``OSError(EROFS)`` as ``mkstemp`` raises it on a read-only mount)."""

from __future__ import annotations

import errno
import tempfile

import pandas as pd

from conftest import run_cli
from test_bad_input import one_line_refusal
from train_edge_data import leftovers, speaker_table, table_config

FULL = "No space left on device"


def _error_line(code: int, err: str, fragment: str) -> str:
    """The last stderr line of a command that failed after some progress: exit 2, no traceback."""
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("affectlab: error: ") and fragment in last, last
    return last


def test_full_disk_while_a_network_checkpoints_leaves_no_tmp_and_no_out(tmp_path, capsys, monkeypatch):
    import lightning.pytorch as pl

    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "mlp.yaml", "mlp", extra="training: {max_epochs: 3}\n")
    out = tmp_path / "run"

    def full(self, path, *args, **kwargs):  # half a file, then the disk is full
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, FULL)

    monkeypatch.setattr(pl.Trainer, "save_checkpoint", full)
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out, "--quiet"], capsys)
    line = _error_line(code, err, FULL)
    assert "last.ckpt" in line
    assert not out.exists() and leftovers(tmp_path) == []


def test_full_disk_while_the_run_files_are_written_leaves_no_out(tmp_path, capsys, monkeypatch):
    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "ridge.yaml")
    out = tmp_path / "run"
    to_csv = pd.DataFrame.to_csv

    def full(self, path=None, *args, **kwargs):
        if path is not None and "predictions.csv" in str(path):
            to_csv(self.head(2), path, *args, **kwargs)
            raise OSError(errno.ENOSPC, FULL)
        return to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out], capsys)
    line = _error_line(code, err, FULL)
    assert f"{out / 'predictions.csv'}: cannot write here" in line
    assert not out.exists() and leftovers(tmp_path) == []


def test_full_disk_keeps_an_old_run_under_overwrite(tmp_path, capsys, monkeypatch):
    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "ridge.yaml")
    out = tmp_path / "run"
    assert run_cli(["train", cfg, "--data", data, "--out", out], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    to_csv = pd.DataFrame.to_csv

    def full(self, path=None, *args, **kwargs):
        if path is not None and "baselines.csv" in str(path):
            raise OSError(errno.ENOSPC, FULL)
        return to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out, "--overwrite"], capsys)
    _error_line(code, err, FULL)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and leftovers(tmp_path) == []


def test_read_only_out_is_refused_before_the_data_is_read(tmp_path, capsys, monkeypatch):
    import affectlab.pipeline as pipeline

    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "ridge.yaml")
    mount = tmp_path / "ro"
    mount.mkdir()
    out = mount / "run"
    mkstemp = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):  # noqa: A002 (tempfile's own name)
        if dir is not None and str(dir).startswith(str(mount)):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return mkstemp(*args, dir=dir, **kwargs)

    def never(*args, **kwargs):
        raise AssertionError("the data was read before --out was checked")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(pipeline, "read_corpus", never)
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out], capsys)
    line = one_line_refusal(code, err, "Read-only file system")
    assert str(out) in line
    assert list(mount.iterdir()) == [] and leftovers(tmp_path) == []
