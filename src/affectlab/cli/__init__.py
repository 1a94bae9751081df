"""Command-line interface: a thin layer that parses, calls one library function, prints.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback), 1 a bug; a
signal ends a command with 128 + its number after cleanup (the POSIX shell convention): Ctrl-C
(SIGINT) 130, SIGTERM 143, SIGHUP 129.
Each command group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
import types
from typing import Iterator, Sequence

import click
import typer

from .. import progress
from ..core.errors import AffectlabError
from .app import app

_typer_click: types.ModuleType
try:  # typer >= 0.24 bundles its own copy of click, whose exceptions are not click's
    from typer._click import exceptions as _typer_click
except ImportError:  # older typer uses click itself
    _typer_click = click.exceptions

USAGE_ERRORS: tuple[type[click.exceptions.UsageError], ...] = tuple({click.exceptions.UsageError, _typer_click.UsageError})
CLICK_ERRORS: tuple[type[click.exceptions.ClickException], ...] = tuple({click.exceptions.ClickException,
                                                                        _typer_click.ClickException})
ABORTS = tuple({click.exceptions.Abort, typer.Abort})

# Command modules, imported for their side effect of registering commands on ``app``.
COMMAND_MODULES = ("data", "train", "predict", "evaluate", "demo", "compare", "report", "sweep", "extract", "transfer", "ablate")
for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


@contextlib.contextmanager
def _terminate_like_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end a command as Ctrl-C does: cleanup runs (temporary files removed,
    worker processes stopped) and the exit code is 128 + the signal (143, 129), instead of an instant death
    that leaves temporary files behind. The previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        print(f"affectlab: terminated ({signal.Signals(signum).name})", file=sys.stderr)
        raise SystemExit(128 + signum)

    saved = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            saved[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``affectlab`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with _terminate_like_interrupt():
            progress.mode()  # AFFECTLAB_PROGRESS checked before any work
            result = app(args=args, prog_name="affectlab", standalone_mode=False)
    except AffectlabError as err:
        print(f"affectlab: error: {err}", file=sys.stderr)
        sys.exit(2)
    except USAGE_ERRORS as err:
        message = err.format_message()
        if message:  # empty when the help text was shown instead (a bare command)
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            print(f"affectlab: error: {message}{hint}".replace("\n", " "), file=sys.stderr)
        sys.exit(2)
    except CLICK_ERRORS as err:
        print(f"affectlab: error: {err.format_message()}".replace("\n", " "), file=sys.stderr)
        sys.exit(2)
    except ABORTS:
        print("affectlab: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("affectlab: interrupted", file=sys.stderr)
        sys.exit(130)
    if result == 130:  # typer turns Ctrl-C into a silent Exit(130), returned here (standalone_mode=False)
        print("affectlab: interrupted", file=sys.stderr)
    sys.exit(result if isinstance(result, int) else 0)
