"""RunDir and RunRecorder: refusing, overwriting, atomic and staged writes, config in the
checkpoint, and reading a run directory written by the first release."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from affectlab.core.errors import AffectlabError
from affectlab.runs import RunDir, RunRecorder, RunSummary, check_run_out, is_run_dir, load_run

OLD_RUN = Path(__file__).parent / "data" / "old-run-v0.1"
OLD_DATA = Path(__file__).parent / "data" / "old-run-v0.1-data.csv"


def test_create_refuses_a_non_empty_folder_and_deletes_nothing(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    with pytest.raises(AffectlabError, match="exists and is not empty; pass --overwrite to replace it"):
        RunDir.create(out)
    assert (out / "summary.json").read_text() == "{}"


def test_overwrite_clears_a_run_directory(tmp_path):
    out = tmp_path / "run"
    (out / "lightning").mkdir(parents=True)
    for name in ("summary.json", "config.yaml", "predictions.csv"):
        (out / name).write_text("old")
    run = RunDir.create(out, overwrite=True)
    assert run.path == out and list(out.iterdir()) == []


def test_overwrite_never_clears_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(AffectlabError, match="not a run directory .*thesis.tex"):
        RunDir.create(tmp_path, overwrite=True)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_out_that_is_a_file_is_one_line(tmp_path):
    f = tmp_path / "run"
    f.write_text("x")
    with pytest.raises(AffectlabError, match="exists and is a file") as err:
        check_run_out(f, overwrite=True)
    assert "\n" not in str(err.value) and f.read_text() == "x"


def test_lightning_checkpoints_alone_and_resume_are_accepted(tmp_path):
    (tmp_path / "run" / "lightning").mkdir(parents=True)
    RunDir.create(tmp_path / "run")  # this run's own in-progress checkpoints
    (tmp_path / "run" / "summary.json").write_text("{}")
    RunDir.create(tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "summary.json").exists()
    with pytest.raises(AffectlabError, match="not both"):
        check_run_out(tmp_path / "run", overwrite=True, resume=True)


def _write_run(run: RunDir, with_config: bool = True) -> None:
    from affectlab.config import RunConfig

    cfg = RunConfig.model_validate({"task": "regression", "model": {"name": "global_mean"},
                                    "data": {"format": "table", "columns": {"id": "id"}, "targets": [{"name": "y"}]}})
    run.write_checkpoint("global_mean", {}, [{"name": "y", "low": None, "high": None}],
                         {"mean": torch.tensor([0.5], dtype=torch.float64)}, config=cfg)
    if with_config:
        run.write_config(cfg)
    run.write_predictions(pd.DataFrame({"split": ["val"], "id": ["a"], "y": [1.0], "pred_y": [0.5]}))


def test_checkpoint_holds_the_config_and_the_run_reads_without_config_yaml(tmp_path):
    run = RunDir.create(tmp_path / "run")
    _write_run(run, with_config=False)
    run.write_summary({"task": "regression", "model": "global_mean", "targets": [{"name": "y"}]})
    assert is_run_dir(run.path) and not (run.path / "config.yaml").exists()
    ckpt = torch.load(run.path / "checkpoint.ckpt", weights_only=True)
    assert ckpt["config"]["model"]["name"] == "global_mean"
    opened = RunDir.open(run.path)
    assert opened.config().task == "regression" and isinstance(opened.summary(), RunSummary)
    loaded = load_run(run.path)
    assert loaded["config"]["model"]["name"] == "global_mean" and loaded["run_summary"].model == "global_mean"
    frame = pd.DataFrame({"id": ["q", "r"]})
    from affectlab.api import load

    assert load(run.path).predict(frame)["pred_y"].tolist() == [0.5, 0.5]


def test_staged_recorder_leaves_out_untouched_when_the_run_fails(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with RunRecorder(out, staged=True) as rec:
            rec.start().write_predictions(pd.DataFrame({"a": [1]}))
            raise RuntimeError("the run failed half-way")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_staged_recorder_replaces_only_with_overwrite(tmp_path):
    out = tmp_path / "run"
    with RunRecorder(out, staged=True) as rec:
        _write_run(rec.start())
        rec.finish({"model": "first"})
    assert RunDir.open(out).summary().model == "first"
    with pytest.raises(AffectlabError, match="not empty"):
        RunRecorder(out, staged=True)
    with RunRecorder(out, staged=True, overwrite=True) as rec:
        rec.start().write_text("notes.md", "second")
        rec.finish({"model": "second"})
    assert sorted(p.name for p in out.iterdir()) == ["notes.md", "summary.json"]
    assert json.loads((out / "summary.json").read_text())["model"] == "second"


def test_summary_is_written_last(tmp_path):
    rec = RunRecorder(tmp_path / "run")
    run = rec.start()
    _write_run(run)
    assert not is_run_dir(run.path)  # everything but the summary: not yet a run
    rec.finish({"model": "global_mean"})
    assert is_run_dir(run.path)


def test_write_summary_validates(tmp_path):
    run = RunDir.create(tmp_path / "run")
    with pytest.raises(AffectlabError, match="metrics"):
        run.write_summary({"metrics": {"val": {"ccc": "good"}}})
    assert not (run.path / "summary.json").exists()


def test_a_run_of_the_first_release_still_reads_predicts_and_evaluates(tmp_path):
    run_dir = tmp_path / "old"
    shutil.copytree(OLD_RUN, run_dir)
    loaded = load_run(run_dir)
    s = loaded["run_summary"]
    assert s.task == "generic" and s.model == "group_mean" and s.targets[0].kind == "regression"
    assert s.metric("val", "mae") == pytest.approx(loaded["summary"]["metrics"]["val"]["mae"])
    assert "config" not in torch.load(run_dir / "checkpoint.ckpt", weights_only=True)  # from before configs were stored
    from affectlab import load

    run = load(run_dir)
    pred = run.predict(OLD_DATA)
    assert len(pred) == 36 and pred["pred_y"].notna().all()
    assert run.evaluate(n_resamples=50).metrics
    (run_dir / "config.yaml").unlink()  # without config.yaml and without a config in the checkpoint: one line
    with pytest.raises(AffectlabError, match="no config.yaml and the checkpoint holds no config"):
        RunDir.open(run_dir).config()
