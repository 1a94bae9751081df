"""Tables that never cut a number or a name, on a terminal or in a file.

Every command prints its tables through :func:`print_table`:

- on a terminal wide enough, the rich table as built, with no column shrunk (no ``…``);
- on a terminal too narrow, the table split into several narrower ones (the leading label
  columns repeated in each), so that every cell keeps its full width;
- when the output is not a terminal (piped or redirected), a plain aligned text layout (ASCII, no
  box drawing, no colour), split the same way at the console's width, unless the label columns
  alone take half of it (then one table on longer lines: a file has no width).

Only columns named in ``prose`` (free text such as messages) may wrap, and then only at spaces;
a single value wider than the whole console is printed on a longer line rather than broken.
"""

from __future__ import annotations

import copy
from typing import Iterable, Sequence

from rich.box import Box
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Column, Table
from rich.text import Text

#: the plain layout: a dashed line under the header, columns separated by spaces, nothing else
PLAIN = Box(
    "    \n"
    "    \n"
    " -- \n"
    "    \n"
    "    \n"
    "    \n"
    "    \n"
    "    \n",
    ascii=True,
)


def _plain(cell: RenderableType, console: Console) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return console.render_str(cell).plain
    return str(cell)


def _width(text: str, words: bool = False) -> int:
    from rich.cells import cell_len

    lines = text.splitlines() or [""]
    if words:
        return max((cell_len(w) for line in lines for w in line.split()), default=0)
    return max(cell_len(line) for line in lines)


def _column_widths(table: Table, console: Console, prose: Iterable[str]) -> tuple[list[int], list[bool]]:
    """Per column: the width it needs (the longest word for prose columns) and whether it may wrap."""
    prose = set(prose)
    widths, wraps = [], []
    for column in table.columns:
        header = _plain(column.header, console)
        wrap = header in prose
        cells = [header] + [_plain(c, console) for c in column._cells]
        widths.append(max(_width(c, words=wrap) for c in cells))
        wraps.append(wrap)
    return widths, wraps


def _chunks(widths: list[int], keep: int, room: int, overhead, groups: Sequence[object] | None = None) -> list[list[int]]:  # noqa: ANN001
    """Column indices of each narrower table: the first ``keep`` columns, then as many more as fit.

    With ``groups`` (one label per column, e.g. the split), whole runs of equal labels are kept
    together where they fit, so that a part holds, say, all of one split's columns."""
    n = len(widths)
    keep = max(0, min(keep, n - 1))
    label = list(range(keep))
    runs: list[list[int]] = []
    for i in range(keep, n):
        if groups is not None and runs and groups[runs[-1][-1]] == groups[i]:
            runs[-1].append(i)
        else:
            runs.append([i])

    def fits(columns: list[int]) -> bool:
        trial = label + columns
        return sum(widths[j] for j in trial) + overhead(len(trial)) <= room

    chunks: list[list[int]] = []
    current: list[int] = []
    for run in runs:
        if fits(current + run):
            current += run
            continue
        if fits(run):  # the group starts a part of its own
            chunks.append(label + current)
            current = list(run)
            continue
        for i in run:  # a group wider than the room: column by column
            if current and not fits(current + [i]):
                chunks.append(label + current)
                current = []
            current.append(i)
    chunks.append(label + current)
    return chunks


def print_table(table: Table, console: Console | None = None, *, keep: int = 1, prose: Sequence[str] = (),
                groups: Sequence[object] | None = None) -> None:
    """Print ``table`` so that every number and name appears in full (see the module's notes).

    ``keep``: how many leading columns label a row (repeated in every part of a split table);
    ``prose``: headers of free-text columns that may wrap at spaces;
    ``groups``: one label per column; a split keeps neighbouring columns of one label together.
    """
    if console is None:
        from .common import console as default

        console = default
    if not table.columns:
        return
    plain = not console.is_terminal
    widths, wraps = _column_widths(table, console, prose)
    _, pad_right, _, pad_left = Padding.unpack(table.padding)
    pad = pad_left + pad_right
    if plain:
        pad = 2  # one space either side of the column divider (the box's blank vertical)

        def overhead(n: int) -> int:
            return (pad + 1) * (n - 1)
    else:
        edge = 2 if table.box and table.show_edge else 0

        def overhead(n: int) -> int:
            return pad * n + ((n - 1) if table.box else 0) + edge

    room = console.width
    keep = max(0, min(keep, len(widths) - 1))
    if plain and sum(widths[:keep]) + overhead(keep + 1) > room // 2:
        room = sum(widths) + overhead(len(widths))  # labels too wide to repeat: one table on longer lines
    chunks = _chunks(widths, keep, room, overhead, groups)
    for number, indices in enumerate(chunks):
        part = copy.copy(table)
        part.columns = []
        for position, i in enumerate(indices):
            column: Column = copy.copy(table.columns[i])
            column._index = position  # rich pads the first and last columns by their index
            column.no_wrap = not wraps[i]
            column.overflow = "fold"
            column.min_width = None if wraps[i] else widths[i]
            part.columns.append(column)
        title = table.title
        if title is not None and len(chunks) > 1:
            title = f"{_plain(title, console)} ({number + 1} of {len(chunks)})"
        need = sum(widths[i] for i in indices) + overhead(len(indices))
        width = max(room, need)  # one value wider than the console: a longer line, never a broken value
        if plain:
            part.box = PLAIN
            part.show_edge = False
            part.pad_edge = False
            part.padding = (0, 1)
            part.show_lines = False
            part.title = None
            part.caption = None
            if number:
                console.print()
            if title is not None:
                console.print(_plain(title, console), markup=False, highlight=False, emoji=False, soft_wrap=True)
            with console.capture() as capture:
                _print_wide(console, part, width)
            for line in capture.get().splitlines():
                console.print(line.rstrip(), markup=False, highlight=False, emoji=False, soft_wrap=True)
            if number == len(chunks) - 1:
                console.print()  # tables apart from what follows
        else:
            if title is not None and _width(_plain(title, console)) > need:  # a title wider than its table: one line
                console.print(Text(_plain(title, console), style="table.title"), soft_wrap=True)
                title = None
            part.title = title
            _print_wide(console, part, width)


def _print_wide(console: Console, renderable: RenderableType, width: int) -> None:
    """Print at ``width`` even when that is wider than the console (rich would shrink the table)."""
    if width <= console.width:
        console.print(renderable)
        return
    saved = console._width  # the width the console was made with (None: detected)
    console.width = width
    try:
        console.print(renderable)
    finally:
        console._width = saved
