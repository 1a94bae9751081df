"""The registries of this layer: data formats (:class:`Reader` specs) and built-in data sets.

A :class:`Reader` is a registered object, as a :class:`~affectlab.tasks.Task` is: its name, its
``data.options`` schema (``Options``), the targets its format implies when a config declares
none (SemEval: valence and arousal; MMSA and CSD: sentiment), ``read`` and ``read_gold``. A config
is checked against it before the data is read (:meth:`Reader.check_options`,
:meth:`Reader.default_targets`), without any module testing a format's name.

>>> import affectlab.corpus
>>> reader = get_reader("semeval")
>>> reader.name, reader.Options.__name__, [t.name for t in reader.default_targets]
('semeval', 'TableOptions', ['valence', 'arousal'])
>>> reader.check_options({"features": "f_*"}, "c.yaml").features
'f_*'
>>> get_reader("csv")
Traceback (most recent call last):
...
affectlab.core.errors.AffectlabError: unknown data format 'csv'; choose from: csd, mmsa, semeval, table
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..core.errors import AffectlabError
from ..core.registry import Registry
from ..core.validation import closest, validation_line
from .base import Corpus, TargetSpec


class ReaderOptions(BaseModel):
    """Base of every reader's ``data.options`` schema: typed keys, no unknown ones, finite numbers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


#: reader(path, DataConfig | None, *, require_labels) -> Corpus
ReadFn = Callable[..., Corpus]


@dataclass(frozen=True)
class Reader:
    """A registered data format (see the module docstring)."""

    name: str
    #: ``read(path, cfg: DataConfig | None, *, require_labels=False[, ignore_labels=False]) -> Corpus``
    read: ReadFn
    #: the ``data.options`` schema; None: options are passed on unchecked
    Options: type[ReaderOptions] | None = None
    #: the targets the format gives when the config declares none; (): only the data can tell
    default_targets: tuple[TargetSpec, ...] = ()
    #: whether ``read`` takes a pandas DataFrame as well as a path
    reads_frames: bool = False
    #: ``gold(path, cfg, **kw)``: the labels a prediction file is scored against; None: ``read`` with labels
    gold: Callable[..., Any] | None = None

    def __call__(self, path: str | Path | Any, cfg: Any = None, *, require_labels: bool = False,
                 ignore_labels: bool = False) -> Corpus:
        """Same as :meth:`read_corpus` (a Reader stands where a reader function stood)."""
        return self.read_corpus(path, cfg, require_labels=require_labels, ignore_labels=ignore_labels)

    def read_corpus(self, path: str | Path | Any, cfg: Any = None, *, require_labels: bool = False,
                    ignore_labels: bool = False) -> Corpus:
        """``path`` read into a :class:`Corpus` with ``cfg`` (a :class:`~affectlab.config.DataConfig`).

        ``ignore_labels`` (prediction): the file's labels are not read, so none can refuse the file
        (a class the model never saw, a value outside the range); the names of the targets whose
        labels were there are kept in ``corpus.meta["ignored_labels"]``. Passed on only when set,
        so a reader that predates it still reads files for training.
        """
        if ignore_labels:
            return self.read(path, cfg, require_labels=False, ignore_labels=True)
        return self.read(path, cfg, require_labels=require_labels)

    def read_gold(self, path: str | Path, cfg: Any = None, **kw: Any) -> Any:
        """The gold labels of ``path``: the format's own gold reader, else the corpus read with labels."""
        if self.gold is not None:
            return self.gold(path, cfg, **kw)
        return self.read(path, cfg, require_labels=True)

    def check_options(self, raw: Any, source: str) -> Any:
        """``raw`` (a config's ``data.options``) as an ``Options`` instance, or one line starting with
        ``source`` naming the key and the problem; without a schema, the options as a dict.

        >>> import affectlab.corpus
        >>> get_reader("table").check_options({"feature": ["f_*"]}, "c.yaml")
        Traceback (most recent call last):
        ...
        affectlab.core.errors.AffectlabError: c.yaml: unknown data.options feature for format table (known: features, trust_pickle) (did you mean `features`?)
        >>> get_reader("table").check_options({"features": 3}, "c.yaml")
        Traceback (most recent call last):
        ...
        affectlab.core.errors.AffectlabError: c.yaml: data.options.features: Input should be a valid string or a valid list (got 3)
        """
        if self.Options is None:
            return dict(raw or {})
        if not isinstance(raw, dict):
            raise AffectlabError(f"{source}: data.options must be a mapping")
        known = self.Options.model_fields
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise AffectlabError(f"{source}: unknown data.options {', '.join(map(str, unknown))} for format {self.name} "
                                 f"(known: {', '.join(sorted(known))}){closest(unknown[0], sorted(known))}")
        try:
            return self.Options.model_validate(dict(raw))
        except ValidationError as err:
            raise AffectlabError(f"{source}: data.options.{validation_line(err, self.Options)}") from None


#: data format name -> :class:`Reader`
READERS: Registry[Reader] = Registry("data format")


def register_reader(name: str, *, options: type[ReaderOptions] | None = None,
                    default_targets: tuple[TargetSpec, ...] = (), reads_frames: bool = False,
                    gold: Callable[..., Any] | None = None) -> Callable[[ReadFn], ReadFn]:
    """Decorator: register the read function as format ``name``'s :class:`Reader`; the function
    itself is returned unchanged (other readers may call it, as ``semeval`` calls ``table``'s)."""

    def add(fn: ReadFn) -> ReadFn:
        READERS.register(name)(Reader(name, fn, options, tuple(default_targets), reads_frames, gold))
        return fn

    return add


def get_reader(name: str | Reader) -> Reader:
    """The registered :class:`Reader` of that name (a Reader passes through), or one line listing the formats."""
    if isinstance(name, Reader):
        return name
    if not isinstance(name, str):
        raise AffectlabError(f"data.format must be a name, not {type(name).__name__}")
    return READERS.get(name)


def default_targets(fmt: str) -> tuple[TargetSpec, ...]:
    """The targets format ``fmt`` reads when the config declares none; () when only the data can tell.

    >>> import affectlab.corpus
    >>> [(t.name, t.low, t.high) for t in default_targets("semeval")]
    [('valence', -2.0, 2.0), ('arousal', 0.0, 2.0)]
    >>> default_targets("table")
    ()
    """
    return get_reader(fmt).default_targets if fmt in READERS else ()


__all__ = ["READERS", "Reader", "ReaderOptions", "default_targets", "get_reader", "register_reader"]
