"""Named crash points for crash-safety tests, in the coordinator and the agent.

`CACHEFLEET_FAILPOINTS=create.after_store,reconcile.after_ensure` makes the process
SIGKILL itself the first time it reaches one of those points, exactly as an
operator's `kill -9` would, so tests can prove that a restart converges.
`name:stop` SIGSTOPs it instead: frozen at that instant, so a test can change the world
(cut a disk, a network) before it kills the process itself.
Unset (production), a failpoint costs one dict lookup.
"""
from __future__ import annotations

import os
import signal

_SIGNALS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}


def _armed(setting: str) -> dict[str, signal.Signals]:
    """`a,b:stop` -> {a: SIGKILL, b: SIGSTOP}."""
    armed = {}
    for entry in filter(None, (part.strip() for part in setting.split(","))):
        name, _, action = entry.partition(":")
        armed[name] = _SIGNALS[action or "kill"]
    return armed


_ARMED = _armed(os.environ.get("CACHEFLEET_FAILPOINTS", ""))


def failpoint(name: str) -> None:
    """Die (or freeze) at once, without cleanup, when `name` is armed."""
    if name in _ARMED:
        os.kill(os.getpid(), _ARMED[name])
