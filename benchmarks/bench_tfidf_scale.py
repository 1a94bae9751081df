"""Cost of the ``ridge_tfidf`` baseline at scale (the one SemEval baseline whose leave-one-out
penalty search decomposed an n x n matrix before ``baselines.MAX_GCV_SIDE``).

    python benchmarks/bench_tfidf_scale.py N TRAIN.csv      # e.g. 100000 and the SemEval training file

The N texts are the file's texts repeated, each with one random word of the corpus appended (so
rows are not exact copies); labels are the file's valence/arousal plus N(0, 0.2) noise. Prints one
line: TF-IDF time, ridge fit time, chosen penalties, peak RSS.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pandas as pd

from affectlab.corpus.base import TargetSpec
from affectlab.models import baselines
from affectlab.models.text_features import Tfidf


def main(n: int, path: str) -> None:
    df = pd.read_csv(path)
    texts = df["text"].astype(str).tolist()
    rng = np.random.default_rng(0)
    words = " ".join(texts).split()
    rows = np.arange(n) % len(df)
    data = [texts[i] + " " + words[rng.integers(len(words))] for i in rows]
    y = np.column_stack([df["valence"].to_numpy()[rows] + rng.normal(0, 0.2, n),
                         df["arousal"].to_numpy()[rows] + rng.normal(0, 0.2, n)])
    model = baselines.RidgeTfidf((TargetSpec("valence", -2, 2), TargetSpec("arousal", 0, 2)))
    t0 = time.perf_counter()
    model.tfidf = Tfidf(**model.tfidf_params)
    X = model.tfidf.fit_transform(data)
    t1 = time.perf_counter()
    model._fit_ridge(X, y)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"n={n} X={X.shape} nnz={X.nnz} tfidf {t1 - t0:.1f} s  ridge {t2 - t1:.1f} s  "
          f"alpha {model.alpha.tolist()}  peak {peak:.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
