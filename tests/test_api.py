"""The Python API (affectlab.train/load/evaluate, Run, Evaluation), a user's own model by
module:Class, and the examples of docs/python-api.md."""

from __future__ import annotations

import doctest
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import affectlab
from affectlab.core.errors import AffectlabError
from affectlab.models import MODELS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": [f"r{i:03d}" for i in range(n)], "who": [f"u{i % 6}" for i in range(n)],
                          "f_a": rng.normal(size=n), "f_b": rng.normal(size=n)})
    frame["v"] = (frame.f_a - 0.5 * frame.f_b + rng.normal(scale=0.2, size=n)).clip(-4, 4)
    frame["level"] = np.where(frame.f_a > 0, "high", "low")
    return frame


def config(model: dict, **extra) -> dict:
    return {"task": "regression", "features": {"text": {"kind": "none"}}, "split": {"kind": "group"},
            "data": {"format": "table", "columns": {"id": "id", "group": "who"},
                     "targets": [{"name": "v", "low": -4, "high": 4}], "options": {"features": ["f_*"]}},
            "model": model, **extra}


def test_docs_examples_run():
    result = doctest.testfile(str(DOCS), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 20 and result.failed == 0


def test_train_predict_load_on_a_dataframe(tmp_path):
    frame = table()
    run = affectlab.train(config({"name": "ridge_all", "modalities": ["tabular"]}), frame, tmp_path / "run")
    assert isinstance(run, affectlab.Run) and run.path == tmp_path / "run"
    assert run.summary.data.path is None  # an in-memory table has no file
    assert set(run.metrics) == {"train", "val"} and run.metrics["val"]["ccc"] > 0.8
    pred = run.predict(frame.drop(columns=["v", "level"]))
    assert pred.columns.tolist() == ["who", "id", "pred_v"] and len(pred) == len(frame)
    again = affectlab.load(tmp_path / "run")
    np.testing.assert_allclose(again.predict(frame)["pred_v"], pred["pred_v"])
    assert set(again.predictions()["split"]) == {"train", "val"}
    assert again.config.model.name == "ridge_all" and again.history() is not None
    # the same frame written as a CSV gives the same model
    frame.to_csv(tmp_path / "t.csv", index=False)
    from_file = affectlab.train(config({"name": "ridge_all", "modalities": ["tabular"]}), tmp_path / "t.csv")
    assert from_file.metrics["val"]["ccc"] == pytest.approx(run.metrics["val"]["ccc"])
    assert from_file.summary.data.path == str((tmp_path / "t.csv").resolve())


def test_train_overwrite_and_refusal(tmp_path):
    frame = table()
    cfg = config({"name": "global_mean"})
    first = affectlab.train(cfg, frame, tmp_path / "run")
    before = (first.path / "summary.json").read_text()
    with pytest.raises(AffectlabError, match="exists and is not empty; pass --overwrite"):
        affectlab.train(cfg, frame, tmp_path / "run")
    assert (first.path / "summary.json").read_text() == before
    (first.path / "report.html").write_text("stale")
    second = affectlab.train(cfg, frame, tmp_path / "run", overwrite=True, seed=5)
    assert second.config.seed == 5 and not (second.path / "report.html").exists()


def test_config_forms_and_overrides(tmp_path):
    import yaml

    cfg = config({"name": "global_mean"})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    from affectlab.api import make_config

    a = make_config(path, ["training.patience=2"], seed=9)
    b = make_config(cfg, {"training.patience": 2}, seed=9)
    c = make_config(a)
    assert a == b == c and a.seed == 9
    with pytest.raises(AffectlabError, match="config must be"):
        make_config(42)
    with pytest.raises(AffectlabError, match="data must be"):
        affectlab.train(cfg, [1, 2, 3])
    with pytest.raises(AffectlabError, match="training.patience"):
        make_config(cfg, {"training.patience": -1})


def test_non_numeric_target_in_a_dataframe_is_one_line(tmp_path):
    frame = table().astype({"v": object})
    frame.loc[4, "v"] = "n/a?"
    with pytest.raises(AffectlabError) as err:
        affectlab.train(config({"name": "global_mean"}), frame, tmp_path / "run")
    # a frame's row is named by its index label (here the default one: position - 1)
    assert str(err.value).startswith("DataFrame: v value 'n/a?' in the row with index 4 (row 5 of the frame) is not a number")
    assert not (tmp_path / "run" / "summary.json").exists()


def test_evaluate_files_and_frames(tmp_path):
    rng = np.random.default_rng(1)
    gold = pd.DataFrame({"id": [str(i) for i in range(200)], "speaker": [f"s{i % 20}" for i in range(200)],
                         "v": rng.normal(size=200)})
    pred = pd.DataFrame({"id": gold.id, "pred_v": gold.v + rng.normal(scale=0.5, size=200)})
    ev = affectlab.evaluate(pred, gold, n_resamples=200)
    assert isinstance(ev, affectlab.Evaluation) and ev.result.n_groups == 20  # speakers resampled
    frame = ev.to_frame()
    assert frame.columns.tolist() == ["metric", "value", "ci_low", "ci_high"]
    row = frame.set_index("metric").loc["ccc"]
    assert row.ci_low <= row.value <= row.ci_high and row.value == ev.metrics["ccc"].value
    pred.to_csv(tmp_path / "p.csv", index=False)
    gold.to_csv(tmp_path / "g.csv", index=False)
    from_files = affectlab.evaluate(tmp_path / "p.csv", str(tmp_path / "g.csv"), n_resamples=200)
    assert from_files.metrics["ccc"].value == pytest.approx(ev.metrics["ccc"].value)
    assert from_files.to_dict()["n"] == 200 and "score=" in repr(ev)
    # a frame's errors name it as the user knows it, not by a temporary path
    with pytest.raises(AffectlabError) as err:
        affectlab.evaluate(pred.rename(columns={"id": "key"}), gold)
    assert "affectlab-eval-" not in str(err.value) and "predictions.csv" in str(err.value)


# --------------------------------------------------------------------------- module:Class

@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's package on sys.path: an Estimator subclass, a scikit-learn-style class, and a broken module."""
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent('''
        import numpy as np
        from affectlab.models.base import Estimator, FitResult

        class FirstFeatureLine(Estimator):
            """An affectlab estimator: predicts a * (first feature) + b (least squares)."""
            needs_features = ("tabular",)

            def fit(self, train, val, ctx):
                x = train.features["tabular"][:, 0]
                self.coef = np.polyfit(x, train.target_matrix()[:, 0], 1)
                return FitResult(n_params=2)

            def predict(self, corpus):
                return np.polyval(self.coef, corpus.features["tabular"][:, 0])[:, None]

            def state(self):
                return {"coef": [float(c) for c in self.coef]}

            def load_state(self, state):
                self.coef = np.array(state["coef"])

        class Shrunk:
            """scikit-learn style, not a subclass of anything: least squares shrunk by `factor`."""
            def __init__(self, factor=1.0):
                self.factor = factor

            def get_params(self, deep=True):
                return {"factor": self.factor}

            def fit(self, X, y):
                A = np.c_[X, np.ones(len(X))]
                sol = np.linalg.lstsq(A, y, rcond=None)[0]
                self.coef_, self.intercept_ = sol[:-1] * self.factor, sol[-1]
                return self

            def predict(self, X):
                return X @ self.coef_ + self.intercept_

        class NotAModel:
            pass
    '''))
    (pkg / "broken.py").write_text("import nothing_by_this_name\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "userpkg"
    for name in [m for m in sys.modules if m.startswith("userpkg")]:
        del sys.modules[name]


def test_user_estimator_subclass_trains_and_predicts(user_module, tmp_path):
    frame = table()
    run = affectlab.train(config({"name": "userpkg.models:FirstFeatureLine"}), frame, tmp_path / "run")
    assert MODELS.get("userpkg.models:FirstFeatureLine").__name__ == "FirstFeatureLine"
    assert run.metrics["val"]["pearson"] > 0.3
    with pytest.raises(AffectlabError, match=r"names model userpkg.models:FirstFeatureLine, and predicting imports "
                                             r"module 'userpkg.models'.*pass trust_code=True"):
        affectlab.load(run.path).predict(frame)  # a run directory from elsewhere: its code is not run unasked
    assert len(affectlab.load(run.path).predict(frame, trust_code=True)) == len(frame)
    assert len(affectlab.load(run.path, trust_code=True).predict(frame)) == len(frame)


def test_sklearn_style_class_state_is_plain_data(user_module, tmp_path):
    frame = table()
    run = affectlab.train(config({"name": "userpkg.models:Shrunk", "factor": 0.5}), frame, tmp_path / "run")
    ckpt = torch.load(run.path / "checkpoint.ckpt", weights_only=True)
    assert ckpt["model"] == "userpkg.models:Shrunk" and ckpt["params"] == {"factor": 0.5}
    assert ckpt["state"]["mode"] == "attributes"
    pred = run.predict(frame)["pred_v"].to_numpy()
    X = frame[["f_a", "f_b"]].to_numpy()
    train_rows = run.predictions().query("split == 'train'")
    assert np.corrcoef(pred, X @ np.array([1.0, -0.5]))[0, 1] > 0.95
    assert len(train_rows) > 0


def test_sklearn_tree_loads_from_skops_and_classifier_predicts_classes(tmp_path):
    pytest.importorskip("sklearn")
    frame = table()
    tree = affectlab.train(config({"name": "sklearn.tree:DecisionTreeRegressor", "max_depth": 3}), frame, tmp_path / "t")
    ckpt = torch.load(tree.path / "checkpoint.ckpt", weights_only=True)
    assert ckpt["state"]["mode"] == "skops" and ckpt["params"] == {"max_depth": 3}
    first = tree.predict(frame)["pred_v"].to_numpy()
    np.testing.assert_array_equal(affectlab.load(tree.path, trust_code=True).predict(frame)["pred_v"].to_numpy(), first)
    cls_cfg = config({"name": "sklearn.linear_model:LogisticRegression", "max_iter": 500}, task="classification", baselines=[])
    cls_cfg["data"]["targets"] = [{"name": "level", "kind": "category", "classes": ["high", "low"]}]
    clf = affectlab.train(cls_cfg, frame, tmp_path / "c")
    assert torch.load(clf.path / "checkpoint.ckpt", weights_only=True)["state"]["mode"] == "attributes"
    pred = clf.predict(frame)
    assert set(pred["pred_level"]) <= {"high", "low"} and (pred["pred_level"] == frame["level"]).mean() > 0.8


@pytest.mark.parametrize("name,message", [
    ("userpkg.broken:Model", "module 'userpkg.broken' does not import (No module named 'nothing_by_this_name')"),
    ("userpkg.models:Missing", "module 'userpkg.models' has no class 'Missing'"),
    ("userpkg.models:NotAModel", "class 'NotAModel' has no fit and predict methods"),
])
def test_module_class_failures_are_one_line(user_module, tmp_path, name, message):
    with pytest.raises(AffectlabError) as err:
        MODELS.get(name)
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(AffectlabError, match="model " + name.replace(".", r"\.")):
        affectlab.train(config({"name": name}), table(), tmp_path / "run")
    assert not (tmp_path / "run" / "summary.json").exists()


def test_unknown_constructor_parameter_is_one_line(tmp_path):
    with pytest.raises(AffectlabError, match="unexpected keyword argument 'alpah'"):
        affectlab.train(config({"name": "sklearn.linear_model:Ridge", "alpah": 1}), table(), tmp_path / "run")


def test_overwrite_keeps_the_old_run_when_the_new_training_fails(tmp_path):
    frame = table()
    first = affectlab.train(config({"name": "global_mean"}), frame, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    with pytest.raises(AffectlabError, match="fit failed"):
        affectlab.train(config({"name": "sklearn.linear_model:Ridge", "alpha": -1.0}), frame, tmp_path / "run",
                        overwrite=True)
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
