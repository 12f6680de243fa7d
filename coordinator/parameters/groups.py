"""Parameter group records (`paramgroups/<name>`), the cache the reconciler reads them from,
and what a cluster's nodes run: effective_parameters() and max_memory_mb().

A group record holds only the values operators set; everything else is the family's
default (the catalogue). `default.<family>` groups are not stored: they are the
catalogue's defaults, read-only.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from coordinator.domain.errors import ApiError
from coordinator.domain.model import Cluster
from coordinator.state.repository import Repository
from coordinator.state.store import Store

from coordinator.parameters import catalog

PREFIX = "paramgroups/"
DEFAULT_PREFIX = "default."
MIB = 1024 * 1024


@dataclass
class ParameterGroup:
    name: str
    family: str
    description: str
    values: dict[str, str] = field(default_factory=dict)   # what operators set
    created: float = 0.0

    @property
    def is_default(self) -> bool:
        return is_default(self.name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParameterGroup:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def is_default(name: str) -> bool:
    return name.startswith(DEFAULT_PREFIX)


def default_name(family: str) -> str:
    return f"{DEFAULT_PREFIX}{family}"


def default_group(family: str) -> ParameterGroup:
    return ParameterGroup(default_name(family), family, f"Default parameter group for {family}")


def group_key(name: str) -> str:
    return f"{PREFIX}{name}"


def not_found(name: str) -> ApiError:
    return ApiError("CacheParameterGroupNotFound", f"CacheParameterGroup {name} not found.")


class ParameterGroupRepo(Repository[ParameterGroup]):
    """Group records in the store; default groups come from the catalogue."""

    def __init__(self, store: Store):
        super().__init__(store, PREFIX, ParameterGroup.from_dict, lambda g: g.name, not_found, "CacheParameterGroup")

    @classmethod
    def beside(cls, cluster_repo: Repository) -> ParameterGroupRepo:
        """On the store a ClusterRepo uses."""
        return cls(cluster_repo.store)

    async def get(self, name: str) -> ParameterGroup | None:
        if is_default(name):
            family = name[len(DEFAULT_PREFIX):]
            return default_group(family) if catalog.load(family) is not None else None
        return await super().get(name)

    async def stored(self) -> list[ParameterGroup]:
        return await super().all()

    async def all(self) -> list[ParameterGroup]:
        """Every group, the default ones first, by name."""
        defaults = [default_group(f) for f in catalog.families()]
        return defaults + sorted(await self.stored(), key=lambda g: g.name)

    async def create(self, group: ParameterGroup) -> bool:
        return await self.insert(group)


class ParameterCache:
    """The stored groups as of the last refresh, for code that cannot await (node_spec)."""

    def __init__(self) -> None:
        self.groups: dict[str, ParameterGroup] = {}
        self.generation = 0   # moves whenever what the groups hold changed: specs built before are stale
        # effective_parameters() of each (engine, version, group name) as of one generation: a
        # fleet of thousands of nodes runs a handful of combinations
        self.worked_out: tuple[int, dict[tuple[str, str, str], tuple[dict[str, str], list[str]]]] = (0, {})

    async def refresh(self, repo: ParameterGroupRepo) -> None:
        groups = {g.name: g for g in await repo.stored()}
        if groups != self.groups:
            self.groups = groups
            self.generation += 1

    def put(self, group: ParameterGroup) -> None:
        self.groups[group.name] = group
        self.generation += 1

    def drop(self, name: str) -> None:
        self.groups.pop(name, None)
        self.generation += 1

    def user_values(self, cluster: Cluster, version: str = "") -> dict[str, str]:
        """What operators set in the cluster's group; {} for a default group, or a group of
        another family than the cluster's version (after an upgrade across families, until it
        names a group of its new family, it runs its family's defaults)."""
        name = getattr(cluster, "parameter_group", "")
        group = self.groups.get(name) if name and not is_default(name) else None
        cat = catalog.for_engine(cluster.engine, version or cluster.engine_version)
        if group is None or cat is None or group.family != cat.family:
            return {}
        return dict(group.values)


# The process's cache: the reconciler refreshes it every cycle and the API after each write.
CACHE = ParameterCache()


def group_of(cluster: Cluster) -> str:
    """The name of the group the cluster runs (its family's default when it names none)."""
    name = getattr(cluster, "parameter_group", "")
    if name:
        return name
    cat = catalog.for_engine(cluster.engine, cluster.engine_version)
    return default_name(cat.family) if cat else ""


def effective_parameters(cluster: Cluster, cache: ParameterCache | None = None,
                         version: str = "") -> tuple[dict[str, str], list[str]]:
    """(parameters, immediate) for the cluster's nodes' specs.

    parameters holds every modifiable engine parameter that can be applied at once (so that
    a value set back to its default is applied at once too) and the requires-reboot ones
    whose value is not the default (an engine started without them runs the default).
    immediate names those the agent may apply to a running engine. version: the node's, when
    it is not the cluster's (a node on its way to a new version).
    """
    cache = cache or CACHE
    key = (cluster.engine, version or cluster.engine_version, getattr(cluster, "parameter_group", ""))
    if cache.worked_out[0] != cache.generation:
        cache.worked_out = (cache.generation, {})
    found = cache.worked_out[1].get(key)
    if found is None:
        found = cache.worked_out[1][key] = _effective(cluster, cache, version)
    return dict(found[0]), list(found[1])   # copies: a caller may change its own


def _effective(cluster: Cluster, cache: ParameterCache, version: str) -> tuple[dict[str, str], list[str]]:
    cat = catalog.for_engine(cluster.engine, version or cluster.engine_version)
    if cat is None:
        return {}, []
    user = cache.user_values(cluster, version)
    parameters: dict[str, str] = {}
    immediate: list[str] = []
    for name, param in sorted(cat.params.items()):
        if not param.modifiable or param.applies_to != "engine":
            continue
        value = user.get(name, param.value)
        if param.immediate:
            parameters[name] = value
            immediate.append(name)
        elif value != param.value:
            parameters[name] = value
    return parameters, immediate


def max_memory_mb(cluster: Cluster, node_memory_mb: int, cache: ParameterCache | None = None,
                  version: str = "") -> int:
    """The engine's memory limit: the node type's memory less reserved-memory (redis)."""
    cat = catalog.for_engine(cluster.engine, version or cluster.engine_version)
    if cat is None or "reserved-memory" not in cat.params:
        return node_memory_mb
    user = (cache or CACHE).user_values(cluster, version)
    reserved = int(user.get("reserved-memory", cat.params["reserved-memory"].value))
    return max(1, node_memory_mb - math.ceil(reserved / MIB))
