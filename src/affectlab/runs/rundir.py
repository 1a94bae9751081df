"""Writing and reading run directories (layout: docs/run-directory.md)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..config import RunConfig, validate_config
from ..errors import AffectlabError
from ..io import atomic_output, read_yaml, write_csv, write_json, write_yaml

CONFIG, SUMMARY, CHECKPOINT = "config.yaml", "summary.json", "checkpoint.ckpt"
METRICS, PREDICTIONS, BASELINES = "metrics.csv", "predictions.csv", "baselines.csv"
CHECKPOINT_FORMAT = 1


def is_run_dir(path: str | Path) -> bool:
    p = Path(path)
    return all((p / name).is_file() for name in (CONFIG, SUMMARY, CHECKPOINT))


def require_run_dir(path: str | Path) -> Path:
    """The path, or a one-line error saying what is missing."""
    p = Path(path)
    if not p.exists():
        raise AffectlabError(f"{p}: no such run directory")
    if not p.is_dir():
        raise AffectlabError(f"{p}: not a run directory (it is a file)")
    missing = [n for n in (CONFIG, SUMMARY, CHECKPOINT) if not (p / n).is_file()]
    if missing:
        raise AffectlabError(f"{p}: not a run directory (missing {', '.join(missing)})")
    return p


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(path: str | Path, model: str, params: dict, targets: list[dict], state: dict,
                    features: dict | None = None) -> None:
    """Save an estimator's state as tensors and primitives only (loads with ``weights_only=True``)."""
    payload = {"format": CHECKPOINT_FORMAT, "model": model, "params": params, "targets": targets,
               "state": state, "features": features or {}}
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise AffectlabError(f"{path}: unreadable checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise AffectlabError(f"{path}: not an affectlab checkpoint")
    return payload


@dataclass
class RunDir:
    """A run directory on disk; writes go through atomic helpers."""

    path: Path

    @classmethod
    def create(cls, path: str | Path) -> "RunDir":
        p = Path(path)
        if p.exists() and not p.is_dir():
            raise AffectlabError(f"{p}: exists and is not a folder")
        p.mkdir(parents=True, exist_ok=True)
        return cls(p)

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        return cls(require_run_dir(path))

    def write_config(self, cfg: RunConfig) -> None:
        write_yaml(self.path / CONFIG, cfg.to_dict())

    def config(self) -> RunConfig:
        return validate_config(read_yaml(self.path / CONFIG), str(self.path / CONFIG))

    def write_metrics(self, history: list[dict[str, float]]) -> None:
        frame = pd.DataFrame(history)
        if not frame.empty:
            for col in [c for c in frame.columns if c.startswith("train_") and c != "train_loss"]:
                key = col[len("train_"):]
                if f"val_{key}" in frame:
                    frame[f"gap_{key}"] = frame[col] - frame[f"val_{key}"]
        write_csv(self.path / METRICS, frame)

    def write_predictions(self, frame: pd.DataFrame) -> None:
        write_csv(self.path / PREDICTIONS, frame)

    def write_baselines(self, frame: pd.DataFrame) -> None:
        write_csv(self.path / BASELINES, frame)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / SUMMARY, summary)

    def summary(self) -> dict[str, Any]:
        import json

        return json.loads((self.path / SUMMARY).read_text())

    def predictions(self) -> pd.DataFrame:
        return pd.read_csv(self.path / PREDICTIONS, dtype={"id": str, "group": str})

    def checkpoint(self) -> dict[str, Any]:
        return load_checkpoint(self.path / CHECKPOINT)
