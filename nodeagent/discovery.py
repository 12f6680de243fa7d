"""memcached Auto Discovery: the configuration endpoint's listeners on this host.

ElastiCache's memcached answers `config get cluster` on its configuration endpoint;
Debian's memcached does not know the command, so the agent answers it on a port of
its own (the cluster's configuration port) at the address of each node of the
cluster it holds. The coordinator sends the whole set with SetDiscovery; a listener
whose node list changes keeps its socket and answers the new list at once, so
clients never see the endpoint go away while the cluster changes. The set is kept
in the state directory, so a restarted agent serves it again before the
coordinator calls. Each listener holds at most MAX_CONNECTIONS connections and closes one
that is idle for IDLE_TIMEOUT_S, so clients that connect and linger cannot pile up.
"""
from __future__ import annotations

import asyncio
import pathlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from cachefleet.v1 import node_agent_pb2
from google.protobuf import json_format

from nodeagent.layout import write_atomic
from nodeagent.transit import ServerCredentials

log = structlog.get_logger("nodeagent.discovery")

MAX_LINE = 2048                      # memcached's own limit for a command line
# Bounds of one listener: connections open at once (one more is told memcached's "ERROR Too
# many open connections" and closed), and how long a connection may send nothing, or take
# nothing of a reply, before it is closed. Clients poll every 60 s (ElastiCache's cluster
# client), most on a new connection; one that keeps its connection polls well within this.
MAX_CONNECTIONS = 1024
IDLE_TIMEOUT_S = 120.0
LEGACY_KEY = b"AmazonElastiCache:cluster"


@dataclass(frozen=True)
class ClusterConfig:
    """What one configuration endpoint says: its version and nodes, and the engine version."""
    version: int
    nodes: tuple[tuple[str, str, int], ...]   # (host name, ip, port), sorted by host name
    engine_version: str = "1.6.18"

    @classmethod
    def from_endpoint(cls, endpoint: node_agent_pb2.DiscoveryEndpoint) -> ClusterConfig:
        nodes = sorted((n.host, n.ip, n.port) for n in endpoint.nodes)
        return cls(endpoint.version, tuple(nodes), endpoint.engine_version or "1.6.18")

    def payload(self) -> bytes:
        """`<version>\\n<host>|<ip>|<port> ...\\n`: the value both commands carry."""
        members = " ".join(f"{host}|{ip}|{port}" for host, ip, port in self.nodes)
        return f"{self.version}\n{members}\n".encode()


def config_response(config: ClusterConfig) -> bytes:
    payload = config.payload()
    return b"CONFIG cluster 0 %d\r\n%s\r\nEND\r\n" % (len(payload), payload)


def legacy_response(config: ClusterConfig) -> bytes:
    payload = config.payload()
    return b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (LEGACY_KEY, len(payload), payload)


def answer(line: bytes, config: ClusterConfig) -> bytes | None:
    """The reply to one command line (without its line end); None means close the connection."""
    words = line.split()
    if not words:
        return b"ERROR\r\n"
    command = words[0].lower()
    if command == b"quit":
        return None
    if command == b"version" and len(words) == 1:
        return b"VERSION %s\r\n" % config.engine_version.encode()
    if command == b"config" and len(words) == 3 and words[1].lower() == b"get" and words[2].lower() == b"cluster":
        return config_response(config)
    if command == b"get" and len(words) >= 2:
        # a configuration endpoint holds one key; any other is a miss, as memcached says it
        return legacy_response(config) if LEGACY_KEY in words[1:] else b"END\r\n"
    return b"ERROR\r\n"


class Listener:
    """One address:port answering for one cluster; its config can change under it."""

    def __init__(self, cluster_id: str, address: str, port: int, config: ClusterConfig,
                 max_connections: int = MAX_CONNECTIONS, idle_timeout: float = IDLE_TIMEOUT_S,
                 tls: ServerCredentials | None = None) -> None:
        self.cluster_id = cluster_id
        self.tls = tls            # a TLS cluster's endpoint answers over TLS only
        self.address = address
        self.port = port
        self.config = config
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._full = False                 # the cap was reached (logged once until there is room)
        self.tls_node_key = ""             # whose certificate it serves with ("": plaintext)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.address, self.port, limit=MAX_LINE,
                                                  reuse_address=True, ssl=self.tls.context if self.tls else None)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.max_connections:
            await self._refuse(writer)
            return
        self._full = False
        if self.tls is not None:
            self._refresh_tls()
        task = asyncio.current_task()
        assert task is not None         # a connection handler always runs in its own task
        self._connections.add(task)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readuntil(b"\n"), self.idle_timeout)
                except asyncio.LimitOverrunError:
                    writer.write(b"CLIENT_ERROR line too long\r\n")
                    break
                except asyncio.IncompleteReadError:
                    break                                  # the client went away
                except TimeoutError:
                    break                                  # idle: closed, as memcached's idle_timeout does
                reply = answer(line.rstrip(b"\r\n"), self.config)
                if reply is None:
                    break
                writer.write(reply)
                await asyncio.wait_for(writer.drain(), self.idle_timeout)   # a client that reads nothing
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - one bad connection never takes the listener down
            log.exception("discovery connection failed", cache_cluster_id=self.cluster_id)
        finally:
            self._connections.discard(task)
            writer.close()

    def _refresh_tls(self) -> None:
        """Take the node's renewed certificate for the connections after this one."""
        assert self.tls is not None
        try:
            self.tls.refresh()
        except (OSError, ssl.SSLError) as error:
            log.warning("discovery endpoint keeps its certificate: the node's cannot be loaded",
                        cache_cluster_id=self.cluster_id, error=str(error))

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        """memcached's answer past its connection limit, then the connection is closed."""
        if not self._full:
            log.warning("discovery endpoint at its connection limit; refusing new connections",
                        cache_cluster_id=self.cluster_id, address=self.address, port=self.port,
                        limit=self.max_connections)
            self._full = True
        writer.write(b"ERROR Too many open connections\r\n")
        try:
            await asyncio.wait_for(writer.drain(), 1.0)
        except (ConnectionError, TimeoutError):
            pass
        writer.close()


