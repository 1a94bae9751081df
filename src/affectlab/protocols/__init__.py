"""Protocols as splitters: how a corpus is divided for selection and for the reported score.

``protocol_for(split)`` turns a config's ``split:`` section into one frozen :class:`Protocol`
(registered per ``kind`` in :data:`PROTOCOLS`); ``protocol.folds(corpus)`` gives the
:class:`Fold` list that :func:`affectlab.runner.run_protocol` fits and scores — hold-out is one
fold, cross-validation one per held-out part (docs/protocols.md).

>>> from affectlab.config import SplitConfig
>>> protocol_for(SplitConfig(kind="group_kfold", k=3))
GroupKFold(k=3, seed=0, inner_fraction=0.2, test_split=None)
>>> check_split_keys(SplitConfig(kind="temporal", val_split="nope"))
Traceback (most recent call last):
...
affectlab.core.errors.AffectlabError: split.val_split: protocol temporal does not read it (read by: given); remove it or choose that protocol
"""

from __future__ import annotations

from ..config import SplitConfig
from ..core.errors import AffectlabError
from ..core.registry import Registry
from .base import Fold, Protocol, abbreviate, check_training_modalities
from .cross_corpus import CrossCorpus
from .cross_validation import CrossValidation, GroupKFold, KFold, LeaveOneGroupOut, seed_variation
from .holdout import TEST_NAMES, VALIDATION_NAMES, Dev, Given, Group, HoldOut, Temporal, given_split_name

#: every protocol class by its ``split.kind``
PROTOCOLS: Registry[type[Protocol]] = Registry("protocol")
for _cls in (Dev, Group, Temporal, Given, GroupKFold, LeaveOneGroupOut, KFold, CrossCorpus):
    PROTOCOLS.register(_cls.kind)(_cls)


def check_split_keys(split: SplitConfig, where: str = "split") -> None:
    """Refuse a ``split:`` key set to a value of its own that the chosen protocol does not read,
    naming the protocols that would (a key left at its default, as a written config.yaml has them
    all, is harmless).

    ``seed`` is exempt: ``--seed``/``--seeds`` set it for every protocol (it draws nothing where
    the folds are fixed)."""
    unread = split.model_fields_set - PROTOCOLS.get(split.kind).reads - {"seed"}
    for key in sorted(k for k in unread if getattr(split, k) != SplitConfig.model_fields[k].get_default(call_default_factory=True)):
        if key == "test_split":  # the one key whose meaning a hold-out kind has in another form
            cross = [kind for kind in PROTOCOLS.names() if "test_split" in PROTOCOLS.get(kind).reads]
            raise AffectlabError(f"{where}.test_split: test_split applies to the cross-validation kinds "
                                 f"({', '.join(cross)}), not {split.kind!r} (a hold-out kind scores the file's "
                                 "test split itself with kind: given)")
        readers = [kind for kind in PROTOCOLS.names() if key in PROTOCOLS.get(kind).reads]
        raise AffectlabError(f"{where}.{key}: protocol {split.kind} does not read it (read by: {', '.join(readers)}); "
                             "remove it or choose that protocol")


def protocol_for(split: SplitConfig) -> Protocol:
    """The protocol a ``split:`` section names, with the keys it reads."""
    return PROTOCOLS.get(split.kind).from_split(split)


def check_kind(split: SplitConfig, where: str = "split") -> None:
    """One line for a ``split.kind`` that no protocol is registered as."""
    if split.kind not in PROTOCOLS:
        raise AffectlabError(f"{where}.kind must be one of {', '.join(PROTOCOLS.names())}, not {split.kind!r}")


__all__ = ["PROTOCOLS", "Protocol", "Fold", "HoldOut", "CrossValidation", "Dev", "Group", "Temporal", "Given",
           "GroupKFold", "LeaveOneGroupOut", "KFold", "CrossCorpus", "protocol_for", "check_kind", "check_split_keys", "abbreviate",
           "check_training_modalities", "seed_variation", "given_split_name", "VALIDATION_NAMES", "TEST_NAMES"]
