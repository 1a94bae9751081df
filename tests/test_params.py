"""Every model parameter, reader option, loss and monitor is checked by a schema before any work.

Through the CLI (issue 12): a typo or a wrong type is exit 2, one stderr line without a traceback,
and it comes before the data is read: the data file of every case is not even a CSV, so a refusal
naming the parameter proves that nothing was read, encoded or trained first.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from affectlab.config import RunConfig
from affectlab.core.errors import AffectlabError
from affectlab.models import MODELS, EstimatorSpec, estimator_spec
from affectlab.corpus.base import TargetSpec
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
TARGETS = (TargetSpec("valence", -2, 2), TargetSpec("arousal", 0, 2))


def _config(tmp_path: Path, name: str, edit=None) -> Path:
    raw = yaml.safe_load((CONFIGS / name).read_text())
    if edit is not None:
        edit(raw)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _csd(raw: dict) -> None:
    raw["data"] = {"format": "csd", "options": {"files": {"text": "t.csd"}, "labels": "l.csd", "max_len": "abc"}}


#: (id, config under configs/, an edit of the raw config or None, --set assignments, fragment of the one line)
CASES = [
    ("hidden-not-a-number", "semeval2026-task2/v3.3.yaml", None, ["model.hidden=abc"],
     "model user_sequence: hidden: Input should be a valid integer"),
    ("dropout-out-of-range", "semeval2026-task2/v3.3.yaml", None, ["model.dropout=2"],
     "model user_sequence: dropout: Input should be less than 1 (got 2)"),
    ("cell-transformer", "semeval2026-task2/v3.3.yaml", None, ["model.cell=transformer"],
     "model user_sequence: cell must be one of lstm, gru, not 'transformer'"),
    ("bidirectional-maybe", "semeval2026-task2/v3.3.yaml", None, ["model.bidirectional=maybe"],
     "model user_sequence: bidirectional: Input should be a valid boolean"),
    ("unknown-parameter", "semeval2026-task2/v3.3.yaml", None, ["model.hiden=3"],
     "model user_sequence: unknown parameter(s) hiden"),
    ("kernel-gamma-big", "semeval2026-task2/default.yaml",
     lambda raw: raw["model"]["within"]["valence"].update(gamma="big"), [],
     "model user_level_kernel: within.valence.gamma: Input should be a valid number"),
    ("kernel-folds-text", "semeval2026-task2/default.yaml", None, ["model.folds=three"],
     "model user_level_kernel: folds: Input should be a valid integer"),
    ("monitor-bogus", "semeval2026-task2/v3.3.yaml", None, ["training.monitor=bogus"],
     "training.monitor: 'bogus' is not a validation metric of task semeval"),
    ("monitor-other-target", "semeval2026-task2/v3.3.yaml", None, ["training.monitor=ccc_dominance"],
     "training.monitor: 'ccc_dominance'"),
    ("losses-unknown-target", "semeval2026-task2/v3.3.yaml", None, ["training.losses.valance.ccc=1"],
     "training.losses: 'valance' is not a declared target (targets: valence, arousal)"),
    ("losses-wrong-kind", "semeval2026-task2/v3.3.yaml", None, ["training.losses.valence.ce=1"],
     "training.losses.valence: ce cannot apply to regression target 'valence'"),
    ("semeval-unknown-option", "semeval2026-task2/v3.3.yaml", None, ["data.options.max_len=5"],
     "unknown data.options max_len for format semeval"),
    ("semeval-features-type", "semeval2026-task2/default.yaml", None, ["data.options.features=3"],
     "data.options.features: Input should be a valid string"),
    ("csd-max-len-text", "mosi/features.yaml", _csd, [], "data.options.max_len: Input should be a valid integer"),
    ("mmsa-nonfinite-choice", "mosi/features.yaml", None, ["data.options.nonfinite=drop"],
     "data.options.nonfinite must be one of zero, mean, error, not 'drop'"),
    ("mmsa-unknown-option", "mosi/features.yaml", None, ["data.options.max_len=3"],
     "unknown data.options max_len for format mmsa"),
    ("fusion-hidden-text", "mosi/features.yaml", None, ["model.hidden=wide"], "model early_lstm: hidden:"),
    ("fusion-encoder-choice", "mosi/features.yaml", None, ["model.encoder=gru"],
     "model early_lstm: encoder must be one of mean, lstm, not 'gru'"),
    ("mosi-monitor-bogus", "mosi/features.yaml", None, ["training.monitor=acc3"], "training.monitor: 'acc3'"),
    ("svm-C-text", "emodb/emotion-loso.yaml", None, ["model.C=big"], "model svm_audio: C:"),
    ("ridge-alphas-text", "emodb/arousal-loso.yaml", None, ["model.alphas=[1, x]"], "model ridge_audio: alphas.1:"),
    ("mlp-dropout-text", "examples/table-classification.yaml",
     lambda raw: raw.update(model={"name": "mlp", "dropout": "half"}), [], "model mlp: dropout:"),
    ("table-unknown-option", "examples/table-regression.yaml", None, ["data.options.featurs=[f_*]"],
     "unknown data.options featurs for format table"),
]


@pytest.mark.parametrize("name, edit, sets, fragment", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_parameter_is_one_line_before_any_work(tmp_path, capsys, name, edit, sets, fragment):
    config = _config(tmp_path, name, edit)
    data = tmp_path / "data.csv"
    data.write_bytes(b"\x00\x01 not a table, not a pickle")  # reading it would fail with another message
    (tmp_path / "csd").mkdir()
    if "csd" in (edit.__name__ if edit else ""):
        data = tmp_path / "csd"
    args = ["train", str(config), "--data", str(data), "--out", str(tmp_path / "run")]
    for s in sets:
        args += ["--set", s]
    t0 = time.perf_counter()
    code, _, err = run_cli(args, capsys)
    seconds = time.perf_counter() - t0
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert fragment in lines[0], lines[0]
    assert not (tmp_path / "run").exists()
    assert seconds < 10, seconds  # generous for a loaded machine; in practice well under a second once imported


def test_every_registered_model_has_a_schema():
    for name in MODELS.names():
        if name == "adapted":  # built by `affectlab transfer` from a source run; its parameters are informative
            continue
        cls = MODELS.get(name)
        if not cls.__module__.startswith("affectlab."):  # models other test files register in this process
            continue
        assert cls.Params is not None, name


@pytest.mark.parametrize("name, params", [
    ("user_sequence", {"hidden": 64, "cell": "gru", "bidirectional": False, "dropout": 0.0, "extra": ["time_gap"], "max_len": 0}),
    ("mlp", {"hidden": 32, "dropout": 0.5, "standardize": "group", "modalities": "audio"}),
    ("mlp", {"hidden": [], "modalities": ["audio", "text"]}),
    ("mlp", {"modalities": ["audio", "audio_ssl"], "layer_weights": "audio_ssl", "columns": [0, None]}),
    ("late_fusion", {"modalities": ["text"], "hidden": 8, "encoder": "lstm", "modality_dropout": 0.1}),
    ("user_level_kernel", {"within": {"valence": {"gamma": 2}, "default": {"alpha": 1}}, "tfidf": {"word": [1, 3]},
                           "folds": 0, "calibrate": True}),
    ("ridge_tfidf", {"word": 2, "char": None, "min_df": 1, "max_features": 100}),
    ("ridge_group_offset", {"shrink": 0, "folds": 3, "alphas": [1, 10]}),
    ("svm_audio", {"kernel": "linear", "C": 1, "gamma": ["scale", 0.01], "inner_folds": "groups"}),
    ("logistic_audio", {"Cs": [0.1, 1], "class_weight": "balanced"}),
    ("ridge_audio", {"standardize": "group", "columns": [0, None], "alphas": [1.0]}),
])
def test_accepted_values_still_build(name, params):
    targets = (TargetSpec("emotion", kind="category", classes=("a", "b")),) if name.startswith(("svm", "logistic")) else TARGETS
    MODELS.get(name)(targets, **params)


@pytest.mark.parametrize("name, params, message", [
    ("user_sequence", {"cell": "transformer"}, "cell must be one of lstm, gru"),
    ("user_sequence", {"layers": 0}, "layers: Input should be greater than or equal to 1"),
    ("user_sequence", {"extra": "time_gap"}, "extra: Input should be a valid list"),
    ("mlp", {"hidden": "abc"}, "hidden: Input should be a valid integer"),
    ("mlp", {"hidden": [16, -1]}, "hidden.1: Input should be greater than 0"),
    ("mlp", {"threads": "many"}, "threads:"),
    ("mlp", {"layer_weights": 3}, "layer_weights:"),
    ("mlp", {"columns": "eGeMAPS"}, "columns: Input should be a valid list"),
    ("tensor_fusion", {"fusion_dim": 0}, "fusion_dim: Input should be greater than or equal to 1"),
    ("cross_attention", {"heads": 1.5}, "heads:"),
    ("user_level_kernel", {"within": {"valence": {"gamma": "big"}}}, "within.valence.gamma: Input should be a valid number"),
    ("user_level_kernel", {"tfidf": {"min_df": "two"}}, "tfidf.min_df:"),
    ("user_level_kernel", {"calibrate": "perhaps"}, "calibrate: Input should be a valid boolean"),
    ("ridge_embedding", {"alphas": [1, "x"]}, "alphas.1:"),
    ("ridge_embedding", {"alphas": []}, "alphas: List should have at least 1 item"),
    ("ridge_tfidf", {"word": "bigrams"}, "word:"),
    ("ridge_group_offset", {"folds": 1}, "folds: Input should be greater than or equal to 2"),
    ("global_mean", {"alpha": 1}, "unknown parameter(s) alpha (known: none)"),
    ("ridge_text", {"alphas": "many"}, "alphas: Input should be a valid list"),
    ("logistic_text", {"Cs": [0]}, "Cs.0: Input should be greater than 0"),
    ("svm_text", {"gamma": "auto"}, "gamma:"),
])
def test_bad_values_are_one_line(name, params, message):
    targets = (TargetSpec("emotion", kind="category", classes=("a", "b")),) if name.startswith(("svm", "logistic")) else TARGETS
    with pytest.raises(AffectlabError) as err:
        MODELS.get(name)(targets, **params)
    text = str(err.value)
    assert text.startswith(f"model {name}: ") and message in text and "\n" not in text, text


def test_checked_values_are_what_the_model_uses():
    est = MODELS.get("user_sequence")(TARGETS, hidden="32", dropout="0.1", bidirectional="false")
    assert (est.params.hidden, est.params.dropout, est.params.bidirectional) == (32, 0.1, False)
    assert est.params.cell == "lstm"  # the default lives in the schema
    assert est.config_params() == {"hidden": 32, "dropout": 0.1, "bidirectional": False}  # only what was set


def test_an_external_model_keeps_its_parameters():
    cls = MODELS.get("sklearn.linear_model:Ridge")
    assert cls.validate_params(cls.class_path, {"alpha": 3.0, "anything": "goes"}) == {"alpha": 3.0, "anything": "goes"}
    est = cls(TARGETS, alpha=3.0)
    assert est.config_params() == {"alpha": 3.0} and est.kwargs == {"alpha": 3.0} and est.params.per_target is True
    assert estimator_spec("sklearn.linear_model:Ridge", {"alpha": 3.0}).config_params() == {"alpha": 3.0}


# --------------------------------------------------------------------------- EstimatorSpec

def test_estimator_spec_checks_once_and_builds_with_the_same_params():
    spec = estimator_spec("ridge_group_offset", {"shrink": "2", "alphas": [1, 10]})
    assert isinstance(spec, EstimatorSpec) and spec.name == "ridge_group_offset"
    assert spec.params.shrink == 2.0 and spec.params.folds == 5  # coerced; default from the schema
    assert spec.config_params() == {"shrink": 2.0, "alphas": [1.0, 10.0]}  # what config.yaml and checkpoints keep
    a, b = spec.build(TARGETS), spec.build(TARGETS)
    assert a is not b and a.params is spec.params is b.params and a.targets == TARGETS
    assert spec.cls is type(a) and a.shrink == 2.0
    with pytest.raises(ValidationError, match="frozen"):
        spec.params.shrink = 3.0  # frozen: what you pass is what it keeps


@pytest.mark.parametrize("name, raw, message", [
    ("ridge_group_offset", {"shrnk": 1}, "model ridge_group_offset: unknown parameter(s) shrnk (known: alphas, folds, shrink)"),
    ("ridge_group_offset", {"shrink": "lots"}, "model ridge_group_offset: shrink: Input should be a valid number"),
    ("ridge_group_offset", {"folds": 1}, "model ridge_group_offset: folds: Input should be greater than or equal to 2"),
    ("late_fusion", {"heads": "two"}, "model late_fusion: heads: Input should be a valid integer"),
    ("nonexistent_model", {}, "unknown model 'nonexistent_model'; choose from:"),
])
def test_estimator_spec_refuses_in_one_line(name, raw, message):
    with pytest.raises(AffectlabError) as err:
        estimator_spec(name, raw)
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


def test_estimator_spec_build_checks_target_kinds():
    emotion = (TargetSpec("emotion", kind="category", classes=("a", "b")),)
    with pytest.raises(AffectlabError, match="model ridge_audio cannot predict category target 'emotion'"):
        estimator_spec("ridge_audio", {}).build(emotion)
    assert estimator_spec("svm_audio", {"C": 1}).build(emotion).params.C == 1.0


def test_constructor_takes_a_params_instance_or_keywords_not_another_schema():
    from affectlab.models.baselines import RidgeParams

    cls = MODELS.get("ridge_group_offset")
    p = cls.Params(shrink=1.0)
    assert cls(TARGETS, p).params is p
    assert cls(TARGETS, shrink=1.0).params == p
    with pytest.raises(AffectlabError, match="model ridge_group_offset: expected RidgeGroupOffsetParams parameters, got RidgeParams"):
        cls(TARGETS, RidgeParams())


def test_a_network_spec_is_checked_without_importing_lightning():
    import subprocess
    import sys

    code = ("import sys\nfrom affectlab.models import estimator_spec\nfrom affectlab.core.errors import AffectlabError\n"
            "s = estimator_spec('cross_attention', {'heads': '2', 'modalities': ['text']})\n"
            "print(s.params.heads, s.config_params())\n"
            "try:\n    estimator_spec('mlp', {'dropout': 1.5})\n"
            "except AffectlabError as e:\n    print(e)\n"
            "print(any(m.split('.')[0] in ('lightning', 'pytorch_lightning') for m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["2 {'modalities': ['text'], 'heads': 2}", "model mlp: dropout: Input should be less than 1 (got 1.5)",
                   "False"]


def test_lazy_registry_entries_carry_their_schema():
    from affectlab.models.params import FUSION_MODELS, FusionParams, MLPParams

    assert MODELS.params_of("mlp") is MLPParams and MODELS.get("mlp").Params is MLPParams
    for name in FUSION_MODELS:
        assert MODELS.params_of(name) is FusionParams is MODELS.get(name).Params and name in MODELS.names()
    assert MODELS.params_of("user_sequence") is MODELS.get("user_sequence").Params


def test_prepare_accepts_the_shipped_configs():
    """Every config others run as named passes the early checks (the schemas keep today's accepted values)."""
    from affectlab.experiment import load_config
    from affectlab.corpus import get_reader
    from affectlab.experiment import check_losses_and_monitor, declared_targets
    from affectlab.tasks import get_task

    for path in sorted(CONFIGS.rglob("*.yaml")):
        if "extract" in path.parts or "sweep" in path.name or "space" in path.name:
            continue
        try:
            cfg = load_config(path)
        except AffectlabError:
            continue  # not a train config (e.g. a transfer config with its own schema)
        if ":" not in cfg.model.name and cfg.model.name != "adapted":
            estimator_spec(cfg.model.name, cfg.model.params())
        get_reader(cfg.data.format).check_options(cfg.data.options, str(path))
        targets = declared_targets(cfg)
        if targets:
            check_losses_and_monitor(cfg.training, get_task(cfg.task), targets)


def test_monitor_accepts_per_target_and_seen_keys():
    from affectlab.experiment import check_losses_and_monitor, declared_targets
    from affectlab.tasks import get_task

    for monitor in ("score", "ccc", "r_composite_valence", "mae_arousal", "seen/score", "unseen/r_within"):
        cfg = RunConfig.model_validate({"model": {"name": "global_mean"}, "training": {"monitor": monitor}})
        check_losses_and_monitor(cfg.training, get_task("semeval"), declared_targets(cfg))
    cfg = RunConfig.model_validate({"task": "mosi", "data": {"format": "mmsa"}, "model": {"name": "late_fusion"},
                                    "training": {"monitor": "seen/mae"}})
    with pytest.raises(AffectlabError, match="training.monitor: 'seen/mae'"):
        check_losses_and_monitor(cfg.training, get_task("mosi"), declared_targets(cfg))


def test_network_parameters_are_checked_without_importing_lightning():
    import subprocess
    import sys

    code = ("import sys\nfrom affectlab.config import ModelConfig\nfrom affectlab.experiment import checked_model_params\nfrom affectlab.core.errors import AffectlabError\n"
            "try:\n    checked_model_params(ModelConfig(name='user_sequence', cell='transformer'))\n"
            "except AffectlabError as e:\n    print(e)\n"
            "print(any(m.split('.')[0] in ('lightning', 'pytorch_lightning') for m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["model user_sequence: cell must be one of lstm, gru, not 'transformer'", "False"]


def test_a_refused_config_imports_no_heavy_library(tmp_path):
    """``affectlab train BAD.yaml`` refuses from the CLI without importing torch, Lightning, the encoders,
    scikit-learn, matplotlib or MLflow (they cost seconds; issue 20 item 9)."""
    import subprocess
    import sys

    (tmp_path / "bad.yaml").write_text("modle: {name: mlp}\n")
    heavy = ("torch", "lightning", "pytorch_lightning", "sentence_transformers", "transformers", "sklearn",
             "matplotlib", "mlflow")
    code = ("import sys\nfrom affectlab.cli import main\n"
            "try:\n    main(['train', sys.argv[1], '--data', 'x.csv', '--out', sys.argv[2]])\n"
            "except SystemExit as e:\n    print(e.code)\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "bad.yaml"), str(tmp_path / "out")],
                          capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["2", "[]"]
    assert "did you mean `model`?" in done.stderr and not (tmp_path / "out").exists()


def test_adapted_keeps_its_informative_keys_and_checks_threads():
    raw = {"source_model": "late_fusion", "source_run": "/runs/src", "transfer": {"k": 8}}
    assert estimator_spec("adapted", raw).config_params() == raw  # what transfer's config.yaml records, as written
    with pytest.raises(AffectlabError, match="^model adapted: threads: Input should be a valid integer"):
        estimator_spec("adapted", {"threads": "many"})
