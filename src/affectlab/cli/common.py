"""Small helpers shared by command modules: consoles, printing lines, notes and JSON."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def say(line: str, *, markup: bool = False, err: bool = False) -> None:
    """Print one line as it is: never split (a run id or a path stays whole), no highlighting."""
    (err_console if err else console).print(line, markup=markup, highlight=False, emoji=False, soft_wrap=True)


def print_notes(lines: list[str]) -> None:
    """Print one-line notes (warnings, facts) to stderr."""
    for line in lines:
        err_console.print(f"[yellow]note:[/yellow] {escape(line)}", highlight=False, emoji=False, soft_wrap=True)


def jsonable(value: Any) -> Any:
    """Plain JSON data: paths and other objects as strings, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return str(value)


def print_json(obj: Any) -> None:
    """The ``--json`` output: one JSON object on stdout."""
    sys.stdout.write(json.dumps(jsonable(obj), indent=2) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """With ``--json``, everything a command (or a library) prints while working goes to stderr,
    so that stdout holds the JSON object and nothing else."""
    if not active:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def file_progress(quiet: bool) -> "tuple[Any, Callable[[int, int], None]]":
    """A transient "extracting ... files" bar on stderr (none in logs, pipes or with ``quiet``) and
    the ``progress(done, total)`` callback that drives it; use the bar as a context manager."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("extracting"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=True,
                        disable=quiet or not err_console.is_terminal)
    task_id = None

    def on_progress(done: int, total: int) -> None:
        nonlocal task_id
        if task_id is None:
            task_id = progress.add_task("files", total=total)
        progress.update(task_id, completed=done)

    return progress, on_progress
