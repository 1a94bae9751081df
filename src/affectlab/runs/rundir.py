"""The one reader and writer of run directories (layout: docs/run-directory.md).

Writing: :func:`check_run_out` refuses a bad ``--out`` before any slow step and deletes
nothing; :meth:`RunDir.create` makes (or, with ``overwrite``, clears) the folder; every file is
written atomically; :class:`RunRecorder` writes ``summary.json`` last, so a folder is a run
directory only once everything else is in place. Reading: :meth:`RunDir.open`,
:func:`load_run`, :meth:`RunDir.summary` (a typed :class:`~affectlab.runs.summary.RunSummary`).

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> run = RunDir.create(out)
>>> (out / "summary.json").write_text("{}") and None
>>> try:
...     RunDir.create(out)
... except AffectlabError as err:
...     print(str(err).split(": ", 1)[1])
exists and is not empty; pass --overwrite to replace it
>>> sorted(p.name for p in RunDir.create(out, overwrite=True).path.iterdir())
[]
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..config import RunConfig
from ..experiment import validate_config
from ..core.errors import AffectlabError
from ..core.io import (  # file_sha256 re-exported
    check_writable, file_sha256, read_yaml, unreadable, write_bytes, write_csv, write_json, write_text, write_yaml)
from .outcome import Outcome
from .summary import RunSummary, read_json_object

CONFIG, SUMMARY, CHECKPOINT = "config.yaml", "summary.json", "checkpoint.ckpt"
METRICS, PREDICTIONS, BASELINES = "metrics.csv", "predictions.csv", "baselines.csv"
#: Lightning's resumable checkpoints, written into the run folder while a network trains
LIGHTNING = "lightning"
CHECKPOINT_FORMAT = 1
#: what a run directory may hold; ``--overwrite`` clears only folders made of these
RUN_FILES = frozenset({CONFIG, SUMMARY, CHECKPOINT, METRICS, PREDICTIONS, BASELINES, LIGHTNING, "report.html",
                      "stages.csv", "mapping.csv", "comparison_predictions.csv", "transfer.md", "folds"})


def is_run_dir(path: str | Path) -> bool:
    """True for a finished run: ``summary.json`` and ``checkpoint.ckpt`` (config.yaml may be
    absent: the checkpoint carries the resolved config)."""
    p = Path(path)
    return all((p / name).is_file() for name in (SUMMARY, CHECKPOINT))


def require_run_dir(path: str | Path) -> Path:
    """The path, or a one-line error saying what is missing."""
    p = Path(path)
    if not p.exists():
        raise AffectlabError(f"{p}: no such run directory")
    if not p.is_dir():
        raise AffectlabError(f"{p}: not a run directory (it is a file)")
    missing = [n for n in (CONFIG, SUMMARY, CHECKPOINT) if not (p / n).is_file()]
    if missing and missing != [CONFIG]:
        raise AffectlabError(f"{p}: not a run directory (missing {', '.join(missing)})")
    return p


def check_run_out(path: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Refuse an output folder that cannot take a new run; touches nothing.

    Call it first thing in a command, so that a bad ``--out`` fails before the slow steps. A
    folder holding only Lightning's in-progress checkpoints counts as empty (this run's own).
    """
    p = Path(path)
    if overwrite and resume:
        raise AffectlabError("give --overwrite or --resume, not both")
    if p.exists() and not p.is_dir():
        raise AffectlabError(f"{p}: exists and is a file, not a folder; give a folder for the run directory")
    if not p.exists() or resume:
        return p
    entries = sorted(e.name for e in p.iterdir() if e.name != LIGHTNING)
    if entries and not overwrite:
        raise AffectlabError(f"{p}: exists and is not empty; pass --overwrite to replace it")
    if entries:
        # --overwrite replaces a run, never an arbitrary folder (a mistyped --out ~ must not be wiped)
        foreign = [e for e in entries if e not in RUN_FILES and not e.startswith(".")]
        if foreign:
            raise AffectlabError(f"{p}: not a run directory (it holds {foreign[0]!r}); --overwrite only replaces "
                                 "run directories: choose another --out")
    return p


