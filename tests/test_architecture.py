"""docs/architecture.md: every Python block runs (the "where to add things" examples stay true)."""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_page_has_an_example_for_each_thing_to_add():
    text = DOC.read_text()
    for heading in ("### A task", "### A protocol", "### A model", "### A reader", "### An extractor"):
        assert heading in text, heading
    assert len(BLOCKS) >= 5


@pytest.fixture
def registries():
    """Every registry as it was: an example's registrations (a task, a model...) do not leak into other tests."""
    import gc

    from affectlab.core.registry import Registry

    found = [obj for obj in gc.get_objects() if isinstance(obj, Registry)]
    saved = [(r, dict(r._items), dict(r._lazy)) for r in found]
    yield
    for r, items, lazy in saved:
        r._items.clear()
        r._items.update(items)
        r._lazy.clear()
        r._lazy.update(lazy)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index, tmp_path, registries):
    module = types.ModuleType(f"architecture_example_{index}")  # a real module: dataclasses look theirs up
    sys.modules[module.__name__] = module
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(BLOCKS[index], f"{DOC.name}[{index}]", "exec"), module.__dict__)
    finally:
        os.chdir(cwd)
        sys.modules.pop(module.__name__, None)
