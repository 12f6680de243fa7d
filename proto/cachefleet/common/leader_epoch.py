"""The leader epoch both daemons speak of: which coordinator leadership a call comes from.

On etcd it is the creation revision of the leadership key the calling coordinator leads with,
higher for every later leader; on SQLite (one coordinator, no election) it is 0. The
coordinator sends it with every NodeAgent call under METADATA and in every heartbeat answer,
so an agent can tell a deposed leader's late call from the current leader's.
"""
from __future__ import annotations

METADATA = "cachefleet-leader-epoch"


def metadata(epoch: int) -> tuple[tuple[str, str], ...]:
    """The call metadata that carries epoch."""
    return ((METADATA, str(epoch)),)
