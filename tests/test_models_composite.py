"""``user_level_kernel`` against an independent dense reference (explicit centring matrix,
scikit-learn ``KernelRidge`` with a precomputed kernel, ``GroupKFold``), plus its contracts:
state round trip, unseen users, per-user structure of the predictions, parameter checks."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import block_diag
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GroupKFold

from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.core.errors import AffectlabError
from affectlab.metrics.semeval import r_between, r_within
from affectlab.models import composite  # noqa: F401  (registers the model)
from affectlab.models.base import FitContext
from affectlab.models.registry import MODELS

TARGETS = (TargetSpec("valence", -2, 2), TargetSpec("arousal", 0, 2))
WORDS = ["happy", "sad", "tired", "calm", "angry", "excited", "bored", "fine", "great", "awful"]
PARAMS = {
    "within": {"valence": {"gamma": 2, "alpha": 1.5, "tfidf_weight": 0},
               "arousal": {"gamma": 3, "alpha": 0.7, "tfidf_weight": 0.4}},
    "level": {"valence": {"gamma": 1, "alpha": 2, "tfidf_weight": 0.3, "shrink": 4},
              "arousal": {"gamma": 3, "alpha": 0.5, "tfidf_weight": 0, "shrink": 10}},
    "tfidf": {"word": [1, 2], "min_df": 1},
}


def corpus(n_users: int = 10, per_user: int = 8, dim: int = 8, seed: int = 0, prefix: str = "u",
           user_sd: float = 0.8) -> Corpus:
    """Embeddings carry each text's deviation; users differ in level (seen users' offsets matter)."""
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(99).normal(size=(dim, 2))
    rows, feats = [], []
    for u in range(n_users):
        level = rng.normal(0, user_sd, size=2)
        for k in range(per_user):
            x = rng.normal(size=dim)
            y = level + 0.6 * np.tanh(x @ w) + rng.normal(0, 0.2, size=2)
            rows.append({"id": f"{prefix}{u}-{k}", "group": f"{prefix}{u}", "order": k,
                         "text": " ".join(rng.choice(WORDS, size=4)),
                         "valence": float(np.clip(y[0], -2, 2)), "arousal": float(np.clip(1 + y[1] / 2, 0, 2))})
            feats.append(x)
    return Corpus(pd.DataFrame(rows), targets=TARGETS, features={"text": np.array(feats)})


def stack(*parts: Corpus) -> Corpus:
    return Corpus(pd.concat([p.frame for p in parts]), targets=TARGETS,
                  features={"text": np.concatenate([p.features["text"] for p in parts])})


def fitted(train: Corpus, **params):
    model = MODELS.get("user_level_kernel")(TARGETS, **params)
    model.fit(train, None, FitContext(training=None))
    return model


def reference(train: Corpus, test: Corpus, params: dict, folds: int = 3, fold_mean: bool = True,
              landmarks: np.ndarray | None = None) -> np.ndarray:
    """Dense, literal implementation of the documented model (``fold_mean=False``: the
    leave-one-user-out variant, which centres every refit on the overall training mean). With
    ``landmarks`` (training row indices) every kernel is replaced by its Nyström approximation
    ``K(a, Z) (K(Z, Z) + eps I)^-1 K(Z, b)`` (eps: the model's relative jitter)."""
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    xtr, xte = unit(train.features["text"]), unit(test.features["text"])
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True).fit(train.frame["text"])
    ttr, tte = vec.transform(train.frame["text"]), vec.transform(test.frame["text"])
    gtr, gte = train.frame["group"].to_numpy(), test.frame["group"].to_numpy()

    def exact(a, b, ta, tb, spec):
        return np.exp(spec["gamma"] * (a @ b.T - 1)) + spec["tfidf_weight"] * (ta @ tb.T).toarray()

    def kernel(a, b, ta, tb, spec):
        if landmarks is None:
            return exact(a, b, ta, tb, spec)
        z, tz = xtr[landmarks], ttr[landmarks]
        W = exact(z, z, tz, tz, spec)
        W = W + 1e-7 * np.diag(W).mean() * np.eye(len(W))
        return exact(a, z, ta, tz, spec) @ np.linalg.solve(W, exact(z, b, tz, tb, spec))

    def centring(groups):  # block-diagonal I - 1/n_g: subtracts each group's mean
        order = pd.unique(groups)
        perm = np.concatenate([np.flatnonzero(groups == g) for g in order])
        P = block_diag(*[np.eye((groups == g).sum()) - 1.0 / (groups == g).sum() for g in order])
        inv = np.empty_like(perm)
        inv[perm] = np.arange(len(perm))
        return P[np.ix_(inv, inv)]

    Ptr, Pte = centring(gtr), centring(gte)
    out = np.zeros((len(test), 2))
    for j, t in enumerate(["valence", "arousal"]):
        y = train.frame[t].to_numpy()
        w, lv = params["within"][t], params["level"][t]
        K = kernel(xtr, xtr, ttr, ttr, w)
        a = Ptr @ np.linalg.solve(Ptr @ K @ Ptr + w["alpha"] * np.eye(len(y)), Ptr @ y)
        dev = Pte @ (kernel(xte, xtr, tte, ttr, w) @ a)
        K = kernel(xtr, xtr, ttr, ttr, lv)
        raw = KernelRidge(alpha=lv["alpha"], kernel="precomputed").fit(K, y - y.mean()).predict(
            kernel(xte, xtr, tte, ttr, lv)) + y.mean()
        oof = np.zeros(len(y))
        for fit_rows, held in GroupKFold(folds).split(K, groups=gtr):
            mu = y[fit_rows].mean() if fold_mean else y.mean()
            kr = KernelRidge(alpha=lv["alpha"], kernel="precomputed").fit(K[np.ix_(fit_rows, fit_rows)], y[fit_rows] - mu)
            oof[held] = kr.predict(K[np.ix_(held, fit_rows)]) + mu
        res = pd.Series(y - oof).groupby(gtr)
        offset = (res.sum() / (res.count() + lv["shrink"])).to_dict()
        level = pd.Series(raw).groupby(gte).transform("mean").to_numpy() + np.array([offset.get(g, 0.0) for g in gte])
        out[:, j] = np.clip(level + dev, TARGETS[j].low, TARGETS[j].high)
    return out


