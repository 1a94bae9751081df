"""Resolve once (affectlab.experiment): a config becomes one frozen Experiment, every check at load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from affectlab import Experiment, resolve
from affectlab.config import RunConfig
from affectlab.core.errors import AffectlabError
from affectlab.protocols import Dev, LeaveOneGroupOut

ROOT = Path(__file__).resolve().parents[1]


def test_a_file_a_mapping_and_a_run_config_resolve_alike(tmp_path):
    raw = {"task": "regression", "data": {"format": "table", "targets": [{"name": "y", "low": 0, "high": 1}]},
           "model": {"name": "ridge_text", "alphas": ["1", 10]}, "split": {"kind": "leave_one_group_out"}}
    path = tmp_path / "c.yaml"
    path.write_text(RunConfig.model_validate(raw).model_dump_json(exclude_unset=True))
    for exp in (resolve(raw), resolve(path), resolve(RunConfig.model_validate(raw))):
        assert isinstance(exp, Experiment) and exp.task.name == "regression"
        assert exp.protocol == LeaveOneGroupOut() and exp.model.name == "ridge_text"
        assert exp.model.config_params() == {"alphas": [1.0, 10.0]} and exp.model.params.alphas == [1.0, 10.0]
        assert [t.name for t in exp.declared_targets] == ["y"] and exp.monitor == "score"
    with pytest.raises(dataclasses.FrozenInstanceError):
        exp.seed = 3  # type: ignore[misc]


def test_overrides_and_seeds_reach_the_protocol():
    exp = resolve({"split": {"kind": "dev"}}, overrides=["split.unseen_fraction=0.3"], seed=7)
    assert exp.protocol == Dev(0.3, 0.2, 7) and exp.seed == 7


@pytest.mark.parametrize("raw, fragment", [
    ({"task": "nosuch"}, "task: unknown task 'nosuch'"),
    ({"model": {"name": "ridge_text", "alphas": "x"}}, "model ridge_text"),
    ({"data": {"format": "csv"}}, "data.format: unknown data format 'csv'"),
    ({"baselines": ["nosuch"]}, "baselines: unknown model 'nosuch'"),
    ({"split": {"kind": "group_kfold", "val_split": "nope"}}, "split.val_split: protocol group_kfold does not read it"),
    ({"training": {"monitor": "nosuch"}}, "training.monitor: 'nosuch' is not a validation metric"),
    ({"training": {"losses": {"nosuch": {"mse": 1.0}}}}, "training.losses: 'nosuch' is not a declared target"),
    ({"references": [{"system": "x", "metric": "r2", "value": 0.9}]}, "references"),
])
def test_every_check_happens_at_resolve(raw, fragment):
    with pytest.raises(AffectlabError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as err:
        resolve(raw)
    assert "\n" not in str(err.value)


def test_every_shipped_config_resolves():
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        if path.parent.name == "extract" or path.name.startswith(("space", "sweep")):
            continue  # extraction configs and sweep spaces are other schemas
        text = path.read_text()
        if "transfer:" in text or "adapters:" in text:
            continue  # transfer configs: affectlab.transfer.config reads them
        assert isinstance(resolve(path), Experiment), path
