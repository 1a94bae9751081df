"""Closed-form baselines against independent references (NumPy, pandas, scikit-learn)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold

from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.core.errors import AffectlabError
from affectlab.models import baselines  # noqa: F401  (registers the baselines)
from affectlab.models.base import FitContext
from affectlab.models.registry import MODELS
from affectlab.models.text_features import Tfidf

TARGETS = (TargetSpec("valence", -2, 2), TargetSpec("arousal", 0, 2))
WORDS = ["happy", "sad", "tired", "calm", "angry", "excited", "bored", "fine", "great", "awful"]


def corpus(n_users: int = 8, per_user: int = 9, dim: int = 6, seed: int = 0, prefix: str = "u") -> Corpus:
    rng = np.random.default_rng(seed)
    rows, feats = [], []
    w = rng.normal(size=(dim, 2))
    for u in range(n_users):
        level = rng.normal(0, 0.7, size=2)
        for k in range(per_user):
            x = rng.normal(size=dim)
            y = level + 0.5 * x @ w + rng.normal(0, 0.2, size=2)
            text = " ".join(rng.choice(WORDS, size=4)) + f" day {k}"
            rows.append({"id": f"{prefix}{u}-{k}", "group": f"{prefix}{u}", "order": k, "text": text,
                         "valence": float(np.clip(y[0], -2, 2)), "arousal": float(np.clip(1 + y[1] / 2, 0, 2))})
            feats.append(x)
    return Corpus(pd.DataFrame(rows), targets=TARGETS, features={"text": np.array(feats, dtype=np.float64)})


def fitted(name: str, train: Corpus, **params):
    model = MODELS.get(name)(TARGETS, **params)
    model.fit(train, None, FitContext(training=None))
    return model


def round_trip(model):
    buf = io.BytesIO()
    torch.save(model.state(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    fresh = model.clone()  # unfitted, same targets and params
    fresh.load_state(state)
    return fresh


ALL = ["global_mean", "group_mean", "ridge_tfidf", "ridge_embedding", "ridge_group_offset"]


def test_global_mean_is_training_mean():
    train, test = corpus(), corpus(n_users=3, seed=1, prefix="new")
    pred = fitted("global_mean", train).predict(test)
    expected = train.frame[["valence", "arousal"]].mean().to_numpy()
    assert np.allclose(pred, np.tile(expected, (len(test), 1)))


def test_group_mean_matches_pandas_and_unseen_get_global_mean():
    train = corpus()
    unseen = corpus(n_users=2, seed=3, prefix="new")
    both = Corpus(pd.concat([train.frame, unseen.frame]), targets=TARGETS)
    pred = fitted("group_mean", train).predict(both)
    ref = train.frame.groupby("group")[["valence", "arousal"]].mean()
    seen = both.frame["group"].isin(ref.index).to_numpy()
    assert np.allclose(pred[seen], ref.loc[both.frame["group"][seen]].to_numpy())
    assert np.allclose(pred[~seen], train.frame[["valence", "arousal"]].mean().to_numpy())


def test_ridge_embedding_matches_sklearn_ridge_with_chosen_alpha():
    train, test = corpus(), corpus(seed=2, prefix="t")
    model = fitted("ridge_embedding", train)
    for j, t in enumerate(["valence", "arousal"]):
        assert model.alpha[j] in baselines.DEFAULT_ALPHAS
        ref = Ridge(alpha=model.alpha[j]).fit(train.features["text"], train.frame[t]).predict(test.features["text"])
        lo, hi = TARGETS[j].low, TARGETS[j].high
        assert np.allclose(model.predict(test)[:, j], np.clip(ref, lo, hi), atol=1e-8)


def test_ridge_tfidf_matches_sklearn_vectorizers_and_ridge():
    train, test = corpus(), corpus(seed=2, prefix="t")
    model = fitted("ridge_tfidf", train, alphas=[1.0])
    texts = train.frame["text"].tolist()
    word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=50000).fit(texts)

    def design(t):
        from scipy import sparse

        return sparse.hstack([word.transform(t), char.transform(t)]).tocsr() / np.sqrt(2)

    for j, t in enumerate(["valence", "arousal"]):
        ref = Ridge(alpha=1.0, solver="svd").fit(design(texts).toarray(), train.frame[t]).predict(
            design(test.frame["text"].tolist()).toarray())
        # RidgeCV solves the sparse problem through its own (generalised cross-validation) path
        assert np.allclose(model.predict(test)[:, j], np.clip(ref, TARGETS[j].low, TARGETS[j].high), atol=1e-6)


def test_tfidf_helper_equals_sklearn_and_survives_state():
    texts = corpus().frame["text"].tolist()
    mine = Tfidf(word=(1, 2), char=None, min_df=2, max_features=None).fit(texts[:40])
    ref = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts[:40])
    assert mine.vocab["word"] == ref.get_feature_names_out().tolist()
    assert abs(mine.transform(texts[40:]) - ref.transform(texts[40:])).max() < 1e-12
    again = Tfidf.from_state(mine.state())
    assert abs(again.transform(texts) - mine.transform(texts)).max() == 0


def test_ridge_group_offset_adds_shrunken_out_of_fold_residual_means():
    train = corpus()
    unseen = corpus(n_users=2, seed=4, prefix="new")
    later = corpus(seed=0)  # same users, same features: a seen-user test set
    shrink = 5.0
    model = fitted("ridge_group_offset", train, shrink=shrink)
    X, g = train.features["text"], train.frame["group"].to_numpy()
    base = fitted("ridge_embedding", train)
    for j, t in enumerate(["valence", "arousal"]):
        y = train.frame[t].to_numpy()
        oof = np.zeros(len(y))
        for a, b in GroupKFold(5).split(X, groups=g):
            oof[b] = Ridge(alpha=model.alpha[j]).fit(X[a], y[a]).predict(X[b])
        res = pd.Series(y - oof).groupby(g)
        offset = (res.sum() / (res.count() + shrink)).to_dict()
        raw = Ridge(alpha=model.alpha[j]).fit(X, y).predict(later.features["text"])
        expect = np.clip(raw + later.frame["group"].map(offset).to_numpy(), TARGETS[j].low, TARGETS[j].high)
        assert np.allclose(model.predict(later)[:, j], expect, atol=1e-8)
    # unseen users: no offset, plain ridge
    assert np.allclose(model.predict(unseen), base.predict(unseen), atol=1e-8)


@pytest.mark.parametrize("name", ALL)
def test_state_round_trip_gives_identical_predictions(name):
    train = corpus()
    test = Corpus(pd.concat([corpus(seed=5, prefix="u").frame, corpus(n_users=2, seed=6, prefix="new").frame]),
                  targets=TARGETS,
                  features={"text": np.concatenate([corpus(seed=5).features["text"],
                                                    corpus(n_users=2, seed=6).features["text"]])})
    model = fitted(name, train)
    again = round_trip(model)
    assert np.array_equal(model.predict(test), again.predict(test))
    pred = model.predict(test)
    assert pred.shape == (len(test), 2) and np.isfinite(pred).all()
    assert pred[:, 0].min() >= -2 and pred[:, 0].max() <= 2 and pred[:, 1].min() >= 0 and pred[:, 1].max() <= 2


@pytest.mark.parametrize("name", ALL)
def test_unknown_parameter_is_refused(name):
    with pytest.raises(AffectlabError, match="unknown parameter"):
        MODELS.get(name)(TARGETS, bogus=1)


def test_missing_labels_for_a_target_are_refused():
    c = corpus()
    c.frame["arousal"] = np.nan
    with pytest.raises(AffectlabError, match="no labels"):
        fitted("global_mean", c)


def test_partial_labels_are_skipped_per_target():
    c = corpus()
    c.frame.loc[::3, "arousal"] = np.nan
    model = fitted("ridge_embedding", c)
    assert np.isfinite(model.predict(c)).all()


@pytest.mark.parametrize("missing", [None, 5, 151], ids=["all labelled", "row 5 unlabelled", "row 151 unlabelled"])
def test_large_ridge_picks_the_penalty_on_a_subsample_and_fits_every_row(monkeypatch, missing):
    """Beyond MAX_GCV_SIDE rows and columns: the subsample's leave-one-out penalty, then sklearn's
    Ridge on all rows with that penalty (sparse input: iterative solver, no n x n matrix)."""
    from scipy import sparse
    from sklearn.linear_model import Ridge

    from affectlab.models import baselines

    monkeypatch.setattr(baselines, "MAX_GCV_SIDE", 60)
    rng = np.random.default_rng(3)
    X = sparse.random(200, 150, density=0.1, random_state=4, format="csr")
    y = np.column_stack([X @ rng.normal(size=150) + rng.normal(scale=0.1, size=200), rng.normal(size=200)])
    if missing is not None:  # whether the subsample holds the unlabelled row decides joint or per-target GCV
        y[missing, 1] = np.nan
    model = baselines.RidgeTfidf(TARGETS)
    model._fit_ridge(X, y)
    for j, ref in enumerate(subsample_references(X, y, 60, lambda a: Ridge(alpha=a, solver="lsqr", tol=1e-10),
                                                 dense=lambda M: M.toarray())):
        assert model.alpha[j] == ref.alpha
        np.testing.assert_allclose(model.coef[:, j], ref.coef_, atol=1e-4)
        np.testing.assert_allclose(model.intercept[j], ref.intercept_, atol=1e-4)


def subsample_references(X, y, n_sub: int, ridge, dense=lambda M: M):
    """Per target, scikit-learn's reference for the large-data path: the penalty by RidgeCV on the
    seeded ``n_sub``-row subsample's labelled rows, then ``ridge(alpha)`` on every labelled row
    (``dense(X[rows])``)."""
    from sklearn.linear_model import RidgeCV

    from affectlab.models import baselines

    rows = np.sort(np.random.default_rng(0).choice(len(y), n_sub, replace=False))
    for j in range(y.shape[1]):
        ok = ~np.isnan(y[:, j])
        sub = rows[ok[rows]]
        alpha = RidgeCV(alphas=np.array(baselines.DEFAULT_ALPHAS)).fit(X[sub], y[sub, j]).alpha_
        yield ridge(alpha).fit(dense(X[ok]), y[ok, j])


def test_large_dense_ridge_uses_chunked_sums_and_matches_sklearn(monkeypatch):
    """Beyond MAX_DENSE_ROWS rows a dense design (e.g. 1M embeddings) is fitted from chunked normal
    equations: the same penalty choice (RidgeCV on the subsample) and the same coefficients as
    scikit-learn's Ridge on every labelled row; predictions in chunks too."""
    from sklearn.linear_model import Ridge

    from affectlab.models import baselines

    monkeypatch.setattr(baselines, "MAX_DENSE_ROWS", 100)
    monkeypatch.setattr(baselines, "MAX_GCV_SIDE", 60)
    monkeypatch.setattr(baselines, "DENSE_CHUNK", 37)  # several chunks, the last one short
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 12)).astype(np.float32)
    y = np.column_stack([X @ rng.normal(size=12) + rng.normal(scale=0.3, size=300), rng.normal(size=300)])
    y[[7, 150], 1] = np.nan
    model = baselines.RidgeEmbedding(TARGETS)
    model._fit_ridge(X, y)
    for j, ref in enumerate(subsample_references(X.astype(np.float64), y, 60, lambda a: Ridge(alpha=a))):
        assert model.alpha[j] == ref.alpha
        np.testing.assert_allclose(model.coef[:, j], ref.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(model.intercept[j], ref.intercept_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(model.raw_predict(X)[:, j], ref.predict(X.astype(np.float64)), atol=1e-8)


def test_out_of_fold_predictions_agree_on_the_large_dense_path(monkeypatch):
    from affectlab.models import baselines

    rng = np.random.default_rng(6)
    X = rng.normal(size=(240, 10))
    y = np.column_stack([X @ rng.normal(size=10), rng.normal(size=240)])
    y[3, 0] = np.nan
    groups = np.repeat([f"u{i}" for i in range(24)], 10)
    alphas = np.array([3.0, 30.0])
    small = baselines.out_of_fold(X, y, groups, alphas, 5)
    monkeypatch.setattr(baselines, "MAX_DENSE_ROWS", 100)
    monkeypatch.setattr(baselines, "DENSE_CHUNK", 50)
    np.testing.assert_allclose(baselines.out_of_fold(X, y, groups, alphas, 5), small, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_clone_is_unfitted_with_the_same_targets_and_params(name):
    train = corpus()
    model = fitted(name, train)
    twin = model.clone()
    assert type(twin) is type(model) and twin is not model
    assert twin.targets == model.targets and twin.params is model.params  # frozen Params: shared, not copied
    assert twin.config_params() == model.config_params()
    unfitted = {"global_mean": lambda m: m.mean is None, "group_mean": lambda m: m.users == []}
    assert unfitted.get(name, lambda m: m.coef.size == 0)(twin)  # nothing learnt carried over
    twin.fit(train, None, None)
    np.testing.assert_allclose(twin.predict(train), model.predict(train))  # same params, same data: same model


def test_clone_keeps_what_was_passed():
    model = MODELS.get("ridge_group_offset")(TARGETS, shrink=0, folds=3)
    twin = model.clone()
    assert (twin.shrink, twin.folds) == (0.0, 3) and twin.config_params() == {"shrink": 0.0, "folds": 3}