def test_matches_dense_reference_for_seen_and_unseen_users():
    train = corpus()
    later = corpus(seed=1)  # the same users' later texts
    unseen = corpus(n_users=3, seed=2, prefix="new")
    test = stack(later, unseen)
    model = fitted(train, **PARAMS, calibrate=False)
    assert np.allclose(model.predict(test), reference(train, test, PARAMS), atol=1e-7)


def test_calibration_keeps_the_task_correlations_and_restores_spread():
    whole = corpus(n_users=16, per_user=14, seed=11)
    late = (whole.frame["order"] >= 10).to_numpy()
    train, test = whole.subset(~late), stack(whole.subset(late), corpus(n_users=4, per_user=14, seed=12, prefix="new"))
    raw, cal = fitted(train, **PARAMS), fitted(train, **PARAMS, calibrate=True)
    p_raw, p_cal = raw.predict(test), cal.predict(test)
    y, g = test.target_matrix(), test.frame["group"].to_numpy()
    assert (cal.scale_within > 1).all()  # kernel ridge shrinks: calibration widens
    # positive rescaling leaves both correlations unchanged where nothing is clipped at the range ends
    for j in range(2):
        free = pd.Series((p_cal[:, j] > TARGETS[j].low) & (p_cal[:, j] < TARGETS[j].high)).groupby(g).transform("all").to_numpy()
        assert r_within(y[free, j], p_cal[free, j], g[free]) == pytest.approx(r_within(y[free, j], p_raw[free, j], g[free]))
        assert abs(np.log(p_cal[:, j].std() / y[:, j].std())) < abs(np.log(p_raw[:, j].std() / y[:, j].std()))


def test_leave_one_user_out_residuals_match_refits():
    train, test = corpus(n_users=6), corpus(n_users=6, seed=3)
    model = fitted(train, **PARAMS, folds=0, calibrate=False)
    n_users = train.frame["group"].nunique()
    assert np.allclose(model.predict(test), reference(train, test, PARAMS, folds=n_users, fold_mean=False),
                       atol=1e-7)


