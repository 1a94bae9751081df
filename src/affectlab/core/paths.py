"""Where affectlab keeps things on disk.

>>> import os
>>> os.environ["AFFECTLAB_CACHE"] = "/tmp/x"
>>> str(default_cache_dir())
'/tmp/x'
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """The cache root: ``$AFFECTLAB_CACHE``, else ``~/.cache/affectlab`` (read at call time)."""
    env = os.environ.get("AFFECTLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "affectlab"
