"""Issue 21: ``ablate`` refuses BASE and NEW of different tasks before any trial, data that BASE
cannot read before any trial, and names the first failed trial's error when no seed of BASE and
NEW finished (it only said "no finished run of a common seed yet; see the failed trials")."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from affectlab.ablate import run_ablation
from affectlab.core.errors import AffectlabError
from conftest import run_cli
from test_bad_input import one_line_refusal

BASE = {"task": "regression", "name": "v1", "data": {"format": "table", "columns": {"id": "id"},
                                                     "targets": [{"name": "y", "low": 0, "high": 1}],
                                                     "options": {"features": ["f_*"]}},
        "split": {"kind": "kfold", "k": 2}, "model": {"name": "ridge_tabular"}, "baselines": []}


def write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_different_tasks_are_refused_before_any_trial(tmp_path, capsys):
    base = write(tmp_path / "a.yaml", BASE)
    new = write(tmp_path / "b.yaml", {**BASE, "task": "classification", "name": "v2",
                                       "data": {**BASE["data"], "targets": [{"name": "y", "kind": "category", "classes": ["a", "b"]}]},
                                       "model": {"name": "logistic_tabular"}})
    data = tmp_path / "d.csv"
    data.write_text("id,f_a,y\n1,0.1,0.2\n")
    out = tmp_path / "abl"
    code, _, err = run_cli(["ablate", base, new, "--data", data, "--seeds", "1", "--out", out], capsys)
    one_line_refusal(code, err, "is task 'regression' and")
    assert "is task 'classification'" in err and not out.exists()


def test_data_base_cannot_read_is_refused_before_any_trial(tmp_path, capsys):
    base = write(tmp_path / "a.yaml", BASE)
    new = write(tmp_path / "b.yaml", {**BASE, "name": "v2", "model": {"name": "ridge_tabular", "alphas": [3.0]}})
    data = tmp_path / "d.csv"
    data.write_text("id,f_a,label\n1,0.1,0.2\n2,0.3,0.4\n")  # no column y
    out = tmp_path / "abl"
    code, _, err = run_cli(["ablate", base, new, "--data", data, "--seeds", "1", "--out", out], capsys)
    line = one_line_refusal(code, err, "d.csv")
    assert "'y'" in line and not out.exists()


def test_every_trial_failing_names_the_first_error(tmp_path):
    base = write(tmp_path / "a.yaml", BASE)
    new = write(tmp_path / "b.yaml", {**BASE, "name": "v2", "model": {"name": "ridge_tabular", "alphas": [3.0]}})
    data = tmp_path / "d.csv"
    data.write_text("id,f_a,y\n1,0.1,0.2\n")

    def broken(cfg, data, out):
        raise AffectlabError(f"{data}: simulated failure of seed {cfg.seed}")

    with pytest.raises(AffectlabError, match=r"no finished run of a common seed: \d+ trial\(s\) failed, the first "
                                             r"(BASE|NEW) seed \d: .*simulated failure of seed \d"):
        run_ablation(base, new, data, tmp_path / "abl", seeds=1, n_resamples=50, train_fn=broken)
