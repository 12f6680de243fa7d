"""Whether a replica's host still reaches the engine of the primary it follows.

The coordinator fails a primary over only on evidence from the data plane: its engine
reported dead, or its replicas no longer reaching it. Redis's own `master_link_status`
goes down at once when the primary's process dies (the kernel closes the socket), but
when packets are merely lost it stays up for `repl-timeout` (60 s). So the agent of each
replica PINGs the primary's engine from the replica's host, on a connection it keeps
open, at every probe: any reply (PONG, LOADING, NOAUTH) means the engine runs and is
reachable from here. A refused connection means the host answered and nothing listens
on the port: the engine is gone. Silence means a partition, a dead host or a hung engine,
which the coordinator cannot tell apart and so waits out the primary's own write guard.
"""
from __future__ import annotations

import time
from ssl import SSLContext

from cachefleet.v1 import node_agent_pb2

from nodeagent.resp import ConnectionLost, RespClient, RespError, Tolerated

SEEN = node_agent_pb2.PRIMARY_SIGHT_SEEN
REFUSED = node_agent_pb2.PRIMARY_SIGHT_REFUSED
SILENT = node_agent_pb2.PRIMARY_SIGHT_SILENT


class PrimarySight:
    """The last word on one primary as seen from here; `look` refreshes it."""

    def __init__(self, address: str, port: int, ssl: SSLContext | None = None) -> None:
        self.target = (address, port)
        self.tls = ssl is not None
        # over TLS when the group's engines speak it (the primary's port then serves TLS only);
        # without AUTH (the primary's agent user is its own host's): a primary with users
        # answers NOAUTH, which is an answer, so the name is tolerated to fail
        self._client = RespClient(address, port, hello=[Tolerated(("CLIENT", "SETNAME", "cachefleet-agent-sight"))],
                                  ssl=ssl)
        self.state = node_agent_pb2.PRIMARY_SIGHT_UNSPECIFIED
        self.seen_at: float | None = None         # monotonic time of the last answer

    async def look(self, timeout: float) -> None:
        try:
            await self._client.execute([("PING",)], timeout)
        except ConnectionRefusedError:
            self.state = REFUSED
        except (TimeoutError, ConnectionLost, OSError):
            # ConnectionLost: the engine closed the connection we held; the next look
            # connects again and says whether it was refused.
            self.state = SILENT
        except RespError:       # an error reply is an answer: the engine runs
            self.state, self.seen_at = SEEN, time.monotonic()
        else:
            self.state, self.seen_at = SEEN, time.monotonic()

    async def dropped(self) -> None:
        """Returns when the connection held to the primary closes (its process died, most often)."""
        await self._client.dropped()

    def unseen_ms(self, now: float | None = None) -> int:
        """Milliseconds since the primary last answered (0 while it does; -1: never seen)."""
        if self.state == SEEN:
            return 0
        if self.seen_at is None:
            return -1
        now = time.monotonic() if now is None else now
        return max(1, int((now - self.seen_at) * 1000))

    def close(self) -> None:
        self._client.close()
