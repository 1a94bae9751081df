"""Transfer records its run directory through RunRecorder/RunSummary: readable by every reader,
an existing run refused before any work, replaced only with --overwrite."""

from __future__ import annotations

import json

import pytest

from test_transfer import _config, cli, source  # noqa: F401  (source: the module-scoped fixture)

from affectlab.core.errors import AffectlabError
from affectlab.runs import RunDir, RunSummary, load_run


def test_transfer_writes_a_run_every_reader_reads(source, tmp_path, capsys):  # noqa: F811
    run, _, target = source
    out = tmp_path / "adapted"
    args = ["transfer", _config(tmp_path, compare=False), "--source-run", run, "--data", target, "--out", out, "-q",
            "--set", "transfer.k=0", "--set", "transfer.stages=[{kind: standardize}]"]
    code, stdout, err = cli(args, capsys)
    assert code == 0, err
    summary = RunDir.open(out).summary()
    assert isinstance(summary, RunSummary) and summary.model == "adapted" and summary.source_model == "late_fusion"
    assert summary.transfer.k == 0 and summary.targets[0].name == "sentiment"
    raw = json.loads((out / "summary.json").read_text())
    assert RunSummary.from_dict(raw).to_dict() == raw
    loaded = load_run(out)
    assert loaded["predictions"] is not None and loaded["config"]["task"] == "mosi"
    import torch

    assert torch.load(out / "checkpoint.ckpt", weights_only=True)["config"]["task"] == "mosi"

    # the same --out again: refused before the source run is even opened, nothing touched
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = cli([*args[:3], tmp_path / "no-such-run", *args[4:]], capsys)
    assert code == 2 and "exists and is not empty; pass --overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    code, _, err = cli([*args, "--overwrite"], capsys)
    assert code == 0, err
    assert not list(tmp_path.glob(".adapted.tmp-*"))


def test_transfer_into_a_file_is_one_line(source, tmp_path):  # noqa: F811
    from affectlab.transfer.config import load_transfer_config
    from affectlab.transfer.run import transfer_run

    run, _, target = source
    (tmp_path / "out").write_text("x")
    cfg, t_cfg = load_transfer_config(_config(tmp_path), [])
    with pytest.raises(AffectlabError, match="is a file"):
        transfer_run(cfg, t_cfg, run, target, tmp_path / "out")
