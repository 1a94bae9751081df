"""Command-line interface: a thin layer that parses, calls one library function, prints.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback), 1 a bug.
Each command group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

import click

from ..errors import AffectlabError
from .app import app

# Command modules, imported for their side effect of registering commands on ``app``.
COMMAND_MODULES = ("data", "train", "predict", "evaluate", "demo", "compare", "report", "sweep", "extract", "transfer")
for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``affectlab`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="affectlab", standalone_mode=False)
    except AffectlabError as err:
        print(f"affectlab: error: {err}", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.UsageError as err:
        hint = f" (see 'affectlab {err.ctx.command_path.split(' ', 1)[-1]} --help')" if err.ctx else ""
        print(f"affectlab: error: {err.format_message()}{hint}".replace("\n", " "), file=sys.stderr)
        sys.exit(2)
    except click.exceptions.ClickException as err:
        print(f"affectlab: error: {err.format_message()}".replace("\n", " "), file=sys.stderr)
        sys.exit(2)
    except click.exceptions.Abort:
        print("affectlab: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("affectlab: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
