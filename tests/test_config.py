from pathlib import Path

import pytest

from affectlab.config import RunConfig, apply_overrides, load_config
from affectlab.errors import AffectlabError

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
