"""The parameter group RPCs of CacheControl.

A group record (`paramgroups/<name>`) holds what operators set; the catalogue of its
family (coordinator/parameters) gives every other value, its type and its change type.
A change is recorded, the reconciler's parameter cache updated, and the reconciler
woken: node specs carry the new values, agents apply immediate ones at once and keep
requires-reboot ones for the next start. `CacheParameterGroupStatus` on a cluster says
how far its nodes are, from what their agents report they run (api/parameter_use.py, which
the cluster and replication group servicers share).
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.paging import paginate
from coordinator.api.errors import rpc_errors
from coordinator.api.parameter_use import ParameterGroupUse
from coordinator.domain.errors import ApiError, combination, invalid
from coordinator.parameters import CACHE, ParameterGroup, ParameterGroupRepo, catalog, is_default
from coordinator.parameters.groups import not_found
from coordinator.state.events import EventLog
from coordinator.state.repos import ClusterRepo

MAX_PAIRS = 20
_NAME = re.compile(r"[a-z](?:[a-z0-9]|-(?!-))*")
SOURCES = ("user", "system", "engine-default")


def _state(message: str) -> ApiError:
    return ApiError("InvalidCacheParameterGroupState", message)


def _group_name(value: str) -> str:
    """ElastiCache's rules for a new group's name; returns its stored (lower-case) form."""
    if not value:
        raise ApiError("MissingParameter", "The request must contain the parameter CacheParameterGroupName.")
    lowered = value.lower()
    if is_default(lowered):
        raise invalid(f"CacheParameterGroupName {value!r}: names starting with 'default.' are reserved.")
    if len(lowered) > 255 or not _NAME.fullmatch(lowered) or lowered.endswith("-"):
        raise invalid(f"CacheParameterGroupName must be 1 to 255 letters, digits or hyphens, begin with a "
                      f"letter, and contain no two consecutive hyphens nor end with a hyphen: {value!r}.")
    return lowered


def _parameter(param: catalog.Param, value: str, source: str) -> pb.Parameter:
    return pb.Parameter(parameter_name=param.name, parameter_value=value, description=param.description,
                        source=source, data_type=param.data_type, allowed_values=param.allowed_values,
                        is_modifiable=param.modifiable, minimum_engine_version=param.minimum_engine_version,
                        change_type=param.change_type)


class ParameterGroupServicer:
    def __init__(self, parameter_groups: ParameterGroupRepo, repo: ClusterRepo, events: EventLog,
                 wake: Callable[[], None], use: ParameterGroupUse, clock: Callable[[], float] = time.time) -> None:
        self.parameter_groups = parameter_groups
        self.repo = repo
        self.events = events
        self.wake = wake
        self.use = use
        self.clock = clock

    # -- helpers --------------------------------------------------------------------------------

    async def _group_users(self, name: str) -> list[str]:
        return sorted(c.cluster_id for c in await self.repo.all() if c.parameter_group == name)

    async def _changed(self, group: ParameterGroup, message: str) -> None:
        CACHE.put(group)
        for cluster_id in await self._group_users(group.name):
            await self.events.record("cache-cluster", cluster_id, message)
        self.wake()

    def _family(self, family: str) -> catalog.Catalog:
        if not family:
            raise ApiError("MissingParameter", "The request must contain the parameter CacheParameterGroupFamily.")
        found = catalog.load(family)
        if found is None:
            raise invalid(f"Invalid value for CacheParameterGroupFamily: {family!r}; valid values are "
                          f"{', '.join(catalog.families())}.")
        return found

    async def _existing(self, name: str) -> ParameterGroup:
        if not name:
            raise ApiError("MissingParameter", "The request must contain the parameter CacheParameterGroupName.")
        group = await self.parameter_groups.get(name.lower())
        if group is None:
            raise not_found(name.lower())
        return group

    # -- RPCs -----------------------------------------------------------------------------------

    @rpc_errors
    async def CreateCacheParameterGroup(self, request, context):
        name = _group_name(request.cache_parameter_group_name)
        self._family(request.cache_parameter_group_family)
        if not request.description:
            raise ApiError("MissingParameter", "The request must contain the parameter Description.")
        group = ParameterGroup(name, request.cache_parameter_group_family, request.description,
                               created=self.clock())
        if not await self.parameter_groups.create(group):
            raise ApiError("CacheParameterGroupAlreadyExists", f"CacheParameterGroup {name} already exists.")
        CACHE.put(group)
        return pb.CreateCacheParameterGroupResponse(cache_parameter_group=pb.CacheParameterGroup(
            cache_parameter_group_name=name, cache_parameter_group_family=group.family,
            description=group.description, is_global=False))

    def _pairs(self, request, values_needed: bool) -> list[tuple[str, str]]:
        pairs = [(p.parameter_name, p.parameter_value) for p in request.parameter_name_values]
        if len(pairs) > MAX_PAIRS:
            raise invalid(f"At most {MAX_PAIRS} parameters can be changed in one request, got {len(pairs)}.")
        names = [n for n, _ in pairs]
        if len(set(names)) != len(names):
            raise invalid("ParameterNameValues names the same parameter twice.")
        if any(not n for n in names):
            raise invalid("Every ParameterNameValue needs a ParameterName.")
        return pairs

    @rpc_errors
    async def ModifyCacheParameterGroup(self, request, context):
        group = await self._existing(request.cache_parameter_group_name)
        if group.is_default:
            raise _state(f"Default parameter group {group.name} cannot be modified; create a group of "
                         f"family {group.family} and modify that.")
        pairs = self._pairs(request, True)
        if not pairs:
            raise ApiError("MissingParameter", "The request must contain the parameter ParameterNameValues.")
        cat = self._family(group.family)
        values = {name: cat.param(name).check(value) for name, value in pairs}
        merged = ParameterGroup(group.name, group.family, group.description, {**group.values, **values})
        for cluster in await self.repo.all():     # values that depend on the node type
            if cluster.parameter_group == group.name:
                self.use.check_fits(merged, cluster.engine, cluster.engine_version, cluster.node_type)

        def change(g: ParameterGroup) -> None:
            g.values.update(values)
        group = await self.parameter_groups.mutate(group.name, change)
        await self._changed(group, f"Cache parameter group {group.name} modified: "
                            + ", ".join(f"{n}={v}" for n, v in sorted(values.items())))
        return pb.ModifyCacheParameterGroupResponse(cache_parameter_group_name=group.name)

    @rpc_errors
    async def ResetCacheParameterGroup(self, request, context):
        group = await self._existing(request.cache_parameter_group_name)
        if group.is_default:
            raise _state(f"Default parameter group {group.name} cannot be modified.")
        pairs = self._pairs(request, False)
        if request.reset_all_parameters and pairs:
            raise combination("Give ResetAllParameters or ParameterNameValues, not both.")
        if not request.reset_all_parameters and not pairs:
            raise combination("Give ResetAllParameters or the ParameterNameValues to reset.")
        cat = self._family(group.family)
        names = [name for name, _ in pairs]
        for name in names:
            if not cat.param(name).modifiable:
                raise invalid(f"Parameter {name} is not modifiable.")

        def change(g: ParameterGroup) -> None:
            if request.reset_all_parameters:
                g.values.clear()
            for name in names:
                g.values.pop(name, None)
        group = await self.parameter_groups.mutate(group.name, change)
        await self._changed(group, f"Cache parameter group {group.name} reset: "
                            + ("all parameters" if request.reset_all_parameters else ", ".join(sorted(names))))
        return pb.ResetCacheParameterGroupResponse(cache_parameter_group_name=group.name)

    @rpc_errors
    async def DescribeCacheParameterGroups(self, request, context):
        if request.cache_parameter_group_name:
            groups = [await self._existing(request.cache_parameter_group_name)]
        else:
            groups = await self.parameter_groups.all()
        page, marker = paginate(groups, request.max_records, request.marker)
        return pb.DescribeCacheParameterGroupsResponse(marker=marker, cache_parameter_groups=[
            pb.CacheParameterGroup(cache_parameter_group_name=g.name, cache_parameter_group_family=g.family,
                                   description=g.description, is_global=False) for g in page])

    @rpc_errors
    async def DescribeCacheParameters(self, request, context):
        group = await self._existing(request.cache_parameter_group_name)
        if request.source and request.source not in SOURCES:
            raise invalid(f"Invalid value for Source: {request.source!r}; valid values are {', '.join(SOURCES)}.")
        cat = self._family(group.family)
        parameters = []
        for name, param in sorted(cat.params.items()):
            if name in group.values:
                parameters.append(_parameter(param, group.values[name], "user"))
            else:
                parameters.append(_parameter(param, param.value, param.source))
        if request.source:
            parameters = [p for p in parameters if p.source == request.source]
        page, marker = paginate(parameters, request.max_records, request.marker)
        return pb.DescribeCacheParametersResponse(marker=marker, parameters=page)

    @rpc_errors
    async def DescribeEngineDefaultParameters(self, request, context):
        cat = self._family(request.cache_parameter_group_family)
        parameters = [_parameter(p, p.value, p.source) for _, p in sorted(cat.params.items())]
        page, marker = paginate(parameters, request.max_records, request.marker)
        return pb.DescribeEngineDefaultParametersResponse(engine_defaults=pb.EngineDefaults(
            cache_parameter_group_family=cat.family, marker=marker, parameters=page))

    @rpc_errors
    async def DeleteCacheParameterGroup(self, request, context):
        name = request.cache_parameter_group_name.lower()
        if is_default(name):
            raise invalid(f"Default parameter group {name} cannot be deleted.")
        async with self.repo.placement_lock:   # clusters name groups under it: none can start using it now
            group = await self._existing(name)
            users = await self._group_users(group.name)
            if users:
                raise _state(f"CacheParameterGroup {group.name} is used by cache cluster(s) {', '.join(users)}.")
            if not await self.parameter_groups.delete(group.name):
                raise not_found(group.name)
            CACHE.drop(group.name)
        return pb.DeleteCacheParameterGroupResponse()
