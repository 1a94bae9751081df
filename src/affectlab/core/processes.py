"""Whether a process still runs, for code that must tell a live writer or worker from a killed one.

>>> import os
>>> pid_alive(os.getpid())
True
"""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs on this machine. A process of another user that we may not signal
    (``PermissionError``) is alive: treating it as gone would let us clean up or redo its work."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
