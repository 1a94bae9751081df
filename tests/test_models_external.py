"""models/external.py: fitted scikit-learn estimators stored with skops (no pickle, no refit at
load), the trusted-types check, and old ``refit`` checkpoints that still load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from affectlab.core.errors import AffectlabError
from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.models.external import resolve

pytest.importorskip("skops")


def corpus(n: int = 80, seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "group": [f"g{i % 5}" for i in range(n)],
                          "order": np.arange(n, dtype=float), "v": X[:, 0] - X[:, 1] ** 2})
    return Corpus(frame=frame, targets=(TargetSpec("v"),), features={"tabular": X})


def fitted(name: str, **params):
    est = resolve(name)((TargetSpec("v"),), None, **params)
    est.fit(corpus(), None, None)
    return est


def saved(est) -> dict:
    """The state as a checkpoint holds it: written and read back with weights_only=True."""
    import io

    buf = io.BytesIO()
    torch.save({"state": est.state()}, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)["state"]


def test_forest_round_trips_to_identical_predictions_without_fit(monkeypatch):
    from sklearn.ensemble import RandomForestRegressor

    est = fitted("sklearn.ensemble:RandomForestRegressor", n_estimators=20)
    state = saved(est)
    assert state["mode"] == "skops" and state["estimators"][0].dtype == torch.uint8
    test = corpus(seed=1)
    expected = est.predict(test)

    def no_fit(*args, **kwargs):
        raise AssertionError("fit called on load")

    monkeypatch.setattr(RandomForestRegressor, "fit", no_fit)
    again = resolve("sklearn.ensemble:RandomForestRegressor")((TargetSpec("v"),), None, n_estimators=20)
    again.load_state(state)
    np.testing.assert_array_equal(again.predict(test), expected)
    assert type(again.models[0]) is RandomForestRegressor and len(again.models[0].estimators_) == 20
    np.testing.assert_array_equal(again.models[0].predict(test.features["tabular"]), expected[:, 0])


def test_untrusted_type_in_the_skops_bytes_is_refused_in_one_line():
    import skops.io as sio
    from sklearn.gaussian_process import GaussianProcessRegressor

    est = fitted("sklearn.ensemble:RandomForestRegressor", n_estimators=3)
    state = saved(est)
    X = corpus().features["tabular"]
    # a tampered checkpoint: a type skops does not trust, other than the run's own class
    gp = GaussianProcessRegressor(optimizer=None).fit(X[:10], X[:10, 0])
    state["estimators"] = [torch.frombuffer(bytearray(sio.dumps(gp)), dtype=torch.uint8)]
    again = resolve("sklearn.ensemble:RandomForestRegressor")((TargetSpec("v"),), None)
    with pytest.raises(AffectlabError) as err:
        again.load_state(state)
    msg = str(err.value)
    assert "\n" not in msg and "holds types skops does not trust" in msg
    assert "sklearn.gaussian_process.kernels.RBF" in msg and msg.endswith("refusing to load it")


def test_a_model_skops_cannot_trust_is_stored_as_refit_and_an_old_refit_checkpoint_still_loads():
    est = fitted("sklearn.gaussian_process:GaussianProcessRegressor", optimizer=None)
    state = saved(est)
    assert state["mode"] == "refit"  # kernels are outside the trusted types: the data is stored instead
    tree = fitted("sklearn.tree:DecisionTreeRegressor", max_depth=3, random_state=0)
    X, y = tree._train
    old = {"class_path": "sklearn.tree:DecisionTreeRegressor", "inputs": ["tabular"], "per_target": True, "dims": 4,
           "fill": torch.as_tensor(tree.fill), "mode": "refit", "X": torch.as_tensor(X), "y": torch.as_tensor(y),
           "seed": None}  # a run directory written before skops
    again = resolve("sklearn.tree:DecisionTreeRegressor")((TargetSpec("v"),), None, max_depth=3, random_state=0)
    again.load_state(old)
    test = corpus(seed=2)
    np.testing.assert_array_equal(again.predict(test), tree.predict(test))


def test_skops_bytes_depend_on_the_model_only():
    """skops names files and shared objects by id() and dates the zip: two equal fits store equal bytes."""
    first = saved(fitted("sklearn.ensemble:RandomForestRegressor", n_estimators=4, random_state=0))["estimators"][0]
    second = saved(fitted("sklearn.ensemble:RandomForestRegressor", n_estimators=4, random_state=0))["estimators"][0]
    assert torch.equal(first, second)
    other = saved(fitted("sklearn.ensemble:RandomForestRegressor", n_estimators=4, random_state=1))["estimators"][0]
    assert not (first.shape == other.shape and torch.equal(first, other))
