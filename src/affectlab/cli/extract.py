"""``affectlab extract CONFIG --media DIR --labels LABELS.csv --out OUT.pkl``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import typer

from ..core.errors import AffectlabError
from .app import app
from .common import file_progress, print_json, print_notes, say, stdout_to_stderr


@app.command()
def extract(
    config: Path = typer.Argument(..., help="Extraction YAML (see configs/extract/)."),
    media: Path = typer.Option(..., "--media", help="Folder the LABELS.csv file paths are relative to."),
    labels: Path = typer.Option(..., "--labels", help="CSV: file, group, optional start/end/text/split, targets."),
    out: Path = typer.Option(..., "--out", help="MMSA-format pickle to write."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Problem list (default: errors.csv beside OUT)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (overrides batch.workers)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="The feature cache, shared with text embeddings (default: $AFFECTLAB_CACHE or ~/.cache/affectlab)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every file; read and write no media cache."),
    allow_outside_media: bool = typer.Option(False, "--allow-outside-media", help="Read LABELS.csv files outside "
                                             "--media too (../, absolute paths, links); by default they are refused."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout (progress and notes go to stderr)."),
) -> None:
    """Extract voice, face and speech-to-text features from media files into an MMSA pickle."""
    from ..core.io import check_writable
    from ..features.extract import extract_dataset
    from ..features.extract_config import load_extract_config

    if workers is not None and workers < 1:
        raise AffectlabError(f"--workers {workers}: expected a positive number of processes")
    cfg = load_extract_config(config)
    if not out.is_dir():  # (a folder is named by extract_dataset) a read-only place is said now, not after every file
        check_writable(out)
        check_writable(errors if errors is not None else out.parent / "errors.csv")
    progress, on_progress = file_progress(quiet)
    with stdout_to_stderr(json_out), progress:
        summary = extract_dataset(cfg, media, labels, out, errors_path=errors, cache_dir=cache_dir, workers=workers,
                                  use_cache=not no_cache, progress=on_progress, allow_outside_media=allow_outside_media,
                                  config_path=str(config))
    failed = [p for p in summary.problems if p.status == "failed"]
    if failed:
        shown = failed[:3]
        print_notes([f"{p.file} (line {p.line}): {p.reason}" for p in shown]
                    + ([f"... and {len(failed) - len(shown)} more failed samples"] if len(failed) > len(shown) else []))
    if json_out:
        print_json({"out": summary.out, "errors": summary.errors_path if summary.problems else None,
                    "n_samples": summary.n_samples, "n_ok": summary.n_ok, "n_failed": summary.n_failed,
                    "n_masked": summary.n_masked, "n_files": summary.n_files, "n_files_ok": summary.n_files_ok,
                    "n_cached": summary.n_cached,
                    "problems": [dataclasses.asdict(p) for p in summary.problems]})
        return
    say(summary.line())
