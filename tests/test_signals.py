"""The README's exit-code contract for signals (issue 21): a ``train`` of a small network ended by
Ctrl-C (SIGINT) exits 130, by SIGTERM 143, by SIGHUP 129 (128 + the signal), with one line on
stderr, no temporary file left anywhere, and nothing in ``--out`` but the resume checkpoint
``lightning/`` (which counts as empty: the same command then runs). A signal that arrives after
the first run files are written (SIGTERM during the baselines) leaves ``--out`` untouched too."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import run_cli
from train_edge_data import leftovers, speaker_table, table_config

EPOCH = re.compile(r"^epoch\s+(\d+)\b")


def _train_until_epoch(cmd: list[str], epoch: int, deadline: float = 240.0) -> tuple[subprocess.Popen, threading.Thread, queue.Queue]:
    """Start ``cmd``; return once it has printed the line of ``epoch`` (lines read on a thread
    into the queue, which holds the rest of the output once the thread ends)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "AFFECTLAB_PROGRESS": "off"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    seen, end = [], time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        m = EPOCH.match(line)
        if m and int(m.group(1)) >= epoch:
            return proc, reader, lines
    proc.kill()
    raise AssertionError(f"training never reached epoch {epoch}: {''.join(seen)[-2000:]}")


@pytest.mark.parametrize("name, code, word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated (SIGTERM)"),
                                              ("SIGHUP", 129, "terminated (SIGHUP)")])
def test_signal_ends_network_training_with_128_plus_n_and_leaves_nothing(tmp_path, name, code, word):
    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "mlp.yaml", "mlp", extra="training: {max_epochs: 100000, patience: 100000, batch_size: 8}\n")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "affectlab", "train", str(cfg), "--data", str(data), "--out", str(out)]
    proc, reader, lines = _train_until_epoch(cmd, 3)
    try:
        proc.send_signal(getattr(signal, name))
        rc = proc.wait(timeout=120)
        reader.join(timeout=30)
        rest = "".join(lines.get() for _ in range(lines.qsize()))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == code, rest[-2000:]
    assert f"affectlab: {word}" in rest and "Traceback" not in rest
    assert leftovers(tmp_path) == []
    # only the resume checkpoint, which counts as empty: the same --out takes a new run at once
    assert sorted(p.name for p in out.iterdir()) == ["lightning"]
    assert [p.name for p in (out / "lightning").iterdir()] == ["last.ckpt"]


def test_sigterm_after_the_first_run_files_leaves_out_as_it_was(tmp_path, capsys, monkeypatch):
    """SIGTERM while the run's files are written (baselines.csv is, the checkpoint not yet): exit
    143, ``--out`` absent, and the same command then trains (it used to be refused as 'not empty')."""
    from affectlab.runs.rundir import RunDir

    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "ridge.yaml")
    out = tmp_path / "run"
    written = []

    def terminated(self, *args, **kwargs):
        written.extend(p.name for p in self.path.iterdir())
        raise SystemExit(128 + signal.SIGTERM)

    with monkeypatch.context() as m:
        m.setattr(RunDir, "write_checkpoint", terminated)
        code, _, _ = run_cli(["train", cfg, "--data", data, "--out", out], capsys)
    assert code == 143 and "baselines.csv" in written
    assert not out.exists() and leftovers(tmp_path) == []
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out], capsys)
    assert code == 0, err
    assert {"baselines.csv", "summary.json", "checkpoint.ckpt"} <= {p.name for p in out.iterdir()}
