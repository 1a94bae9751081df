from pathlib import Path

import pytest

from affectlab.config import RunConfig, apply_overrides
from affectlab.experiment import load_config
from affectlab.core.errors import AffectlabError

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "semeval2026-task2"


def test_overrides_parse_yaml_values_and_nest():
    out = apply_overrides({"model": {"name": "m"}}, ["model.hidden=64", "training.losses.arousal.ccc=0.7", "baselines=[]"])
    assert out == {"model": {"name": "m", "hidden": 64}, "training": {"losses": {"arousal": {"ccc": 0.7}}}, "baselines": []}


def test_override_without_equals_is_one_line_error():
    with pytest.raises(AffectlabError, match="expected key=value"):
        apply_overrides({}, ["model.hidden"])


def test_unknown_key_is_refused_with_its_path(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("training:\n  patiense: 3\n")
    with pytest.raises(AffectlabError) as err:
        load_config(p)
    assert "training.patiense" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text,message", [("", None), ("- a\n- b\n", "mapping"), ("a: [1,\n", "not valid YAML")])
def test_malformed_configs(tmp_path, text, message):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    if message is None:
        assert isinstance(load_config(p), RunConfig)  # empty file = all defaults
    else:
        with pytest.raises(AffectlabError, match=message):
            load_config(p)


@pytest.mark.parametrize("name,user_dim,hidden,dropout,wd,patience,arousal",
                         [("v3.0", 64, 256, 0.2, 0.01, 7, (0.7, 0.3)), ("v3.2", 0, 128, 0.4, 0.01, 7, (0.7, 0.3)),
                          ("v3.3", 32, 192, 0.3, 0.015, 5, (0.75, 0.25))])
def test_user_versions_match_their_description(name, user_dim, hidden, dropout, wd, patience, arousal):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    p = cfg.model.params()
    assert (p["user_dim"], p["hidden"], p["dropout"]) == (user_dim, hidden, dropout)
    assert p["bidirectional"] is True
    assert (cfg.training.weight_decay, cfg.training.patience) == (wd, patience)
    a = cfg.training.loss_for("arousal")
    assert (a.ccc, a.mse) == arousal
    assert cfg.features.text.finetune is False


def test_seed_argument_overrides_config(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("seed: 1\n")
    assert load_config(p, seed=7).seed == 7


# ---------------------------------------------------------------- parameters checked at load (issue 12)

def _yaml(tmp_path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, fragment", [
    ("model:\n  name: user_sequence\n  hidden: abc\n", "model user_sequence: hidden: Input should be a valid integer"),
    ("model:\n  name: user_sequence\n  cell: transformer\n", "cell must be one of lstm, gru, not 'transformer'"),
    ("model:\n  name: ridge_text\n  alpha: 3\n", "model ridge_text: unknown parameter(s) alpha"),
    ("model:\n  name: no_such_model\n", "unknown model 'no_such_model'"),
    ("data:\n  format: csv\n", "data.format: unknown data format 'csv'; choose from: csd, mmsa, semeval, table"),
    ("data:\n  format: semeval\n  options:\n    max_len: 3\n", "unknown data.options max_len for format semeval"),
    ("data:\n  format: mmsa\n  options:\n    nonfinite: drop\n", "data.options.nonfinite must be one of zero, mean, error"),
    ("data:\n  format: csd\n  options:\n    max_len: abc\n", "data.options.max_len: Input should be a valid integer"),
])
def test_model_parameters_and_reader_options_are_checked_when_the_config_loads(tmp_path, text, fragment):
    """load_config (train, sweep), make_config (the Python API) and a run directory's config all
    go through validate_config: one line naming the file, before any data is looked at."""
    from affectlab.api import make_config

    p = _yaml(tmp_path, text)
    with pytest.raises(AffectlabError) as err:
        load_config(p)
    assert fragment in str(err.value) and str(err.value).startswith(str(p)) and "\n" not in str(err.value)
    import yaml

    with pytest.raises(AffectlabError, match="^config: "):
        make_config(yaml.safe_load(text))


def test_checked_parameters_are_what_the_config_records(tmp_path):
    """Values are coerced to their declared types at load, so config.yaml records what the model gets."""
    cfg = load_config(_yaml(tmp_path, "model:\n  name: user_sequence\n  hidden: '64'\n  bidirectional: 'false'\n"))
    assert cfg.model.params() == {"hidden": 64, "bidirectional": False}
    assert cfg.to_dict()["model"] == {"name": "user_sequence", "hidden": 64, "bidirectional": False}


def test_api_train_refuses_a_bad_parameter_before_reading_the_data(tmp_path):
    import affectlab

    with pytest.raises(AffectlabError, match="model ridge_text: unknown parameter"):
        affectlab.train({"model": {"name": "ridge_text", "alpah": 1}}, tmp_path / "no-such-data.csv", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_predict_refuses_a_run_whose_config_has_a_bad_parameter(tmp_path, capsys):
    """A run directory's config.yaml edited by hand (or written by a release that did not check):
    predict says which key, exit 2, one line; the old release run in tests/data still loads."""
    import shutil

    from affectlab.runs.rundir import RunDir
    from conftest import run_cli

    old = Path(__file__).parent / "data" / "old-run-v0.1"
    assert RunDir.open(old).config().model.name == "group_mean"
    run = tmp_path / "run"
    shutil.copytree(old, run)
    text = (run / "config.yaml").read_text().replace("  name: group_mean\n", "  name: group_mean\n  shrink: 3\n")
    (run / "config.yaml").write_text(text)
    code, _, err = run_cli(["predict", run, "--data", Path(__file__).parent / "data" / "old-run-v0.1-data.csv",
                            "--out", tmp_path / "p.csv"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "config.yaml: model group_mean: unknown parameter(s) shrink" in lines[0]
    assert not (tmp_path / "p.csv").exists()


def test_reader_default_targets_come_from_the_reader_registry():
    from affectlab.config import RunConfig
    from affectlab.corpus.registry import READERS, get_reader
    from affectlab.experiment import declared_targets

    assert {name for name in READERS.names() if get_reader(name).default_targets} == {"semeval", "mmsa", "csd"}
    for fmt, low, high, names in [("semeval", -2.0, 2.0, ["valence", "arousal"]), ("mmsa", -3.0, 3.0, ["sentiment"]),
                                  ("csd", -3.0, 3.0, ["sentiment"])]:
        got = declared_targets(RunConfig.model_validate({"data": {"format": fmt}}))
        assert [t.name for t in got] == names and got[0].low == low and got[-1].high in (high, 2.0)
    assert declared_targets(RunConfig.model_validate({"data": {"format": "table"}})) == ()
