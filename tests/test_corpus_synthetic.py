"""The synthetic longitudinal corpus: layout, ranges, determinism, learnable signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectlab.corpus.semeval import read_semeval
from affectlab.corpus.synthetic import (
    COLUMNS,
    TEST_COLUMNS,
    make_longitudinal_corpus,
    split_longitudinal,
    test_inputs,
    write_longitudinal_csv,
)
from affectlab.core.errors import AffectlabError


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return make_longitudinal_corpus(n_users=40, texts_per_user=(8, 20), seed=3)


def test_columns_and_types(corpus: pd.DataFrame) -> None:
    assert list(corpus.columns) == list(COLUMNS)
    assert corpus["text_id"].is_unique
    assert corpus["user_id"].nunique() == 40
    assert corpus["text"].str.strip().str.len().gt(0).all()
    assert corpus["is_words"].dtype == bool and 0.1 < corpus["is_words"].mean() < 0.6
    for column in ("valence", "arousal", "user_id", "text_id", "collection_phase"):
        assert pd.api.types.is_integer_dtype(corpus[column]), column


def test_label_ranges_use_every_level(corpus: pd.DataFrame) -> None:
    assert set(corpus["valence"]) == {-2, -1, 0, 1, 2}
    assert set(corpus["arousal"]) == {0, 1, 2}


def test_texts_per_user_in_range_and_time_increases(corpus: pd.DataFrame) -> None:
    sizes = corpus.groupby("user_id").size()
    assert sizes.min() >= 8 and sizes.max() <= 20
    times = pd.to_datetime(corpus["timestamp"])
    assert times.groupby(corpus["user_id"]).apply(lambda t: t.is_monotonic_increasing).all()


def test_deterministic_given_the_seed() -> None:
    a = make_longitudinal_corpus(n_users=5, texts_per_user=(3, 6), seed=11)
    b = make_longitudinal_corpus(n_users=5, texts_per_user=(3, 6), seed=11)
    c = make_longitudinal_corpus(n_users=5, texts_per_user=(3, 6), seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not a["text"].equals(c["text"]) or not a["valence"].equals(c["valence"])


@pytest.mark.parametrize("kwargs", [{"n_users": 0}, {"texts_per_user": (0, 3)}, {"texts_per_user": (5, 2)},
                                    {"words_fraction": 1.5}])
def test_bad_arguments_are_one_line_errors(kwargs: dict) -> None:
    with pytest.raises(AffectlabError):
        make_longitudinal_corpus(**kwargs)


def test_tfidf_ridge_learns_the_signal_and_users_matter(corpus: pd.DataFrame) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    train, test = split_longitudinal(corpus, unseen_fraction=0.3, latest_fraction=0.25, seed=0)
    vec = TfidfVectorizer(sublinear_tf=True).fit(train["text"])
    for target in ("valence", "arousal"):
        model = Ridge(alpha=1.0).fit(vec.transform(train["text"]), train[target])
        pred = model.predict(vec.transform(test["text"]))
        r = np.corrcoef(pred, test[target])[0, 1]
        assert r > 0.3, (target, r)
        # A per-user offset learned on training texts helps the seen users: persons matter.
        offset = (train[target] - model.predict(vec.transform(train["text"]))).groupby(train["user_id"]).mean()
        seen = test["is_seen_user"].to_numpy()
        with_offset = pred + test["user_id"].map(offset).fillna(0.0).to_numpy()
        r_seen = np.corrcoef(pred[seen], test[target][seen])[0, 1]
        r_seen_offset = np.corrcoef(with_offset[seen], test[target][seen])[0, 1]
        assert r_seen_offset > r_seen, (target, r_seen, r_seen_offset)


def test_split_is_like_the_task(corpus: pd.DataFrame) -> None:
    train, test = split_longitudinal(corpus, unseen_fraction=0.5, latest_fraction=0.2, seed=1)
    assert len(train) + len(test) == len(corpus)
    assert not set(train["text_id"]) & set(test["text_id"])
    unseen = set(test.loc[~test["is_seen_user"], "user_id"])
    assert len(unseen) == 20 and not unseen & set(train["user_id"])
    seen = test[test["is_seen_user"]]
    assert set(seen["user_id"]) <= set(train["user_id"])
    last_train = pd.to_datetime(train["timestamp"]).groupby(train["user_id"]).max()
    first_test = pd.to_datetime(seen["timestamp"]).groupby(seen["user_id"]).min()
    assert (first_test > last_train.loc[first_test.index]).all()


def test_reads_with_the_semeval_reader(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    written = write_longitudinal_csv(path, n_users=6, texts_per_user=(3, 5), seed=0)
    corpus = read_semeval(path, require_labels=True)
    assert len(corpus) == len(written)
    assert corpus.target_matrix().shape == (len(written), 2)
    assert corpus.frame["is_words"].dtype == bool
    assert corpus.frame["is_words"].tolist() == written["is_words"].tolist()
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(COLUMNS)


def test_test_file_variant(tmp_path: Path) -> None:
    frame = make_longitudinal_corpus(n_users=8, texts_per_user=(4, 6), seed=2)
    train, gold = split_longitudinal(frame, 0.5, 0.25, seed=0)
    path = tmp_path / "test.csv"
    written = write_longitudinal_csv(path, gold, test=True)
    assert list(written.columns) == list(TEST_COLUMNS)
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(TEST_COLUMNS)
    corpus = read_semeval(path)
    assert not corpus.has_labels and len(corpus) == len(gold)
    assert written["is_seen_user"].tolist() == gold["is_seen_user"].tolist()
    with pytest.raises(AffectlabError):  # labels required but absent: one-line error
        read_semeval(path, require_labels=True)
    fresh = test_inputs(frame, seen_users=[1, 2])
    assert set(fresh.loc[fresh["is_seen_user"], "user_id"]) == {1, 2}


def test_frame_and_generator_arguments_together_refused(tmp_path: Path) -> None:
    frame = make_longitudinal_corpus(n_users=2, texts_per_user=(2, 2), seed=0)
    with pytest.raises(AffectlabError):
        write_longitudinal_csv(tmp_path / "x.csv", frame, seed=1)
    assert not (tmp_path / "x.csv").exists()
