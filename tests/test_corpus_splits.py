import numpy as np
import pandas as pd
import pytest

from affectlab.corpus import Corpus
from affectlab.corpus.splits import check_disjoint, dev_split, group_kfold, latest_per_group, unseen_groups
from affectlab.core.errors import AffectlabError


def corpus(n_groups=10, per=10):
    rows = [{"id": f"{g}-{i}", "group": f"g{g}", "order": float((i * 7) % per)} for g in range(n_groups) for i in range(per)]
    return Corpus(pd.DataFrame(rows))


def test_dev_split_holds_out_whole_groups_and_latest_texts():
    c = corpus()
    split = dev_split(c, unseen_fraction=0.2, latest_fraction=0.2, seed=3).to_numpy()
    frame = c.frame.assign(split=split)
    per_group = frame.groupby("group")["split"].agg(lambda s: (s == "val").mean())
    assert (per_group == 1.0).sum() == 2  # 20% of 10 groups held out entirely
    seen = per_group[per_group < 1.0]
    assert (seen == 0.2).all()  # latest fifth of the others
    for _, rows in frame[frame.group.isin(seen.index)].groupby("group"):
        assert rows[rows.split == "val"]["order"].min() > rows[rows.split == "train"]["order"].max()


def test_single_text_groups_stay_in_training():
    c = Corpus(pd.DataFrame({"id": ["a", "b", "c"], "group": ["x", "y", "y"], "order": [0, 0, 1]}))
    assert latest_per_group(c, 0.5).tolist() == [False, False, True]


def test_group_kfold_partitions_groups():
    c = corpus()
    folds = group_kfold(c, 5, seed=1)
    assert np.sum(folds, axis=0).tolist() == [1] * len(c)
    for f in folds:
        assert set(c.frame.group[f]).isdisjoint(set(c.frame.group[~f]))
    with pytest.raises(AffectlabError):
        group_kfold(c, 11)


def test_overlapping_splits_are_refused():
    c = corpus(2, 3)
    with pytest.raises(AffectlabError, match="overlap"):
        check_disjoint({"train": c.subset([0, 1, 2]), "test": c.subset([2, 3])})
    check_disjoint({"train": c.subset([0, 1]), "test": c.subset([2, 3])})


def test_unseen_groups_needs_two_groups():
    with pytest.raises(AffectlabError):
        unseen_groups(corpus(1, 3), 0.5)
