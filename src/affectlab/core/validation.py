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


import difflib
import re
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError


#: pydantic's location tags of union members and validators, left out of the one-line message
_TAG = re.compile(r"^(int|float|str|bool|list|dict|tuple|none|literal\[.*\]|[a-z-]+\[.*\]|function-.*|constrained-.*|"
                  r"is-instance\[.*\]|lax-.*|json-or-python\[.*\])$")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (through Optional, unions, lists, dicts, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def known_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys ``model`` accepts at ``loc`` (the path of the mapping that holds the unknown key).

    Positions that are no field (a list index, a dict key, a union tag) keep the models found so far.

    >>> from pydantic import BaseModel
    >>> class Inner(BaseModel):
    ...     patience: int = 3
    >>> class Outer(BaseModel):
    ...     training: Inner | None = None
    ...     per_target: dict[str, Inner] = {}
    >>> known_keys(Outer, ()), known_keys(Outer, ("training",)), known_keys(Outer, ("per_target", "valence"))
    (['training', 'per_target'], ['patience'], ['patience'])
    """
    models = [model]
    for part in loc:
        inner = [m for owner in models if isinstance(part, str) and part in owner.model_fields
                 for m in _models_in(owner.model_fields[part].annotation)]
        if inner:
            models = inner
    names: list[str] = []
    for m in models:
        for name, field in m.model_fields.items():
            names += [name] + ([field.alias] if field.alias else [])
    return list(dict.fromkeys(names))


def did_you_mean(error: Any, model: type[BaseModel] | None) -> str:
    """`` (did you mean `key`?)`` for a pydantic ``extra_forbidden`` error whose key is close to one
    that ``model`` accepts at that place; ``""`` otherwise.

    >>> from pydantic import BaseModel, ConfigDict
    >>> class Training(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     patience: int = 3
    >>> class Run(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     training: Training = Training()
    >>> try:
    ...     Run.model_validate({"training": {"patince": 5}})
    ... except ValidationError as e:
    ...     print(did_you_mean(e.errors()[0], Run))
     (did you mean `patience`?)
    """
    if model is None or error.get("type") != "extra_forbidden" or not error.get("loc"):
        return ""
    *where, key = error["loc"]
    return closest(key, known_keys(model, where))


def first_error(errors: Sequence[Any], model: type[BaseModel] | None) -> Any:
    """The error to say: the first, unless it is a missing key that a misspelt one beside it stands for
    (``targets: [{nmae: v}]``: say ``nmae`` and `did you mean `name`?`, not ``name: Field required``).

    >>> from pydantic import BaseModel, ConfigDict
    >>> class T(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     name: str
    >>> try:
    ...     T.model_validate({"nmae": "v"})
    ... except ValidationError as e:
    ...     first = first_error(e.errors(), T)
    >>> first["loc"], did_you_mean(first, T)
    (('nmae',), ' (did you mean `name`?)')
    """
    head = errors[0]
    if head.get("type") == "missing" and model is not None:
        *where, key = head["loc"] or ("",)
        for e in errors:
            if e.get("type") == "extra_forbidden" and list(e["loc"][:-1]) == where \
                    and did_you_mean(e, model) == f" (did you mean `{key}`?)":
                return e
    return head


def closest(key: Any, known: Sequence[str]) -> str:
    """`` (did you mean `name`?)`` for the known name closest to a misspelt ``key``; ``""`` when none is close.

    >>> closest("hiden", ["dropout", "hidden"]), closest("xyz", ["dropout", "hidden"])
    (' (did you mean `hidden`?)', '')
    """
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def validation_line(err: ValidationError, model: type[BaseModel] | None = None) -> str:
    """pydantic's first error as ``where: message (got value)``.

    >>> from typing import Literal
    >>> from pydantic import BaseModel
    >>> class P(BaseModel):
    ...     hidden: int = 3
    ...     cell: Literal["lstm", "gru"] = "lstm"
    ...     model_config = {"extra": "forbid"}
    >>> def line(**kw):
    ...     try:
    ...         P.model_validate(kw)
    ...     except ValidationError as e:
    ...         return validation_line(e, P)
    >>> line(hidden="abc")
    "hidden: Input should be a valid integer, unable to parse string as an integer (got 'abc')"
    >>> line(cell="transformer")
    "cell must be one of lstm, gru, not 'transformer'"
    >>> line(hiden=4)  # ``model``: the validated class, for the closest known key
    'hiden: Extra inputs are not permitted (did you mean `hidden`?)'
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
    if first["type"] == "extra_forbidden":
        return f"{where}: {msg}{did_you_mean(first, model)}"
    got = ""
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        shown = repr(first["input"])
        got = f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    return f"{where}: {msg}{got}"
