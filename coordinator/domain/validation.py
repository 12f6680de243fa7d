"""Input rules of the ElastiCache API, checked before anything is recorded."""
from __future__ import annotations

import re

from coordinator.domain.errors import ApiError, combination, invalid
from coordinator.domain.node_types import CATALOG, ENGINES, NodeType

MAX_MEMCACHED_NODES = 20
_IDENTIFIER = re.compile(r"[a-z](?:[a-z0-9]|-(?!-))*")
_NODE_ID = re.compile(r"[0-9]{4}")
# A host's id is its store key (`hosts/<id>`) and shows in events: a name or an address.
_HOST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def cluster_id(value: str, what: str = "CacheClusterId") -> str:
    """ElastiCache identifier rules; returns the stored (lower-case) form."""
    if not value:
        raise ApiError("MissingParameter", f"The request must contain the parameter {what}.")
    lowered = value.lower() if len(value) <= 50 else value     # a long value is refused unread
    if (len(lowered) > 50 or not _IDENTIFIER.fullmatch(lowered) or lowered.endswith("-")):
        raise invalid(f"{what} must be 1 to 50 letters, digits or hyphens, begin with a letter, "
                      f"and contain no two consecutive hyphens nor end with a hyphen: {value!r}.")
    return lowered


def host_id(value: str) -> str:
    """An agent's host id, matched whole (a trailing newline is not part of a name)."""
    if not value:
        raise ApiError("MissingParameter", "The request must contain the parameter HostId.")
    if not _HOST_ID.fullmatch(value):
        raise invalid(f"HostId must be 1 to 64 letters, digits, '.', ':', '_' or '-', beginning with a letter "
                      f"or digit: {value!r}.")
    return value


def engine(value: str) -> str:
    if value not in ENGINES:
        raise invalid(f"Invalid value for Engine: {value!r}. Valid values are memcached, redis.")
    return value


def node_type(value: str, engine_name: str) -> NodeType:
    found = CATALOG.get(value)
    if found is None:
        known = ", ".join(t.name for t in CATALOG.values() if engine_name in t.engines or engine_name not in ENGINES)
        wanted = (f"Known node types{' for ' + engine_name if engine_name in ENGINES else ''}: {known} "
                  "(describe-cache-node-types lists them with their memory).")
        if not value:
            raise ApiError("MissingParameter", f"The request must contain the parameter CacheNodeType. {wanted}")
        raise invalid(f"Invalid value for CacheNodeType: {value!r}. {wanted}")
    if engine_name not in found.engines:
        raise combination(f"Cache node type {value} is not supported by engine {engine_name}.")
    return found


def num_nodes(value: int, engine_name: str) -> int:
    if engine_name == "redis" and value != 1:
        raise invalid("Cannot create a Redis cluster with a NumCacheNodes parameter other than 1; "
                      "use a replication group for replicas.")
    if value < 1:
        raise invalid(f"NumCacheNodes must be at least 1, got {value}.")
    if value > MAX_MEMCACHED_NODES:
        raise ApiError("NodeQuotaForClusterExceeded",
                       f"A cache cluster can have at most {MAX_MEMCACHED_NODES} nodes; {value} requested.")
    return value


def port(value: int) -> int:
    if not 1024 <= value <= 65535:
        raise invalid(f"Port must be between 1024 and 65535, got {value}.")
    return value


def node_id(value: str, what: str = "CacheNodeId") -> str:
    """A cache node id: four digits, matched whole."""
    if not _NODE_ID.fullmatch(value):
        raise invalid(f"{what} must be four digits (0001), got {value!r}.")
    return value


def node_ids(values: list[str], known: set[str], what: str) -> list[str]:
    """Node ids given by the caller: well-formed, existing, no repeats."""
    for value in values:
        if not _NODE_ID.fullmatch(value) or value not in known:
            raise invalid(f"{what} names a cache node that does not exist: {value!r}.")
    if len(set(values)) != len(values):
        raise invalid(f"{what} names the same cache node twice.")
    return list(values)


def zones(values: list[str], count: int, known: set[str]) -> list[str | None]:
    """One zone per new node (or none), each one the fleet has."""
    if values and len(values) != count:
        raise invalid(f"PreferredAvailabilityZones has {len(values)} entries for {count} nodes.")
    for value in values:
        if value not in known:
            raise invalid(f"Unknown availability zone {value!r}; the fleet has: {', '.join(sorted(known)) or 'none'}.")
    return list(values) if values else [None] * count


TRANSIT_MODES = ("preferred", "required")


def transit_encryption(enabled: bool | None, mode: str) -> str:
    """ElastiCache's TransitEncryptionEnabled and TransitEncryptionMode as the mode stored:
    "" (off), "preferred" (TLS and plaintext while clients migrate) or "required" (the default
    once enabled). A mode without TLS enabled is a combination ElastiCache refuses."""
    if mode and mode not in TRANSIT_MODES:
        raise invalid(f"TransitEncryptionMode must be preferred or required, got {mode!r}.")
    if not enabled:
        if mode:
            raise combination("TransitEncryptionMode requires TransitEncryptionEnabled to be true.")
        return ""
    return mode or "required"


def at_rest_encryption(enabled: bool, engine: str) -> bool:
    """ElastiCache's AtRestEncryptionEnabled: redis only (memcached keeps nothing at rest),
    as ElastiCache refuses it for memcached."""
    if enabled and engine != "redis":
        raise combination(f"Encryption at rest is not supported for engine {engine}: only redis keeps data at rest.")
    return enabled
