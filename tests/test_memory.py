"""affectlab.core.memory: freed buffers stay in the heap after keep_freed_memory (glibc only)."""

import subprocess
import sys

import pytest

from affectlab.core.memory import keep_freed_memory

PROBE = """
import resource, sys
import numpy as np
if sys.argv[1] == "1":
    from affectlab.core.memory import keep_freed_memory
    assert keep_freed_memory()
rng = np.random.default_rng(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):  # like a forward pass: several buffers of 0.8-32 MB alive at once, then freed
    alive = [np.ones(int(rng.integers(100_000, 4_000_000))) for _ in range(6)]
    del alive
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(setting: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, setting], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or not keep_freed_memory(), reason="needs glibc's mallopt")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    # glibc's defaults fault most of these pages in again on every round (~90,000 faults measured);
    # with the setting the heap keeps them after the first rounds (~5,000)
    default, kept = faults("0"), faults("1")
    assert default > 40_000
    assert kept < default / 5


def test_is_idempotent():
    assert keep_freed_memory() == keep_freed_memory()
