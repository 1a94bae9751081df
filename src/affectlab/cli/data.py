"""``affectlab data``: built-in data sets (fetch, list, path).

- ``affectlab data fetch NAME [--cache DIR] [--source DIR|ZIP] [--url URL] [--force]``
- ``affectlab data list [--cache DIR]``
- ``affectlab data path NAME [--cache DIR]``
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .app import app
from .common import console, err_console

data_app = typer.Typer(help="Built-in data sets: fetch them into the cache, list them, find them.", no_args_is_help=True)
app.add_typer(data_app, name="data")

CACHE_HELP = "Cache folder (default: $AFFECTLAB_CACHE or ~/.cache/affectlab)."


@data_app.command("fetch")
def fetch_command(
    name: str = typer.Argument(..., help="Data set name (see 'affectlab data list')."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP),
    source: Optional[Path] = typer.Option(None, "--source", help="Copy from a local folder or zip instead of downloading."),
    url: Optional[str] = typer.Option(None, "--url", help="Download the archive (a zip) from this URL instead of the default."),
    force: bool = typer.Option(False, "--force", help="Fetch again even if the cache already holds verified files."),
) -> None:
    """Download a data set (or copy it from --source) into the cache, verifying every file's sha256."""
    from ..corpus.datasets import fetch

    result = fetch(name, cache, source=source, url=url, force=force,
                   say=lambda line: err_console.print(line, highlight=False, soft_wrap=True))
    if result.already_cached:
        console.print(f"{result.name} is already cached (verified) in {result.path}", highlight=False, soft_wrap=True)
    else:
        console.print(f"{result.name}: {len(result.files)} files verified and cached in {result.path}",
                      highlight=False, soft_wrap=True)


@data_app.command("list")
def list_command(cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP)) -> None:
    """List the built-in data sets, their licences, and whether they are cached (and where)."""
    from ..corpus.datasets import list_datasets

    table = Table(title="Built-in data sets")
    for column in ("name", "description", "licence", "cached", "where"):
        table.add_column(column, overflow="fold")
    for row in list_datasets(cache):
        table.add_row(str(row["name"]), str(row["description"]), str(row["licence"]),
                      "yes" if row["cached"] else "no", str(row["path"]) if row["cached"] else f"(would be {row['path']})")
    console.print(table)


@data_app.command("path")
def path_command(
    name: str = typer.Argument(..., help="Data set name."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP),
) -> None:
    """Print the cached folder of a data set (exit 2 if it is not cached)."""
    from ..corpus.datasets import dataset_path

    print(dataset_path(name, cache))
