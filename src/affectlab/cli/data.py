"""``affectlab data``: built-in data sets (fetch, list, path)."""

from __future__ import annotations

import typer

from .app import app

data_app = typer.Typer(help="Built-in data sets: fetch them into the cache, list them, find them.", no_args_is_help=True)
app.add_typer(data_app, name="data")
