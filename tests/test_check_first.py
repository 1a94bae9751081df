"""Issue 21, "check first, then work": refusals that printed progress or read and encoded the data
before their one error line now come before the first slow step.

- ``train --resume`` with a checkpoint of other training settings (or an unreadable one) is refused
  before the data is read (network and data are still checked when the fit starts);
- ``data fetch --url file://...`` of a missing file, and an unreachable URL, are one line without
  a "Downloading" line before it;
- `transfer` with a split the target file lacks is refused before the text is encoded;
- a feature the model needs and the data lacks is refused before text is encoded (`train` and `predict`).
"""

from __future__ import annotations

from conftest import run_cli
from test_bad_input import one_line_refusal
from test_transfer import _config, source  # noqa: F401 (a fixture)
from train_edge_data import speaker_table, table_config


def _never(*args, **kwargs):
    raise AssertionError("the data was read before the refusal")


def test_resume_with_other_settings_or_a_broken_checkpoint_is_refused_before_the_data(tmp_path, capsys, monkeypatch):
    import affectlab.pipeline as pipeline

    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "mlp.yaml", "mlp", extra="training: {max_epochs: 2}\n")
    out = tmp_path / "run"
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out, "--quiet"], capsys)
    assert code == 0, err
    monkeypatch.setattr(pipeline, "read_corpus", _never)
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out, "--resume", "--set", "training.lr=0.5"], capsys)
    one_line_refusal(code, err, "the checkpoint is of other training settings")
    ckpt = out / "lightning" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out, "--resume"], capsys)
    one_line_refusal(code, err, "unreadable checkpoint, truncated or corrupt")


def test_fetch_from_a_missing_file_url_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nothing.zip"
    code, _, err = run_cli(["data", "fetch", "semeval2026-task2", "--cache", tmp_path / "cache", "--url", missing.as_uri()], capsys)
    one_line_refusal(code, err, "is not there")
    assert not (tmp_path / "cache").exists()


def test_transfer_with_a_split_the_target_lacks_is_refused_before_encoding(source, tmp_path, capsys, monkeypatch):  # noqa: F811
    import affectlab.transfer.run as transfer_run

    run, _, target = source
    monkeypatch.setattr(transfer_run, "attach_features", _never)
    out = tmp_path / "out"
    code, _, err = run_cli(["transfer", _config(tmp_path), "--source-run", run, "--data", target, "--out", out, "-q",
                            "--set", "split.val_split=nope"], capsys)
    one_line_refusal(code, err, "split.val_split is 'nope'")
    assert not out.exists()


def test_a_feature_the_model_needs_and_the_data_lacks_is_refused_before_encoding(tmp_path, capsys, monkeypatch):
    """ridge_tabular on a table with text but no feature columns, beside a text baseline: refused
    before the baseline's text is encoded (it was encoded first, then the fit refused)."""
    import pandas as pd

    import affectlab.pipeline as pipeline

    frame = pd.read_csv(speaker_table(tmp_path / "t.csv"))
    frame["text"] = [f"sentence {i}" for i in range(len(frame))]
    frame[["id", "spk", "text", "y"]].to_csv(tmp_path / "text.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: regression\ndata:\n  format: table\n  columns: {id: id, group: spk, text: text}\n"
                   "  targets: [{name: y, low: -2, high: 2}]\nsplit: {kind: group}\nmodel: {name: ridge_tabular}\n"
                   "baselines: [ridge_embedding]\n")
    monkeypatch.setattr(pipeline, "attach_features", _never)
    code, _, err = run_cli(["train", cfg, "--data", tmp_path / "text.csv", "--out", tmp_path / "run"], capsys)
    one_line_refusal(code, err, "model needs feature 'tabular', which the data does not provide")
    assert not (tmp_path / "run").exists()