def test_state_round_trip_through_torch_weights_only():
    train, test = corpus(), stack(corpus(seed=4), corpus(n_users=2, seed=5, prefix="new"))
    model = fitted(train, **PARAMS)
    buf = io.BytesIO()
    torch.save(model.state(), buf)
    buf.seek(0)
    again = MODELS.get("user_level_kernel")(TARGETS, **PARAMS)
    again.load_state(torch.load(buf, weights_only=True))
    assert np.array_equal(model.predict(test), again.predict(test))


def test_prediction_structure_level_plus_centred_deviation():
    """Without clipping, a user's mean prediction is the level; deviations depend on text alone."""
    train = corpus(user_sd=0.1)
    test = stack(corpus(seed=6, user_sd=0.1), corpus(n_users=2, seed=7, prefix="new", user_sd=0.1))
    model = fitted(train, **PARAMS)
    pred = model.predict(test)
    # unseen users: level is the mean of the text-based predictions, no offset
    g = test.frame["group"].to_numpy()
    assert not np.isin(["new0", "new1"], model.users).any()
    # a user's single text: no deviation, and it is not refused
    one = Corpus(test.frame.iloc[[0]], targets=TARGETS, features={"text": test.features["text"][[0]]})
    single = model.predict(one)
    assert single.shape == (1, 2) and np.isfinite(single).all()
    # duplicating a user's texts leaves its predictions unchanged (only means over its own texts enter)
    doubled = stack(test, test)
    assert np.allclose(model.predict(doubled)[: len(test)], pred)
    # predictions of one user do not depend on the other users in the file
    only_u0 = test.subset(g == "u0")
    assert np.allclose(model.predict(only_u0), pred[g == "u0"])


def test_beats_plain_ridge_when_users_differ_in_level():
    from affectlab.models import baselines  # noqa: F401

    whole = corpus(n_users=20, per_user=16, seed=10)
    late = (whole.frame["order"] >= 12).to_numpy()  # each user's last 4 texts
    train, test = whole.subset(~late), whole.subset(late)
    ours = fitted(train).predict(test)
    ridge = MODELS.get("ridge_embedding")(TARGETS)
    ridge.fit(train, None, FitContext(training=None))
    base = ridge.predict(test)
    y, g = test.target_matrix(), test.frame["group"].to_numpy()
    for j in range(2):
        assert r_between(y[:, j], ours[:, j], g) > r_between(y[:, j], base[:, j], g)
        assert r_within(y[:, j], ours[:, j], g) > 0.3


def test_defaults_need_raw_text_and_other_targets_use_default_settings():
    model = MODELS.get("user_level_kernel")(TARGETS)
    assert model.needs_features == ("text",) and model.needs_raw_text
    no_tf = {"within": {"valence": {"tfidf_weight": 0}, "arousal": {"tfidf_weight": 0}},
             "level": {"valence": {"tfidf_weight": 0}, "arousal": {"tfidf_weight": 0}}}
    assert not MODELS.get("user_level_kernel")(TARGETS, **no_tf).needs_raw_text
    other = (TargetSpec("sentiment", -3, 3),)
    m = MODELS.get("user_level_kernel")(other, within={"default": {"alpha": 3}})
    assert m.within["sentiment"]["alpha"] == 3.0 and m.level["sentiment"]["gamma"] == 3.0
    c = corpus()
    c2 = Corpus(c.frame.rename(columns={"valence": "sentiment"}).drop(columns="arousal"), targets=other,
                features=c.features)
    m.fit(c2, None, FitContext(training=None))
    p = m.predict(c2)
    assert p.shape == (len(c2), 1) and np.isfinite(p).all()


@pytest.mark.parametrize("params, message", [
    ({"bogus": 1}, "unknown parameter"),
    ({"within": {"valence": {"beta": 1}}}, "unknown within setting"),
    ({"level": {"valence": {"alpha": 0}}}, "non-negative"),
    ({"within": {"valence": 2}}, "must map target names"),
    ({"tfidf": {"ngrams": 3}}, "unknown tfidf key"),
    ({"folds": 1}, "folds"),
])
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(AffectlabError, match=message):
        MODELS.get("user_level_kernel")(TARGETS, **params)


