"""One-line messages for the user (warnings and facts) collected by a flow and printed by the CLI.

>>> notes = Notes()
>>> notes.add("3 users have a single text")
>>> notes.lines
['3 users have a single text']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("affectlab")


@dataclass
class Notes:
    """One-line messages for the user, in the order they were said."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        log.info(line)
