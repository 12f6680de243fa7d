"""The cache node type catalog: the FAQ's types and the memory each gives the engine."""
from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("memcached", "redis")


@dataclass(frozen=True)
class NodeType:
    name: str
    memory_mb: int
    engines: tuple[str, ...] = ENGINES


def _gb(gb: float) -> int:
    return round(gb * 1024)


# Memory available to the engine after system overhead, as the ElastiCache FAQ lists it.
CATALOG: dict[str, NodeType] = {t.name: t for t in (
    NodeType("cache.t1.micro", 213),
    NodeType("cache.m1.small", _gb(1.3)),
    NodeType("cache.m1.medium", _gb(3.35)),
    NodeType("cache.m1.large", _gb(7.1)),
    NodeType("cache.m1.xlarge", _gb(14.6)),
    NodeType("cache.m2.xlarge", _gb(16.7)),
    NodeType("cache.m2.2xlarge", _gb(33.8)),
    NodeType("cache.m2.4xlarge", _gb(68)),
    NodeType("cache.c1.xlarge", _gb(6.6)),
    NodeType("cache.m3.xlarge", _gb(14.6), ("memcached",)),
    NodeType("cache.m3.2xlarge", _gb(29.6), ("memcached",)),
)}


def lookup(name: str) -> NodeType | None:
    return CATALOG.get(name)
