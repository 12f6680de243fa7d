"""TLS in transit turned on, off, or between preferred and required on a running cluster or group.

A running redis moves its listeners live (the agents' CONFIG SET of port and tls-port: no
restart, no failover, no resync), so the change is made at once, whatever ApplyImmediately
says, and every node keeps its data and its writers. As ElastiCache, TLS comes on in preferred
mode first (TLS on the port, plaintext beside it while clients move: here on a port of its
own, PlaintextPort), then required; and goes off only from preferred. Memcached cannot move
its listeners without a restart, which empties it: it keeps the mode it was created with.
"""
from __future__ import annotations

from collections.abc import Iterable

from coordinator.domain.errors import combination, invalid
from coordinator.domain.model import Cluster, ReplicationGroup
from coordinator.domain.placement import HostView, Slot, choose_config_port
from coordinator.domain.validation import TRANSIT_MODES


def requested_mode(current: str, enabled: bool | None, mode: str, engine: str) -> str | None:
    """The mode ("" off, preferred, required) a running cluster moves to, or None when the
    request changes nothing of it. ElastiCache's refusals: InvalidParameterCombination."""
    if enabled is None and not mode:
        return None
    if mode and mode not in TRANSIT_MODES:
        raise invalid(f"TransitEncryptionMode must be preferred or required, got {mode!r}.")
    if engine != "redis":
        raise combination(f"TransitEncryptionEnabled cannot be changed on a running {engine} cluster: its "
                          "engine would have to restart, empty. Create a new cluster with it.")
    if enabled is False:
        if mode:
            raise combination("TransitEncryptionMode requires TransitEncryptionEnabled to be true.")
        if current == "required":
            raise combination("TransitEncryptionEnabled can be turned off only from TransitEncryptionMode "
                              "preferred: set the mode to preferred first, so that clients can move to plaintext.")
        return "" if current else None
    if not current:
        if not enabled:
            raise combination("TransitEncryptionMode requires TransitEncryptionEnabled to be true.")
        if mode != "preferred":
            raise combination("To turn on TransitEncryptionEnabled for a running cluster, set "
                              "TransitEncryptionMode to preferred first (TLS and plaintext while clients "
                              "move), then to required.")
        return "preferred"
    wanted = mode or current
    return wanted if wanted != current else None


def check_off(target: Cluster | ReplicationGroup) -> None:
    """TLS stays on while an AUTH token or user groups need it (both are refused without it):
    ElastiCache's InvalidParameterCombination, nothing changed."""
    if target.transit_encryption_mode:
        return
    if target.auth_token_hashes:
        raise combination("TransitEncryptionEnabled cannot be turned off while an AuthToken is in use: AUTH "
                          "needs TLS.")
    if target.user_group_ids:
        raise combination("TransitEncryptionEnabled cannot be turned off while UserGroupIds are in use: users "
                          "need TLS. Remove the user groups first.")


def check_builds(views: dict[str, HostView], members: Iterable[Cluster]) -> None:
    """Every node's host runs its version built with TLS (the 6.0.x builds are not): else
    nothing is changed, as a create is refused."""
    for cluster in members:
        for node in cluster.live_nodes:
            host = views.get(node.host_id or "")
            version = cluster.node_version(node)
            if host is None or version not in host.tls_engines.get(cluster.engine, set()):
                raise combination(f"TransitEncryptionEnabled is not supported by {cluster.engine} {version} on the "
                                  f"host of {cluster.node_key(node.node_id)}: it has no build of it with TLS "
                                  "(redis 7.0 or later).")


def plaintext_port(views: dict[str, HostView], port: int, members: Iterable[Cluster]) -> int:
    """A port for plaintext beside TLS, free on the address of every node (as at create)."""
    slots = [Slot(views[node.host_id], node.address) for cluster in members for node in cluster.live_nodes
             if node.host_id in views]
    return choose_config_port(views, port, slots)


def plan(current: str, current_plain: int, port: int, enabled: bool | None, mode: str, engine: str,
         views: dict[str, HostView], members: list[Cluster]) -> tuple[str, int] | None:
    """(mode, plaintext port) a running cluster or group moves to, or None: nothing asked.
    Refused (nothing changed) when a node's host has no TLS build of its version."""
    new = requested_mode(current, enabled, mode, engine)
    if new is None:
        return None
    if new:
        check_builds(views, members)
    if new != "preferred":
        return new, 0
    return new, current_plain or plaintext_port(views, port, members)


def apply(cluster: Cluster, mode: str, plain_port: int) -> None:
    """The cluster's new mode; a plaintext port only in preferred (describe shows it then)."""
    cluster.transit_encryption_mode = mode
    cluster.plaintext_port = plain_port


def note(before: str, after: str, port: int, old_plain: int, new_plain: int) -> str:
    """What happens, for the event."""
    live = "applied live on every node (redis CONFIG SET port/tls-port): no restart, no failover, no data moved"
    if not before:
        return (f"transit encryption preferred: TLS on port {port}, plaintext moves to port {new_plain} "
                f"(connections open now keep working until required); {live}")
    if after == "required":
        return (f"transit encryption required: TLS only on port {port}; plaintext port {old_plain} closes and "
                f"plaintext clients are disconnected; {live}")
    if after == "preferred":
        return f"transit encryption preferred: plaintext again on port {new_plain} beside TLS on port {port}; {live}"
    return f"transit encryption off: plaintext on port {port}, TLS and port {old_plain} closed; {live}"
