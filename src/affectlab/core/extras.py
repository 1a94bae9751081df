"""Optional extras (``pip install 'affectlab[audio]'`` ...): is a module there, without importing it."""

from __future__ import annotations

import importlib.util


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it).

    >>> module_available("json"), module_available("no_such_package_xyz.sub")
    (True, False)
    """
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module blocked in sys.modules
        return False
