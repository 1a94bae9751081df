"""The typer application object that every command module attaches its commands to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="affectlab",
    help="Affect regression research: train, predict, evaluate and compare, honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
