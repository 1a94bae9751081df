"""`affectlab extract` without the optional extra an extractor needs: one line naming the extra."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.features import extract

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("blocked, extra", [("opensmile", "audio"), ("soxr", "audio")])
def test_missing_extra_is_named_before_any_file_is_read(tmp_path, capsys, monkeypatch, blocked, extra):
    real = extract.module_available
    monkeypatch.setattr(extract, "module_available", lambda name: name != blocked and real(name))
    (tmp_path / "media").mkdir()
    (tmp_path / "labels.csv").write_text("file,speaker,text_code,emotion\na.wav,03,a01,anger\n")
    code, _, err = run_cli(["extract", str(ROOT / "configs/extract/emodb.yaml"), "--media", str(tmp_path / "media"),
                            "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "o.pkl")], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"needs the '{extra}' extra ({blocked} missing)" in err and f"affectlab[{extra}]" in err
    assert not (tmp_path / "o.pkl").exists() and not (tmp_path / "errors.csv").exists()


def test_module_available_reads_without_importing():
    assert extract.module_available("json") and not extract.module_available("no_such_module_xyz")
    assert not extract.module_available("no_such_package_xyz.sub")
