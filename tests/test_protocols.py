"""Protocols as splitters (affectlab.protocols): folds against the split primitives and hand counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from affectlab.config import SplitConfig
from affectlab.core.errors import AffectlabError
from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.corpus.splits import dev_split, group_kfold, latest_per_group, unseen_groups
from affectlab.protocols import (PROTOCOLS, CrossValidation, Dev, Given, Group, GroupKFold, HoldOut, KFold,
                                 LeaveOneGroupOut, Temporal, check_split_keys, protocol_for)


def corpus(n_groups: int = 6, per_group: int = 5, split: bool = False) -> Corpus:
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per_group)
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(len(groups))], "group": groups,
                          "order": np.tile(np.arange(per_group), n_groups).astype(float),
                          "y": np.linspace(0, 1, len(groups))})
    if split:
        frame["split"] = np.where(frame["group"].isin(["g0", "g1"]), "test",
                                  np.where(frame["group"] == "g2", "valid", "train"))
    return Corpus(frame, targets=(TargetSpec("y"),), name="c.csv")


@pytest.mark.parametrize("split, expected", [
    (SplitConfig(kind="dev"), Dev(0.2, 0.2, 0)),
    (SplitConfig(kind="group", unseen_fraction=0.5, seed=3), Group(0.5, 3)),
    (SplitConfig(kind="temporal", latest_fraction=0.4), Temporal(0.4)),
    (SplitConfig(kind="given", val_split="dev"), Given("train", "dev", val_named=True)),
    (SplitConfig(kind="group_kfold", k=3, seed=1), GroupKFold(k=3, seed=1)),
    (SplitConfig(kind="leave_one_group_out", test_split="test"), LeaveOneGroupOut(test_split="test")),
    (SplitConfig(kind="kfold", k=4, inner_fraction=0.3), KFold(k=4, inner_fraction=0.3)),
])
def test_protocol_for_builds_the_frozen_splitter_of_each_kind(split, expected):
    protocol = protocol_for(split)
    assert protocol == expected and protocol.kind == split.kind and PROTOCOLS.get(split.kind) is type(protocol)
    with pytest.raises(dataclasses.FrozenInstanceError):
        protocol.seed = 9  # type: ignore[misc]


def test_hold_out_kinds_are_one_fold_equal_to_the_split_primitives():
    c = corpus()
    dev, = Dev(0.2, 0.2, 5).folds(c)
    assert dev.val.tolist() == (dev_split(c, 0.2, 0.2, 5) == "val").tolist() and (dev.train == ~dev.val).all()
    group, = Group(0.5, 2).folds(c)
    assert group.val.tolist() == unseen_groups(c, 0.5, 2).tolist() and group.test is None
    temporal, = Temporal(0.4).folds(c)
    assert temporal.val.tolist() == latest_per_group(c, 0.4).tolist()
    assert temporal.val.sum() == 6 * 2  # round(0.4 * 5) = 2 latest rows of each of 6 groups, by hand


def test_given_finds_aliases_and_the_test_split_and_refuses_what_it_cannot_use():
    c = corpus(split=True)
    fold, = Given().folds(c)
    train, val, test = fold.parts(c)
    assert (len(train), len(val), len(test)) == (15, 5, 10)
    assert set(val.frame["split"]) == {"valid"} and set(test.frame["split"]) == {"test"}
    with pytest.raises(AffectlabError, match="split.val_split is 'held', but the file has no such split"):
        Given(val_split="held", val_named=True).folds(c)
    with pytest.raises(AffectlabError, match="is the training split"):
        Given(train_split="train", val_split="train", val_named=True).folds(c)
    with pytest.raises(AffectlabError, match="has no split column"):
        Given().folds(corpus())


def test_cross_validation_folds_partition_the_rows_by_group():
    c = corpus()
    for protocol in (GroupKFold(k=3, seed=4), LeaveOneGroupOut(), KFold(k=4, seed=1)):
        folds = protocol.folds(c)
        tests = np.stack([f.test for f in folds])
        assert (tests.sum(axis=0) == 1).all()  # every row tested exactly once
        assert all((f.train == ~f.test).all() for f in folds)
        if not isinstance(protocol, KFold):  # no group on both sides of a fold
            assert all(not set(c.frame["group"][f.test]) & set(c.frame["group"][f.train]) for f in folds)
    assert [f.test.tolist() for f in GroupKFold(k=3, seed=4).folds(c)] == [m.tolist() for m in group_kfold(c, 3, 4)]
    assert len(LeaveOneGroupOut().folds(c)) == 6


def test_set_aside_keeps_the_test_split_out_of_every_fold():
    c = corpus(split=True)
    protocol = GroupKFold(k=2, test_split="test")
    rows, test = protocol.set_aside(c)
    assert len(rows) == 20 and len(test) == 10 and set(test.frame["group"]) == {"g0", "g1"}
    assert not any(set(rows.frame["group"][f.test]) & {"g0", "g1"} for f in protocol.folds(rows))
    with pytest.raises(AffectlabError, match="no such split"):
        GroupKFold(test_split="eval").set_aside(c)


def test_inner_validation_holds_out_whole_groups_except_for_kfold():
    c = corpus()
    inner = GroupKFold().inner_validation(c, seed=0)
    held = set(c.frame["group"][inner])
    assert held and all(c.frame["group"].isin(held)[inner]) and not (set(c.frame["group"][~inner]) & held)
    rows = KFold().inner_validation(c, seed=0)
    assert rows.sum() == round(0.2 * len(c))


def test_a_class_missing_from_a_training_fold_is_refused_before_any_fit():
    c = corpus(n_groups=3, per_group=2)
    c = Corpus(c.frame.assign(e=[0.0, 0.0, 0.0, 0.0, 1.0, 1.0]),
               targets=(TargetSpec("e", kind="category", classes=("a", "b")),), name="c.csv")
    with pytest.raises(AffectlabError, match="class 'b' of target 'e' never occurs in its training part"):
        LeaveOneGroupOut().folds(c)


@pytest.mark.parametrize("kind, key, value, readers", [
    ("group_kfold", "val_split", "nope", "given"),
    ("leave_one_group_out", "k", 3, "group_kfold, kfold"),
    ("temporal", "unseen_fraction", 0.5, "dev, group"),
    ("given", "inner_fraction", 0.3, "cross_corpus, group_kfold, kfold, leave_one_group_out"),
])
def test_split_keys_the_protocol_does_not_read_are_refused_naming_who_reads_them(kind, key, value, readers):
    with pytest.raises(AffectlabError, match=rf"split.{key}: protocol {kind} does not read it \(read by: {readers}\)"):
        check_split_keys(SplitConfig.model_validate({"kind": kind, key: value}))


def test_keys_left_at_their_defaults_and_the_seed_pass():
    check_split_keys(SplitConfig.model_validate({"kind": "leave_one_group_out", "seed": 7, "k": 5, "val_split": "valid"}))
    check_split_keys(SplitConfig.model_validate(SplitConfig(kind="given").model_dump()))  # a written config.yaml


def test_every_protocol_is_a_hold_out_or_a_cross_validation():
    for kind in PROTOCOLS.names():
        cls = PROTOCOLS.get(kind)
        assert issubclass(cls, (HoldOut, CrossValidation, Given)) and cls.is_cross_validation == issubclass(cls, CrossValidation)