def test_missing_features_and_oversized_training_are_refused():
    c = corpus()
    bare = Corpus(c.frame, targets=TARGETS)
    with pytest.raises(AffectlabError, match="feature 'text'"):
        fitted(bare)
    with pytest.raises(AffectlabError, match="max_train"):
        fitted(c, variant="exact", max_train=10)


# --- variant nystroem ------------------------------------------------------------------------

def test_nystroem_with_every_text_a_landmark_is_the_exact_model():
    """The primal solver forced with m = n reproduces the exact (dual) model, calibration included."""
    train = corpus(n_users=9, per_user=7)
    test = stack(corpus(n_users=9, per_user=3, seed=8), corpus(n_users=2, seed=9, prefix="new"))
    for calibrate in (False, True):
        exact = fitted(train, **PARAMS, variant="exact", calibrate=calibrate)
        ny = MODELS.get("user_level_kernel")(TARGETS, **PARAMS, landmarks=len(train), calibrate=calibrate)
        ny._fit_nystroem(train, seed=0)  # the primal path, which fit() skips when n <= landmarks
        assert np.allclose(ny.predict(test), exact.predict(test), atol=1e-6)
        assert np.allclose(ny.scale_within, exact.scale_within, rtol=1e-6)
        assert np.allclose(ny.scale_level, exact.scale_level, rtol=1e-6)
    # and fit() itself with n <= landmarks is the exact model
    assert np.allclose(fitted(train, **PARAMS).predict(test), reference(train, test, PARAMS), atol=1e-7)


def test_nystroem_with_fewer_landmarks_matches_dense_reference_of_the_approximated_kernel():
    from affectlab.models.nystroem import select_landmarks

    train = corpus(n_users=10, per_user=8)
    test = stack(corpus(seed=1), corpus(n_users=3, seed=2, prefix="new"))
    model = MODELS.get("user_level_kernel")(TARGETS, **PARAMS, landmarks=25)
    model.fit(train, None, FitContext(training=None, seed=7))
    assert len(model.train_x) == 25  # state grows with m, not n
    idx = select_landmarks(len(train), 25, 7)
    assert np.allclose(model.predict(test), reference(train, test, PARAMS, landmarks=idx), atol=1e-6)


def test_auto_landmarks_hold_the_cost_budget_between_their_bounds():
    from affectlab.models.composite import AUTO_BUDGET, auto_landmarks

    assert [auto_landmarks(n) for n in (1, 2764, 20_000)] == [3000, 3000, 3000]
    assert auto_landmarks(100_000) == 1341  # floor(sqrt(20,000 * 3,000^2 / 100,000)) = floor(1341.64)
    assert [auto_landmarks(n) for n in (180_000, 1_000_000, 10**9)] == [1000, 1000, 1000]
    for n in (25_000, 50_000, 150_000):  # in between: the largest m with n * m^2 within the budget
        m = auto_landmarks(n)
        assert n * m**2 <= AUTO_BUDGET < n * (m + 1) ** 2


def test_auto_landmarks_is_the_default_and_fits_as_the_number_it_chooses(monkeypatch):
    train = corpus(n_users=10, per_user=12)
    test = stack(corpus(seed=1), corpus(n_users=3, seed=2, prefix="new"))
    # shrink the rule's bounds so that this small corpus lies in its middle: m = isqrt(60 * 40^2 / 120) = 28
    monkeypatch.setattr(composite, "AUTO_LANDMARKS_MAX", 40)
    monkeypatch.setattr(composite, "AUTO_LANDMARKS_MIN", 10)
    monkeypatch.setattr(composite, "AUTO_BUDGET", 60 * 40**2)
    auto = MODELS.get("user_level_kernel")(TARGETS, **PARAMS)
    result = auto.fit(train, None, FitContext(training=None, seed=7))
    assert result.extra["landmarks"] == 28 and len(auto.train_x) == 28
    given = MODELS.get("user_level_kernel")(TARGETS, **PARAMS, landmarks=28)
    given.fit(train, None, FitContext(training=None, seed=7))
    assert np.array_equal(auto.predict(test), given.predict(test))
    with pytest.raises(AffectlabError, match="landmarks: Input should be 'auto' or greater than or equal to 1"):
        MODELS.get("user_level_kernel")(TARGETS, landmarks=0)