class DiscoveryServer:
    """Every configuration endpoint listener of this host, reconciled to the last SetDiscovery."""

    def __init__(self, state_file: pathlib.Path, max_connections: int = MAX_CONNECTIONS,
                 idle_timeout: float = IDLE_TIMEOUT_S,
                 data_dir: Callable[[str], pathlib.Path] | None = None) -> None:
        self.state_file = state_file
        self.data_dir = data_dir   # a node's data directory: where a TLS endpoint's certificate is
        self.max_connections = max_connections     # per listener
        self.idle_timeout = idle_timeout
        self.listeners: dict[tuple[str, int], Listener] = {}
        self._lock = asyncio.Lock()

    async def set(self, request: node_agent_pb2.SetDiscoveryRequest) -> node_agent_pb2.SetDiscoveryResponse:
        """Make the listeners match request exactly; keep it for the next agent start."""
        write_atomic(self.state_file, json_format.MessageToJson(
            request, preserving_proto_field_name=True, sort_keys=True) + "\n")
        return await self._apply(request)

    async def restore(self) -> None:
        """At start: serve what the coordinator last asked for (an unreadable file serves nothing)."""
        try:
            request = json_format.Parse(self.state_file.read_text(), node_agent_pb2.SetDiscoveryRequest())
        except FileNotFoundError:
            return
        except (OSError, json_format.ParseError) as error:
            log.error("unreadable discovery state ignored", path=str(self.state_file), error=str(error))
            return
        reply = await self._apply(request)
        log.info("discovery endpoints restored", listeners=len(self.listeners), failed=list(reply.failed))

    async def _apply(self, request: node_agent_pb2.SetDiscoveryRequest) -> node_agent_pb2.SetDiscoveryResponse:
        wanted = {(e.bind_address, e.port): e for e in request.endpoints}
        failed: list[str] = []
        listener: Listener | None
        async with self._lock:
            # a listener whose TLS changed starts again: its socket's TLS is fixed when it opens
            stale = [k for k, held in self.listeners.items()
                     if k not in wanted or held.tls_node_key != wanted[k].tls_node_key]
            for key in stale:
                listener = self.listeners.pop(key)
                await listener.close()
                log.info("discovery endpoint stopped", cache_cluster_id=listener.cluster_id,
                         address=key[0], port=key[1])
            for key, endpoint in wanted.items():
                config = ClusterConfig.from_endpoint(endpoint)
                listener = self.listeners.get(key)
                if listener is not None:
                    if listener.config != config or listener.cluster_id != endpoint.cache_cluster_id:
                        listener.cluster_id, listener.config = endpoint.cache_cluster_id, config
                        log.info("discovery endpoint updated", cache_cluster_id=endpoint.cache_cluster_id,
                                 version=config.version, nodes=len(config.nodes))
                    continue
                try:
                    listener = Listener(endpoint.cache_cluster_id, key[0], key[1], config, self.max_connections,
                                        self.idle_timeout, self._credentials(endpoint.tls_node_key))
                    listener.tls_node_key = endpoint.tls_node_key
                    await listener.start()
                except (OSError, ssl.SSLError) as error:
                    failed.append(f"{key[0]}:{key[1]}: {error.strerror or error}")
                    log.warning("discovery endpoint cannot listen", cache_cluster_id=endpoint.cache_cluster_id,
                                address=key[0], port=key[1], error=str(error))
                    continue
                self.listeners[key] = listener
                log.info("discovery endpoint serving", cache_cluster_id=endpoint.cache_cluster_id,
                         address=key[0], port=key[1], version=config.version, nodes=len(config.nodes))
        return node_agent_pb2.SetDiscoveryResponse(failed=failed)

    def _credentials(self, node_key: str) -> ServerCredentials | None:
        """The TLS server credentials of node_key's files (None for a plaintext endpoint);
        OSError when the node has no certificate here yet."""
        if not node_key:
            return None
        if self.data_dir is None:
            raise OSError(f"this agent cannot serve a TLS endpoint (no data directories for {node_key})")
        return ServerCredentials(self.data_dir(node_key))

    async def close(self) -> None:
        async with self._lock:
            for listener in self.listeners.values():
                await listener.close()
            self.listeners.clear()
