"""pydantic's validation errors as the one line a user reads.

>>> from pydantic import BaseModel, ValidationError
>>> class P(BaseModel):
...     k: int
>>> try:
...     P.model_validate({"k": "x"})
... except ValidationError as e:
...     print(validation_line(e))
k: Input should be a valid integer, unable to parse string as an integer (got 'x')
"""


import re
from typing import Any

from pydantic import ValidationError


#: pydantic's location tags of union members and validators, left out of the one-line message
_TAG = re.compile(r"^(int|float|str|bool|list|dict|tuple|none|literal\[.*\]|[a-z-]+\[.*\]|function-.*|constrained-.*|"
                  r"is-instance\[.*\]|lax-.*|json-or-python\[.*\])$")


def validation_line(err: ValidationError) -> str:
    """pydantic's first error as ``where: message (got value)``.

    >>> from typing import Literal
    >>> from pydantic import BaseModel
    >>> class P(BaseModel):
    ...     hidden: int = 3
    ...     cell: Literal["lstm", "gru"] = "lstm"
    >>> def line(**kw):
    ...     try:
    ...         P.model_validate(kw)
    ...     except ValidationError as e:
    ...         return validation_line(e)
    >>> line(hidden="abc")
    "hidden: Input should be a valid integer, unable to parse string as an integer (got 'abc')"
    >>> line(cell="transformer")
    "cell must be one of lstm, gru, not 'transformer'"
    """
    errors = err.errors()

    def path(e: Any) -> list:
        return [p for p in e["loc"] if not (isinstance(p, str) and _TAG.match(p))]

    # one error per union member: the member that got furthest (e.g. into a list) says most
    same = [e for e in errors if path(e)[:1] == path(errors[0])[:1]]
    first = max(same, key=lambda e: len(path(e)))
    where = ".".join(str(p) for p in path(first))
    tied = [e for e in same if len(path(e)) == len(path(first))]
    if len(tied) > 1 and all(e["msg"].startswith("Input should be ") for e in tied):  # no member fits: say each
        wants = dict.fromkeys(e["msg"].removeprefix("Input should be ") for e in tied)
        first = {**first, "type": "union", "msg": "Input should be " + " or ".join(wants)}
    if first["type"] == "literal_error" and where:
        expected = re.findall(r"'([^']*)'|(-?[\w.]+)", str(first.get("ctx", {}).get("expected", "")))
        names = [a or b for a, b in expected if (a or b) != "or"]
        return f"{where} must be one of {', '.join(names)}, not {first['input']!r}"
    msg = re.sub(r" or instance of \w+$", "", first["msg"].removeprefix("Value error, "))
    if not where:
        return msg
    got = ""
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        shown = repr(first["input"])
        got = f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    return f"{where}: {msg}{got}"
