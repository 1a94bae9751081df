"""Cross-corpus: train on some corpora, test on the others (``split.kind: cross_corpus``).

The data holds several sources pooled into one corpus with a ``corpus`` column
(:func:`affectlab.corpus.sources.pool`). :meth:`CrossCorpus.set_aside` keeps the rows of the
training corpora (``split.train_corpora``; default the first source) for the folds and sets the
test corpora aside, exactly as a cross-validation ``test_split`` is set aside: the folds are
leave-one-group-out (leave-one-speaker-out) inside the training corpora — the **within-corpus**
scores, with any selection the model makes inside each training fold — and the final model,
refitted on every training row, is scored once on the test corpora — the **cross-corpus** scores.
No sample of a test corpus is used for fitting or selection; only normalisation that the model
applies to the data it predicts (``standardize: group`` or ``corpus``) sees its unlabelled features.

>>> import pandas as pd
>>> from affectlab.corpus.base import Corpus
>>> c = Corpus(pd.DataFrame({"id": list("abcdef"), "group": ["e/1", "e/1", "e/2", "e/2", "u/1", "u/1"],
...                          "corpus": list("eeeeuu")}), meta={"sources": ["e", "u"]})
>>> rows, test = CrossCorpus().set_aside(c)
>>> rows.frame["id"].tolist(), test.frame["id"].tolist()
(['a', 'b', 'c', 'd'], ['e', 'f'])
>>> [f.test_groups for f in CrossCorpus().folds(rows)]
[['e/1'], ['e/2']]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.errors import AffectlabError
from ..corpus.base import Corpus
from .base import Fold, NoteSink
from .cross_validation import CrossValidation, checked_folds


@dataclass(frozen=True)
class CrossCorpus(CrossValidation):
    kind: ClassVar[str] = "cross_corpus"
    reads: ClassVar[frozenset[str]] = frozenset({"kind", "seed", "inner_fraction", "train_corpora"})
    train_corpora: tuple[str, ...] = ()

    @classmethod
    def from_split(cls, split: Any) -> "CrossCorpus":
        return cls(seed=split.seed, inner_fraction=split.inner_fraction, train_corpora=tuple(split.train_corpora))

    def training_names(self, sources: list[str]) -> tuple[list[str], list[str]]:
        """(training corpora, test corpora) among ``sources`` (in their order); one line when they do not split.

        >>> CrossCorpus(train_corpora=("b",)).training_names(["a", "b", "c"])
        (['b'], ['a', 'c'])
        """
        if len(sources) < 2:
            raise AffectlabError("split.kind cross_corpus needs two or more data sources (train --data TRAIN --data TEST); "
                                 f"got {len(sources)}")
        train = list(self.train_corpora) or sources[:1]
        unknown = [n for n in train if n not in sources]
        if unknown:
            raise AffectlabError(f"split.train_corpora: {unknown[0]!r} is not a data source (sources: {', '.join(sources)})")
        test = [n for n in sources if n not in train]
        if not test:
            raise AffectlabError(f"split.train_corpora names every source ({', '.join(sources)}): no corpus is left to test on")
        return [n for n in sources if n in train], test

    def set_aside(self, corpus: Corpus) -> tuple[Corpus, Corpus | None]:
        """(rows of the training corpora, rows of the test corpora); a test class never trained on is refused."""
        if "corpus" not in corpus.frame:
            raise AffectlabError(f"{corpus.name or 'data'}: split.kind cross_corpus needs two or more data sources "
                                 "(train --data TRAIN --data TEST)")
        names = corpus.frame["corpus"].astype(str)
        sources = list(corpus.meta.get("sources") or dict.fromkeys(names))
        train, _ = self.training_names(sources)
        is_train = names.isin(train).to_numpy()
        rows, test = corpus.subset(is_train), corpus.subset(~is_train)
        y_train, y_test = rows.target_matrix(), test.target_matrix()
        for j, t in enumerate(corpus.targets):
            if not t.is_category:
                continue
            have = set(y_train[:, j][~np.isnan(y_train[:, j])].astype(int))
            need = sorted(set(y_test[:, j][~np.isnan(y_test[:, j])].astype(int)) - have)
            if need:
                raise AffectlabError(f"{corpus.name or 'data'}: class {t.classes[need[0]]!r} of target {t.name!r} occurs in "
                                     f"the test corpora but never in the training corpora ({', '.join(train)}); map the "
                                     "labels onto shared classes (data.targets[].map)")
        return rows, test

    def folds(self, corpus: Corpus, notes: NoteSink | None = None) -> list[Fold]:
        """Leave-one-group-out over the training corpora's rows (the within-corpus scores)."""
        from ..corpus.splits import cross_validation_folds

        return checked_folds(corpus, cross_validation_folds(corpus, "leave_one_group_out"))

    def describe(self, n_folds: int = 0, model_seed: int = 0, neural: bool = False) -> dict[str, Any]:
        out = super().describe(n_folds, model_seed, neural)
        out.update({"kind": self.kind, "k": n_folds, "train_corpora": list(self.train_corpora),
                    "within": "leave-one-group-out inside the training corpora (out-of-fold scores)",
                    "final_model": "refitted on every row of the training corpora, then scored once on the test corpora",
                    "varied": out["varied"]})
        return out
