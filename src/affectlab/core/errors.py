"""The one exception type that means "the user gave us something we cannot use".

The CLI turns an :class:`AffectlabError` into one line on stderr and exit code 2; anything
else is a bug (exit code 1).

>>> try:
...     raise AffectlabError("data.csv: missing column 'valence'")
... except AffectlabError as err:
...     str(err)
"data.csv: missing column 'valence'"
"""

from __future__ import annotations


class AffectlabError(Exception):
    """A user-facing error: bad input, bad config or bad usage. Its message is one line."""

    def __init__(self, message: str) -> None:
        # Keep it to one line whatever the caller passed: the CLI prints it as is.
        super().__init__(" ".join(str(message).split()))
