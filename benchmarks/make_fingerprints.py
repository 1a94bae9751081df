"""Rebuild ``src/affectlab/tasks/fingerprints.py`` from ``../shared/data`` (hashes only, no data).

    python benchmarks/make_fingerprints.py
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlab.tasks.data import id_key  # noqa: E402

TRAIN = ROOT.parent / "shared" / "data" / "semeval2026-task2" / "train_subtask1.csv"


def main() -> None:
    if not TRAIN.is_file():
        sys.exit(f"{TRAIN}: not found (the real data are read from ../shared/data)")
    frame = pd.read_csv(TRAIN)
    keys = sorted({id_key(u, t) for u, t in zip(frame["user_id"], frame["text_id"])})
    target = ROOT / "src" / "affectlab" / "tasks" / "fingerprints.py"
    head = target.read_text().split("SEMEVAL2026_TASK2_TRAIN = (")[0]
    body = "".join(f'    "{line}"\n' for line in textwrap.wrap("".join(keys), 96))
    target.write_text(f"{head}SEMEVAL2026_TASK2_TRAIN = (\n{body})\n")
    print(f"{len(keys)} keys of {len(frame)} rows written to {target}")


if __name__ == "__main__":
    main()