def test_landmark_ridge_matches_sklearn_on_explicit_features():
    """LandmarkStats.ridge: the whitened primal solve equals scikit-learn Ridge on Phi = K L^-T."""
    from sklearn.linear_model import Ridge

    from affectlab.models.nystroem import KernelSpec, accumulate, unit_rows

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 5))
    y = rng.normal(size=(60, 1))
    codes = np.repeat(np.arange(12), 5)
    z = unit_rows(x[:15])
    st = accumulate(x, None, np.arange(60), y, codes, 12, np.zeros(60, dtype=int), 1, z, None, KernelSpec(2.0, 0.0),
                    centred=True, plain=True, per_fold_centred=False, chunk=7)
    K = np.exp(2.0 * (unit_rows(x).numpy() @ z.numpy().T - 1))
    Phi = K @ np.linalg.inv(st.L.numpy()).T
    beta = st.ridge(st.B[0], st.cy[0][:, 0], 0.5).numpy()
    ref = Ridge(alpha=0.5, fit_intercept=False).fit(Phi, y[:, 0])
    assert np.allclose(K @ beta, Phi @ ref.coef_, atol=1e-8)
    # the user-centred sums equal those of explicitly centred rows
    Kc = K - pd.DataFrame(K).groupby(codes).transform("mean").to_numpy()
    assert np.allclose(st.Bc[0].numpy(), Kc.T @ Kc, atol=1e-9)
    assert np.allclose(st.ccy[0][:, 0].numpy(), Kc.T @ y[:, 0], atol=1e-9)
    assert np.allclose(st.S.numpy(), pd.DataFrame(K).groupby(codes).sum().to_numpy(), atol=1e-5)


def test_nystroem_state_round_trip():
    train, test = corpus(n_users=10, per_user=8), stack(corpus(seed=4), corpus(n_users=2, seed=5, prefix="new"))
    model = fitted(train, **PARAMS, landmarks=30)
    buf = io.BytesIO()
    torch.save(model.state(), buf)
    buf.seek(0)
    again = MODELS.get("user_level_kernel")(TARGETS, **PARAMS, landmarks=30)
    again.load_state(torch.load(buf, weights_only=True))
    assert np.array_equal(model.predict(test), again.predict(test))


def test_size_check_names_the_variant_that_fits():
    exact = MODELS.get("user_level_kernel")(TARGETS, variant="exact", max_train=100)
    exact.check_size(100)
    with pytest.raises(AffectlabError, match="exceed max_train=100 of variant exact.*use variant: nystroem"):
        exact.check_size(101)
    MODELS.get("user_level_kernel")(TARGETS).check_size(10 ** 7)  # nystroem: no size limit
    loo = MODELS.get("user_level_kernel")(TARGETS, folds=0, landmarks=50)
    loo.check_size(50)
    with pytest.raises(AffectlabError, match="folds: 0"):
        loo.check_size(51)


def test_the_run_summary_says_how_many_landmarks_auto_chose(tmp_path, monkeypatch):
    """summary.json 'fit' holds what the dev fit and the refit report: n_train, landmarks (auto's m)."""
    import json

    from affectlab.experiment import validate_config
    from affectlab.pipeline import train_run

    from conftest import semeval_frame

    monkeypatch.setattr(composite, "AUTO_LANDMARKS_MAX", 40)
    monkeypatch.setattr(composite, "AUTO_LANDMARKS_MIN", 10)
    monkeypatch.setattr(composite, "AUTO_BUDGET", 60 * 40**2)
    data = tmp_path / "train.csv"
    semeval_frame().to_csv(data, index=False)
    cfg = validate_config({"model": {"name": "user_level_kernel"}, "baselines": []})
    summary = json.loads((train_run(cfg, data, tmp_path / "run") / "summary.json").read_text())
    for part in ("fit", "refit"):  # 108 texts in all: both fits lie beyond the shrunken rule's m
        n = summary["fit"][part]["n_train"]
        assert n > composite.auto_landmarks(n) and summary["fit"][part]["landmarks"] == composite.auto_landmarks(n)
    assert summary["fit"]["refit"]["n_train"] > summary["fit"]["fit"]["n_train"]
