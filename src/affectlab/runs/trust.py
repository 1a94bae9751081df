"""The trust boundary of a run directory: a run whose config names a ``module:Class`` outside
affectlab imports that module (its code runs) when the run is loaded; this is refused unless the
user trusts it (``--trust-code``, ``trust_code=True`` or ``AFFECTLAB_TRUST_CODE=1``;
docs/run-directory.md).
"""

from __future__ import annotations

from typing import Any

from ..core.io import read_yaml
from ..models.external import named_models, require_trusted, trust_from_env
from .rundir import CHECKPOINT, CONFIG, RunDir


def require_trusted_run(run_dir: Any, trust: bool, flag: str = "--trust-code", action: str = "predicting") -> None:
    """:func:`~affectlab.models.external.require_trusted` for every model a run directory names: its
    ``config.yaml`` and the config and model its checkpoint stores (read as plain data: nothing is
    imported)."""
    if trust or trust_from_env():
        return
    run = RunDir.open(run_dir)
    names: list[Any] = []
    if (run.path / CONFIG).is_file():
        names += named_models(read_yaml(run.path / CONFIG))
    if (run.path / CHECKPOINT).is_file():
        ckpt = run.checkpoint()
        names += [ckpt.get("model")] + named_models(ckpt.get("config"))
    require_trusted(names, str(run.path), trust, flag, action)
