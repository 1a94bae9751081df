"""Shared fixtures: a per-worker feature cache, small SemEval-style files, CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _feature_cache(tmp_path_factory: pytest.TempPathFactory):
    """One cache per test worker: tests never touch the user's ~/.cache and never race."""
    os.environ["AFFECTLAB_CACHE"] = str(tmp_path_factory.mktemp("affectlab-cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield


def semeval_frame(n_users: int = 12, lo: int = 6, hi: int = 14, seed: int = 0) -> pd.DataFrame:
    """A small longitudinal corpus in the SemEval layout whose words carry the labels."""
    rng = np.random.default_rng(seed)
    words = {-2: "awful miserable", -1: "sad tired", 0: "okay ordinary", 1: "good pleasant", 2: "wonderful joyful"}
    energy = {0: "calm sleepy", 1: "busy", 2: "excited energetic"}
    rows = []
    tid = 0
    for u in range(n_users):
        base_v, base_a = rng.normal(0, 0.8), rng.uniform(0, 2)
        for k in range(int(rng.integers(lo, hi + 1))):
            v = int(np.clip(np.round(base_v + rng.normal(0, 0.9)), -2, 2))
            a = int(np.clip(np.round(base_a + rng.normal(0, 0.6)), 0, 2))
            tid += 1
            rows.append({
                "user_id": 100 + u, "text_id": tid,
                "text": f"Day {k}: I feel {words[v]} and {energy[a]} today.",
                "timestamp": f"2021-{1 + k // 28:02d}-{1 + k % 28:02d} 1{u % 10}:00:00",
                "collection_phase": 1 + k // 10, "is_words": bool(k % 2), "valence": v, "arousal": a,
            })
    return pd.DataFrame(rows)


@pytest.fixture
def semeval_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    semeval_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def semeval_test_csv(tmp_path: Path) -> Path:
    """Test-style file: no labels, plus is_seen_user; two users never seen in training."""
    frame = pd.concat([semeval_frame(n_users=4, seed=1).assign(user_id=lambda f: f.user_id + 900),
                       semeval_frame(n_users=3, seed=2)])
    frame["is_seen_user"] = frame["user_id"] < 900
    frame["text_id"] = np.arange(len(frame)) + 5000
    path = tmp_path / "test.csv"
    frame.drop(columns=["valence", "arousal"]).to_csv(path, index=False)
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    from affectlab.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if capsys is None:
        return code, "", ""
    captured = capsys.readouterr()
    return code, captured.out, captured.err
