"""A running redis's listeners moved live: TLS turned on or off, preferred and required.

Redis 7 takes its listeners with CONFIG SET, and `port` and `tls-port` in one call move
together (the plaintext listener leaves the node's port as the TLS one takes it); connections
already open stay open. So a cluster's transit mode changes with no restart, no failover and
no resync, and its data and its writers stay where they are:

- off -> preferred: TLS on the node's port, plaintext moves to the plaintext port. The
  plaintext clients connected before keep their connections while they migrate.
- preferred -> required: the plaintext port closes, and the plaintext clients still connected
  (on it, or on the node's port from before TLS) are disconnected.
- required -> preferred, preferred -> off: the same steps back.

What the engine listens on is kept in running.json ("listen") beside its parameters, so a
switch that could not be made now (the engine loading, restarting) is retried, and the agent
always dials the engine the way it listens now. A restart reads listen.conf, written for the
spec, so a restarted engine needs no switch.
"""
from __future__ import annotations

import pathlib
import ssl
from typing import Any

from cachefleet.v1 import node_agent_pb2

from nodeagent import transit
from nodeagent.engines.redis import RedisSession
from nodeagent.resp import Command

LISTEN = "listen"            # running.json's key
SWITCH_TIMEOUT_S = 2.0


def listeners(spec: node_agent_pb2.NodeSpec) -> dict[str, int]:
    """What a redis of spec listens on: plaintext `port` (0: none) and `tls_port` (0: none)."""
    return {"port": transit.plaintext_port(spec), "tls_port": spec.port if transit.enabled(spec) else 0}


def pending(spec: node_agent_pb2.NodeSpec, running: dict[str, Any]) -> bool:
    """The engine listens otherwise than spec says (a running.json without "listen" was written
    for a start from this spec's files)."""
    have = running.get(LISTEN)
    return have is not None and {k: have.get(k, 0) for k in ("port", "tls_port")} != listeners(spec)


def switch_commands(spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path) -> list[Command]:
    """The CONFIG SETs that move a running redis to spec's listeners (certificate first)."""
    want = listeners(spec)
    commands: list[Command] = []
    if want["tls_port"]:
        commands.append(("CONFIG", "SET", "tls-cert-file", transit.cert_name(spec),
                         "tls-key-file", str(data_dir / transit.KEY_FILE), "tls-ca-cert-file", transit.ca_name(spec),
                         "tls-auth-clients", "no", "tls-replication", "yes"))
    # redis applies them in the order given: the listener that gives up the node's port goes first
    # (plaintext when TLS takes the port, TLS when plaintext takes it back), else the other's bind fails
    ports = [("port", want["port"]), ("tls-port", want["tls_port"])]
    ordered = ports if want["tls_port"] else ports[::-1]
    commands.append(("CONFIG", "SET", *(word for name, value in ordered for word in (name, str(value)))))
    if not want["tls_port"]:
        commands.append(("CONFIG", "SET", "tls-replication", "no"))
    return commands


def parse_clients(text: str) -> list[dict[str, str]]:
    """CLIENT LIST's lines as field dicts."""
    return [dict(word.split("=", 1) for word in line.split() if "=" in word) for line in text.splitlines() if line]


def plaintext_clients(clients: list[dict[str, str]], closed_port: int, node_port: int, below: int) -> list[str]:
    """Ids of the clients to disconnect once plaintext is refused: those on the plaintext port
    that closed, and those on the node's port that connected before it served TLS (id below)."""
    doomed = []
    for client in clients:
        port = int(client.get("laddr", ":0").rpartition(":")[2] or 0)
        ident = int(client.get("id", "0"))
        if (closed_port and port == closed_port) or (port == node_port and ident < below):
            doomed.append(str(ident))
    return doomed


def _running_client(spec: node_agent_pb2.NodeSpec, have: dict[str, int], data_dir: pathlib.Path,
                    address: str, agent_password: str = "") -> RedisSession:
    """A connection to the engine as it listens now: TLS on the node's port when it serves TLS
    there (verified with the CA bundle the engine was given), else plaintext there."""
    dialed = node_agent_pb2.NodeSpec()
    dialed.CopyFrom(spec)
    dialed.ClearField("transit_encryption")
    session = RedisSession(address, dialed, agent_password)   # as the agent's ACL user, where it has one
    if have.get("tls_port"):
        ca = (data_dir / transit.CA_FILE).read_text()
        context = ssl.create_default_context(cadata=ca)
        context.check_hostname = False
        session.client.ssl = context
    return session


async def switch(spec: node_agent_pb2.NodeSpec, running: dict[str, Any], data_dir: pathlib.Path,
                 address: str, agent_password: str = "") -> tuple[dict[str, int], int]:
    """Move the engine to spec's listeners; returns the new "listen" entry of running.json and
    how many plaintext clients were disconnected. OSError or RespError when the engine cannot be
    reached or refuses (CONFIG SET changes nothing then)."""
    have: dict[str, int] = dict(running.get(LISTEN) or listeners(spec))
    want = listeners(spec)
    session = _running_client(spec, have, data_dir, address, agent_password)
    try:
        replies = await session.command([("CLIENT", "ID"), *switch_commands(spec, data_dir),
                                         ("CLIENT", "LIST", "TYPE", "normal")], SWITCH_TIMEOUT_S)
        own = str(replies[0])
        listed = [c for c in parse_clients(_text(replies[-1])) if c.get("id") != own]
        below = have.get("plaintext_below", 0)
        if not have.get("tls_port") and want["tls_port"] == have.get("port"):
            # the clients on the node's port now were plaintext ones: the listing came in the same
            # round trip as the switch, before any TLS client could connect
            below = 1 + max((int(c.get("id", "0")) for c in listed
                             if c.get("laddr", "").endswith(f":{spec.port}")), default=0)
        doomed: list[str] = []
        if want["tls_port"] and not want["port"]:       # required: no plaintext client stays
            closed = have.get("port", 0) if have.get("port") != want["tls_port"] else 0
            doomed = plaintext_clients(listed, closed, spec.port, below)
        if doomed:
            await session.command([("CLIENT", "KILL", "ID", ident) for ident in doomed], SWITCH_TIMEOUT_S)
    finally:
        session.close()
    return {**want, "plaintext_below": below if want["tls_port"] else 0}, len(doomed)


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)
