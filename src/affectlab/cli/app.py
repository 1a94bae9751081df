"""The typer application object that every command module attaches its commands to."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


def _flags_as_flags(params: list) -> list:
    """Help lists boolean flags as ``--json``, not ``--json <bool>`` (typer shows a type for every option)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Group(TyperGroup):
    """The ``affectlab`` group: its commands and sub-groups, however registered, show flags as flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _adopt(self)

    def get_params(self, ctx: Any) -> list:
        return _flags_as_flags(super().get_params(ctx))


def _adopt(group: TyperGroup) -> None:
    """Give every command below ``group`` the flag display (typer's classes allow no re-classing)."""
    for command in group.commands.values():
        if not isinstance(command, Group) and "get_params" not in vars(command):
            original = command.get_params
            # an instance attribute in front of the class's method (typer builds the command objects)
            setattr(command, "get_params", lambda ctx, _original=original: _flags_as_flags(_original(ctx)))
        if isinstance(command, TyperGroup):
            _adopt(command)


app = typer.Typer(
    name="affectlab",
    help="Affect regression research: train, predict, evaluate and compare, honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"affectlab {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
) -> None:
    """Affect regression research: train, predict, evaluate and compare, honestly."""
