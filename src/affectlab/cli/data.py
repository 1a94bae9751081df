"""``affectlab data``: built-in data sets (fetch, list, path): SemEval-2026 Task 2 and the speech
emotion corpora (EmoDB, RAVDESS, CREMA-D, TESS, SAVEE, URDU, TurEV-DB, EMOVO, ShEMO), whose labels.csv is parsed
from the corpus's own file names.

- ``affectlab data fetch NAME [--cache DIR] [--source DIR|ZIP] [--url URL] [--force]``
- ``affectlab data list [--cache DIR]``
- ``affectlab data path NAME [--cache DIR]``
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from .app import app
from .common import print_json, say, stdout_to_stderr
from .tables import print_table

data_app = typer.Typer(help="Built-in data sets: fetch them into the cache, list them, find them.", no_args_is_help=True)
app.add_typer(data_app, name="data")

CACHE_HELP = "Cache folder (default: $AFFECTLAB_CACHE or ~/.cache/affectlab)."
JSON_HELP = "Print one JSON object on stdout instead of text."


@data_app.command("fetch")
def fetch_command(
    name: str = typer.Argument(..., help="Data set name (see 'affectlab data list')."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP),
    source: Optional[Path] = typer.Option(None, "--source", help="Copy from a local folder or zip instead of downloading."),
    url: Optional[str] = typer.Option(None, "--url", help="Download the archive (a zip) from this URL instead of the default."),
    force: bool = typer.Option(False, "--force", help="Fetch again even if the cache already holds verified files."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Download a data set (or copy it from --source) into the cache: SemEval's files are verified
    against pinned sha256 values; a speech corpus's recordings get a labels.csv parsed from their names."""
    from ..corpus.datasets import fetch

    with stdout_to_stderr(json_out):
        result = fetch(name, cache, source=source, url=url, force=force, say=lambda line: say(line, err=True))
    if json_out:
        print_json({"name": result.name, "path": result.path, "already_cached": result.already_cached,
                    "source": result.source, "files": result.files,
                    **({"summary": result.summary} if result.summary else {})})
    elif result.summary:  # a speech corpus: recordings, speakers, emotions
        say(result.summary)
    elif result.already_cached:
        say(f"{result.name} is already cached (verified) in {result.path}")
    else:
        say(f"{result.name}: {len(result.files)} files verified and cached in {result.path}")


@data_app.command("list")
def list_command(
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List the built-in data sets: licence, speakers, emotions, size, whether they download
    anonymously (else fetch needs --source), and whether they are cached (and where)."""
    from ..corpus.datasets import list_datasets

    rows = list_datasets(cache)
    if json_out:
        print_json({"datasets": rows})
        return
    table = Table(title="Built-in data sets")
    for column in ("name", "licence", "speakers", "emotions", "size", "download", "cached", "where"):
        table.add_column(column)
    for row in rows:
        table.add_row(Text(str(row["name"])), Text(str(row["licence"])), Text(str(row["speakers"] or "-")),
                      Text(str(row["emotions"] or "-")), Text(str(row["size"] or "-")), Text(str(row["download"])),
                      "yes" if row["cached"] else "no",
                      Text(str(row["path"]) if row["cached"] else f"(would be {row['path']})"))
    print_table(table, prose=("licence", "speakers", "emotions", "size", "where"))


@data_app.command("path")
def path_command(
    name: str = typer.Argument(..., help="Data set name."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Print the cached folder of a data set (exit 2 if it is not cached)."""
    from ..corpus.datasets import dataset_path

    path = dataset_path(name, cache)
    if json_out:
        print_json({"name": name, "path": path})
    else:
        print(path)
