"""Named crash points for crash-safety tests.

`CACHEFLEET_FAILPOINTS=create.after_store,reconcile.after_ensure` makes the process
SIGKILL itself the first time it reaches one of those points, exactly as an
operator's `kill -9` would, so tests can prove that a restart converges.
Unset (production), a failpoint costs one set lookup.
"""
from __future__ import annotations

import os
import signal

_ARMED = frozenset(p.strip() for p in os.environ.get("CACHEFLEET_FAILPOINTS", "").split(",") if p.strip())


def failpoint(name: str) -> None:
    """Die at once, without cleanup, when `name` is armed."""
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
