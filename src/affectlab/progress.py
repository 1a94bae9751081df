"""Progress and timing for long steps, on stderr (stdout stays clean for ``--json``).

Three modes, chosen once per process (:func:`mode`):

- ``bar``: a rich progress bar with ETA (stderr is a terminal, and stdout is not redirected to
  it, as ``--json`` does);
- ``lines``: plain one-line messages, at most one every :data:`LINE_EVERY` seconds per task,
  plus each finished step that took at least :data:`MIN_STEP_SECONDS` (logs, pipes, ``--json``);
- ``off``: nothing.

``AFFECTLAB_PROGRESS=bar|lines|off`` overrides the choice; :func:`configure` sets it from code.

>>> eta_text(100)
'1:40'
>>> epoch_line(7, 40, 3.1)
'epoch 7/40  3.1 s/epoch  ETA 1:42'
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Callable, Iterator, Literal

Mode = Literal["bar", "lines", "off"]

#: seconds between two progress lines of one task in ``lines`` mode
LINE_EVERY = 10.0
#: a finished step is reported when it took at least this long (``lines`` mode; ``bar`` shows all)
MIN_STEP_SECONDS = 2.0

_mode: Mode | None = None


def configure(mode: Mode | None) -> None:
    """Fix the mode for this process (``None``: choose again from the environment)."""
    global _mode
    if mode not in (None, "bar", "lines", "off"):
        raise ValueError(f"progress mode {mode!r}: expected bar, lines or off")
    _mode = mode


def mode() -> Mode:
    """The current mode (see the module docstring)."""
    if _mode is not None:
        return _mode
    raw = os.environ.get("AFFECTLAB_PROGRESS", "")
    env = raw.strip().lower()
    if env in ("bar", "lines", "off"):
        return env  # type: ignore[return-value]
    if env:  # a typo must not silently fall back to the automatic choice
        from .core.errors import AffectlabError

        raise AffectlabError(f"AFFECTLAB_PROGRESS={raw!r}: expected bar, lines or off")
    if sys.stdout is sys.stderr:  # ``--json`` redirects stdout to stderr while working: no live bar
        return "lines"
    try:
        return "bar" if sys.stderr.isatty() else "lines"
    except (AttributeError, ValueError):
        return "lines"


def _console():
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, emoji=False, soft_wrap=True)


def say(line: str) -> None:
    """One line on stderr (unless ``off``)."""
    if mode() != "off":
        print(line, file=sys.stderr, flush=True)


def eta_text(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration; ``?`` when unknown."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def epoch_line(epoch: int, total: int | None, seconds_per_epoch: float) -> str:
    """``epoch 7/40  3.1 s/epoch  ETA 1:42`` (ETA up to the last allowed epoch)."""
    head = f"epoch {epoch}/{total}" if total else f"epoch {epoch}"
    eta = f"  ETA {eta_text((total - epoch) * seconds_per_epoch)}" if total else ""
    return f"{head}  {seconds_per_epoch:.1f} s/epoch{eta}"


class Task:
    """A counted task: ``advance(n)`` as work is done; a bar or periodic lines show it."""

    def __init__(self, label: str, total: int, unit: str) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.start = time.perf_counter()
        self._last_line = self.start
        self._bar: Any = None  # rich.progress.Progress while a bar is shown
        self._bar_task: Any = None

    def _open(self) -> None:
        if mode() == "bar":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn(self.unit), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                           console=_console(), transient=True)
            if start_live(bar):
                self._bar = bar
                self._bar_task = bar.add_task(self.label, total=self.total)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._bar_task, advance=n)
        elif mode() != "off":  # lines, or a bar that could not start (another live display runs)
            now = time.perf_counter()
            if now - self._last_line >= LINE_EVERY and self.done < self.total:
                self._last_line = now
                rate = self.done / max(now - self.start, 1e-9)
                eta = eta_text((self.total - self.done) / rate) if rate > 0 else "?"
                say(f"{self.label}: {self.done}/{self.total} {self.unit} ({rate:.1f} {self.unit}/s, ETA {eta})")

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


@contextlib.contextmanager
def track(label: str, total: int, unit: str = "items") -> Iterator[Task]:
    """A counted task for the duration of the block (bar or periodic lines on stderr)."""
    task = Task(label, total, unit)
    task._open()
    try:
        yield task
    finally:
        task._close()


def start_live(display) -> bool:
    """Start a rich live display (a bar); False when another one is already running (rich allows
    one at a time, e.g. ``extract``'s own bar): the caller then prints lines instead."""
    from rich.errors import LiveError

    try:
        display.start()
    except LiveError:
        return False
    return True


@contextlib.contextmanager
def step(label: str, report: Callable[[str], None] | None = None) -> Iterator[dict]:
    """Time a step; at its end say ``<label>: 3.1 s`` (in ``lines`` mode only when it took at
    least :data:`MIN_STEP_SECONDS`). No live display of its own, so the bars of what runs inside
    (epochs, encoding) can show. The yielded dict gets ``seconds`` once the step is over."""
    info: dict = {}
    start = time.perf_counter()
    yield info
    info["seconds"] = seconds = time.perf_counter() - start
    if mode() == "bar" or (mode() == "lines" and seconds >= MIN_STEP_SECONDS):
        (report or say)(f"{label}: {seconds:.1f} s")
