"""Small tables and configs for the edge-case tests of ``train`` (issue 21): built in a temp dir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def speaker_table(path: Path, n: int = 60, speakers: int = 6, seed: int = 0) -> Path:
    """``id, spk, f_a, f_b, y``: y follows f_a, speakers s0..s{speakers-1} in turn."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "spk": [f"s{i % speakers}" for i in range(n)],
                          "f_a": rng.normal(size=n), "f_b": rng.normal(size=n)})
    frame["y"] = np.clip(0.5 * frame["f_a"] + rng.normal(scale=0.3, size=n), -2, 2).round(3)
    frame.to_csv(path, index=False)
    return path


def table_config(path: Path, model: str = "ridge_tabular", split: str = "{kind: group}", extra: str = "") -> Path:
    """A regression config on :func:`speaker_table` (features f_*, groups = speakers)."""
    path.write_text(f"""task: regression
data:
  format: table
  columns: {{id: id, group: spk}}
  targets: [{{name: y, low: -2, high: 2}}]
  options: {{features: [f_*]}}
split: {split}
model: {{name: "{model}"}}
{extra}""")
    return path


def leftovers(root: Path) -> list[str]:
    """Temporary files and staging folders anywhere under ``root`` (none may survive a failed run)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith((".tmp", ".probe")) or ".tmp-" in p.name)