def save_checkpoint(path: str | Path, model: str, params: dict, targets: Sequence[Any], state: dict | None,
                    features: dict | None = None, config: dict | None = None) -> None:
    """Save an estimator's state as tensors and primitives only (loads with ``weights_only=True``);
    ``state`` None: a scores-only run (a sweep or ablation trial under cross-validation) has no model.

    ``targets`` are ``TargetSpec`` objects or their ``describe()`` dicts; ``config`` is the
    resolved ``RunConfig.to_dict()``, so the checkpoint alone can rebuild the model.
    """
    described = [t.describe() if hasattr(t, "describe") else dict(t) for t in targets]
    payload = {"format": CHECKPOINT_FORMAT, "model": model, "params": params, "targets": described,
               "state": state, "features": features or {}}
    if config is not None:
        payload["config"] = config
    # saved in memory: torch.save names the zip archive after the file it writes to, and the
    # temporary file's random name would make the bytes differ between identical runs
    import torch  # lazy: a refused config never loads torch (seconds of imports)

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise AffectlabError(f"{path}: unreadable checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise AffectlabError(f"{path}: not an affectlab checkpoint")
    return payload


def _read_csv(path: Path, required: Sequence[str] = ()) -> pd.DataFrame | None:
    """A run's CSV, or None when absent or empty (optional files); one-line errors when unreadable
    or without the ``required`` columns."""
    frame = _read_csv_raw(path)
    if frame is not None:
        for col in required:
            if col not in frame.columns:
                raise AffectlabError(f"{path}: no column {col!r} (a corrupt or foreign file)")
    return frame


def _check_numeric(frame: pd.DataFrame | None, path: Path) -> pd.DataFrame | None:
    """``metrics.csv``: epochs, folds, losses and every train/val/gap value must be numbers."""
    if frame is None:
        return None
    for col in frame.columns:
        name = str(col)
        if not (name in ("epoch", "fold") or name.endswith("loss") or name.startswith(("train_", "val_", "gap_"))):
            continue
        values = frame[col]
        if values.dtype.kind in "biuf":
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise AffectlabError(f"{path}: {name} value {values.iloc[i]!r} in line {i + 2} is not a number")
        frame[col] = numbers
    return frame


def _read_csv_raw(path: Path) -> pd.DataFrame | None:
    if path.is_dir():
        raise AffectlabError(f"{path}: is a folder, expected a CSV file")
    if not path.is_file() or not path.stat().st_size:
        return None
    try:
        return pd.read_csv(path, dtype={"id": str, "group": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise AffectlabError(f"{path}: unreadable CSV ({type(err).__name__})") from None
    except UnicodeDecodeError:
        raise AffectlabError(f"{path}: unreadable CSV (not UTF-8 text)") from None
    except (ValueError, TypeError) as err:  # e.g. a dtype pandas cannot apply to a garbled column
        raise AffectlabError(f"{path}: unreadable CSV ({type(err).__name__})") from None
    except OSError as err:
        raise unreadable(path, err) from None


def check_predictions(frame: pd.DataFrame | None, path: str | Path, targets: Sequence[str]) -> pd.DataFrame:
    """A run's ``predictions.csv`` that a reader needs in full, or a one-line error saying what is wrong:
    missing or empty, without ``split``/``id``/``pred_<target>`` columns, rows without split or id,
    or a last line cut short (the file does not end with a line break).

    >>> import pandas as pd
    >>> check_predictions(pd.DataFrame({"split": ["val"], "id": ["1"]}), "r/predictions.csv", ["v"])
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: r/predictions.csv: no column 'pred_v' (a corrupt or foreign predictions file)
    """
    p = Path(path)
    if frame is None:
        what = "empty" if p.is_file() else "missing"
        raise AffectlabError(f"{p}: {what}; the run's predictions are needed (train the run again)")
    for col in ("split", "id", *[f"pred_{t}" for t in targets]):
        if col not in frame.columns:
            raise AffectlabError(f"{p}: no column {col!r} (a corrupt or foreign predictions file)")
    if frame.empty:
        raise AffectlabError(f"{p}: has a header but no rows; the run's predictions are needed")
    bad = frame["split"].isna() | frame["id"].isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0]) + 2
        raise AffectlabError(f"{p}: line {row} has no split or id (a corrupt predictions file)")
    try:
        with open(p, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            cut = fh.read(1) not in (b"\n", b"\r")
    except OSError:
        cut = False
    if cut:
        raise AffectlabError(f"{p}: the last line is cut short (a truncated predictions file)")
    return frame


@dataclass
class RunDir:
    """A run directory on disk; every write is atomic (temporary file, then rename)."""

    path: Path

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path: str | Path, overwrite: bool = False, resume: bool = False) -> "RunDir":
        """Make the folder for a new run.

        An existing non-empty folder is refused unless ``overwrite`` (then it is cleared, if it
        is a run directory) or ``resume`` (kept as it is, for Lightning's ``last.ckpt``).
        """
        p = check_run_out(path, overwrite=overwrite, resume=resume)
        if overwrite and p.is_dir():
            for entry in p.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        p.mkdir(parents=True, exist_ok=True)
        return cls(p)

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run directory (one-line error when it is not one)."""
        return cls(require_run_dir(path))

    # ------------------------------------------------------------------ writing
    def write_config(self, cfg: RunConfig | dict[str, Any]) -> None:
        write_yaml(self.path / CONFIG, cfg.to_dict() if isinstance(cfg, RunConfig) else cfg)

    def write_metrics(self, history: list[dict[str, float]]) -> None:
        """Per-epoch rows; ``gap_<key>`` = train − val is added for every key with both."""
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

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        """An extra CSV (``stages.csv``, ``folds/3/predictions.csv``...)."""
        write_csv(self.path / name, frame)

    def write_text(self, name: str, text: str) -> None:
        write_text(self.path / name, text)

    def write_checkpoint(self, model: str, params: dict, targets: Sequence[Any], state: dict | None,
                         features: dict | None = None, config: RunConfig | dict | None = None) -> None:
        """``checkpoint.ckpt`` with the resolved config inside (see :func:`save_checkpoint`)."""
        cfg = config.to_dict() if isinstance(config, RunConfig) else config
        save_checkpoint(self.path / CHECKPOINT, model, params, targets, state, features, cfg)

    def write_summary(self, summary: RunSummary | dict[str, Any]) -> None:
        """``summary.json``; a dict is validated as a :class:`RunSummary` first. Every NaN value
        gets a reason in ``nan_reasons``, found from the predictions written before it."""
        if not isinstance(summary, RunSummary):
            summary = RunSummary.from_dict(summary, "summary")
        if summary._nan_paths():
            try:
                preds, base = self.predictions(), self.baselines()
            except AffectlabError:
                preds, base = None, None
            summary = summary.model_copy(deep=True).explain_nans(preds, base)
        write_json(self.path / SUMMARY, summary.to_dict())

    # ------------------------------------------------------------------ reading
    def config(self) -> RunConfig:
        """The resolved config: ``config.yaml``, else the one stored in the checkpoint."""
        if (self.path / CONFIG).is_file():
            return validate_config(read_yaml(self.path / CONFIG), str(self.path / CONFIG), unread_keys=False)
        return validate_config(self.config_dict(), str(self.path / CHECKPOINT), unread_keys=False)

    def config_dict(self) -> dict[str, Any]:
        """The config as plain data, as written (``config.yaml`` or the checkpoint's)."""
        if (self.path / CONFIG).is_file():
            return read_yaml(self.path / CONFIG)
        raw = self.checkpoint().get("config")
        if not isinstance(raw, dict):
            raise AffectlabError(f"{self.path}: no config.yaml and the checkpoint holds no config")
        return raw

    def summary(self) -> RunSummary:
        return RunSummary.read(self.path / SUMMARY)

    def predictions(self) -> pd.DataFrame | None:
        """``predictions.csv`` (None when absent or empty; a one-line error when it has no split or id)."""
        return _read_csv(self.path / PREDICTIONS, ("split", "id"))

    def history(self) -> pd.DataFrame | None:
        """``metrics.csv`` (per-epoch rows; epochs, losses and scores checked to be numbers), or None."""
        return _check_numeric(_read_csv(self.path / METRICS), self.path / METRICS)

    def baselines(self) -> pd.DataFrame | None:
        return _read_csv(self.path / BASELINES, ("split", "id", "baseline"))

    def checkpoint(self) -> dict[str, Any]:
        return load_checkpoint(self.path / CHECKPOINT)

    def model_checkpoint(self) -> dict[str, Any]:
        """The checkpoint, refused in one line when it holds no model (a scores-only trial)."""
        ckpt = self.checkpoint()
        if ckpt.get("state") is None:
            raise AffectlabError(f"{self.path}: a scores-only run (a sweep or ablation trial): it holds the protocol's "
                                 "scores but no model refitted on all data; train its config (affectlab train) for a "
                                 "model that predicts")
        return ckpt


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything evaluate/compare/report read from a run directory, as a dict.

    Keys: ``path``, ``summary`` (the JSON as written, a dict), ``run_summary`` (the same as a
    :class:`RunSummary`), ``config`` (dict), ``predictions``, ``history`` (metrics.csv) and
    ``baselines`` (DataFrames; None when the file is absent or empty).
    """
    run = RunDir.open(run_dir)
    raw = read_json_object(run.path / SUMMARY)  # read once: the typed summary is made from the same data
    typed = RunSummary.from_dict(raw, str(run.path / SUMMARY))
    config = run.config_dict()
    predictions = run.predictions()
    if predictions is not None:  # the summary's targets must be the ones predicted
        for name in typed.target_names():
            if f"pred_{name}" not in predictions.columns:
                raise AffectlabError(f"{run.path / PREDICTIONS}: no column 'pred_{name}' for target {name!r} of "
                                     f"{SUMMARY} (files of different runs?)")
    return {"path": run.path, "summary": raw, "run_summary": typed, "config": config,
            "predictions": predictions, "history": run.history(), "baselines": run.baselines()}


class RunRecorder:
    """Writes one run directory; used by training and transfer alike.

    ``RunRecorder(out, overwrite=..., resume=...)`` checks ``out`` at once (no side effects);
    :meth:`start` creates or clears it; the ``write_*`` methods of :attr:`run` write files
    atomically; :meth:`finish` writes ``summary.json`` last. With ``staged=True`` everything goes
    to a hidden folder beside ``out`` and :meth:`finish` moves it into place, so a run that fails
    half-way leaves ``out`` exactly as it was (:meth:`discard` removes the staging folder).
    :meth:`for_training` stages the files but keeps a network's resume checkpoints in
    ``out/lightning`` (``--resume`` looks there): a training that fails, is refused or is ended by a
    signal leaves at most that folder, which counts as empty. Used as a context manager, an
    exception (Ctrl-C and ``SystemExit`` included) removes the staging folder.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> rec = RunRecorder(out, staged=True)
    >>> rec.start().write_text("notes.md", "hi")
    >>> out.exists()
    False
    >>> rec.finish(RunSummary(task="regression", model="global_mean")) == out, is_run_dir(out)
    (True, False)
    >>> sorted(p.name for p in out.iterdir())
    ['notes.md', 'summary.json']
    """

    def __init__(self, out: str | Path, *, overwrite: bool = False, resume: bool = False, staged: bool = False,
                 checkpoints_in_out: bool = False) -> None:
        self.out = check_run_out(out, overwrite=overwrite, resume=resume)
        check_writable(self.out / SUMMARY)  # a read-only mount or no permission: one line before any work
        self.overwrite, self.resume, self.staged = overwrite, resume, staged
        self.checkpoints_in_out = checkpoints_in_out
        self._run: RunDir | None = None

    @classmethod
    def for_training(cls, out: str | Path, *, overwrite: bool = False, resume: bool = False) -> "RunRecorder":
        """The recorder of ``train``: files staged beside ``out`` and moved in by :meth:`finish`,
        Lightning's resume checkpoints in ``out/lightning`` (see the class docstring)."""
        return cls(out, overwrite=overwrite, resume=resume, staged=True, checkpoints_in_out=True)

    @property
    def work_dir(self) -> Path:
        """Where a network keeps Lightning checkpoints: the run folder itself, so a run that
        crashes can be continued with ``--resume`` (staged runs without ``checkpoints_in_out``:
        the staging folder)."""
        return self._staging() if self.staged and not self.checkpoints_in_out else self.out

    def _staging(self) -> Path:
        return self.out.parent / f".{self.out.name}.tmp-{os.getpid()}"

    def start(self) -> RunDir:
        """Create (or clear, with ``overwrite``) the folder that receives the files."""
        if self._run is None:
            if self.staged:
                tmp = self._staging()
                if tmp.exists():
                    shutil.rmtree(tmp)
                self._run = RunDir.create(tmp)
            else:
                self._run = RunDir.create(self.out, overwrite=self.overwrite, resume=self.resume)
        return self._run

    @property
    def run(self) -> RunDir:
        return self.start()

    def finish(self, summary: RunSummary | dict[str, Any]) -> Path:
        """Write ``summary.json`` (last), move a staged run into place; returns the run folder."""
        run = self.start()
        run.write_summary(summary)
        if self.staged:
            # re-check: another process may have written to out while this run was working
            check_run_out(self.out, overwrite=self.overwrite, resume=self.resume)
            if self.out.is_dir():
                if self.overwrite:  # the old run's files (check_run_out: nothing else is there)
                    for entry in self.out.iterdir():
                        if not (self.checkpoints_in_out and entry.name == LIGHTNING):
                            _remove(entry)
                for entry in run.path.iterdir():
                    if entry.name != SUMMARY:
                        _replace(entry, self.out / entry.name)
                os.replace(run.path / SUMMARY, self.out / SUMMARY)
                run.path.rmdir()
            else:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                os.replace(run.path, self.out)
            self._run = RunDir(self.out)
        return self.out

    def record(self, outcome: Outcome) -> Path:
        """Write everything a protocol run produced (:class:`~affectlab.runs.outcome.Outcome`): predictions,
        baselines, per-epoch metrics, extra tables and texts, the checkpoint of the final model, the
        config, and ``summary.json`` last; returns the run folder."""
        run = self.start()
        run.write_predictions(outcome.predictions)
        if outcome.baselines is not None:
            run.write_baselines(outcome.baselines)
        run.write_metrics(outcome.history)
        for name, table in outcome.tables.items():
            run.write_table(name, table)
        for name, text in outcome.texts.items():
            run.write_text(name, text)
        ck = outcome.checkpoint
        if outcome.final is not None or ck.get("model"):
            # no final model (a scores-only trial): the checkpoint keeps the config and targets, state None
            run.write_checkpoint(ck["model"], ck["params"], ck["targets"],
                                 None if outcome.final is None else outcome.final.state(), ck.get("features"),
                                 config=ck.get("config"))
        if ck.get("config") is not None:
            run.write_config(ck["config"])
        return self.finish(outcome.summary)

    def discard(self) -> None:
        """Remove a staging folder (staged runs); the run folder itself is left alone."""
        if self.staged and self._staging().exists():
            shutil.rmtree(self._staging(), ignore_errors=True)
        self._run = None

    def __enter__(self) -> "RunRecorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if isinstance(exc, AffectlabError) and self.staged:  # a file is named where it was to be: in --out
            exc.args = (str(exc).replace(str(self._staging()), str(self.out)),)
        if exc_type is not None or (self.staged and self._run is not None and self._run.path != self.out):
            self.discard()


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()


def _replace(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst``, replacing a file or a whole folder (``os.replace`` alone cannot
    replace a non-empty folder, e.g. a resumed run's ``folds/``)."""
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    os.replace(src, dst)


__all__ = ["RunDir", "RunRecorder", "check_predictions", "check_run_out", "file_sha256", "is_run_dir", "load_checkpoint", "load_run",
           "require_run_dir", "save_checkpoint", "CONFIG", "SUMMARY", "CHECKPOINT", "METRICS", "PREDICTIONS",
           "BASELINES"]
