"""DescribeCacheEngineVersions: what the fleet can run (api/fleet.py holds the rules)."""
from __future__ import annotations

from cachefleet.v1 import cache_control_pb2 as pb

from cachefleet.common import versions

from coordinator.api.fleet import Fleet
from coordinator.domain import validation
from coordinator.api.paging import paginate
from coordinator.api.errors import rpc_errors
from coordinator.domain.errors import invalid


class EngineVersionServicer:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    @rpc_errors
    async def DescribeCacheEngineVersions(self, request, context):
        if request.engine:
            validation.engine(request.engine)
        if request.engine_version and not versions.valid(request.engine_version):
            raise invalid(f"Invalid value for EngineVersion: {request.engine_version!r}.")
        live = self.fleet.live_count()
        rows: dict[str, list[tuple[str, int]]] = {}
        for engine, installed in sorted(self.fleet.installed().items()):
            if request.engine and engine != request.engine:
                continue
            for version, hosts in installed.items():
                if not versions.matches(request.engine_version, version):
                    continue
                if (request.cache_parameter_group_family
                        and versions.family(engine, version) != request.cache_parameter_group_family.lower()):
                    continue
                rows.setdefault(engine, []).append((version, hosts))
        listed: list[pb.CacheEngineVersion] = []
        for engine, found in rows.items():
            found.sort(key=lambda row: versions.key(row[0]))
            if request.default_only:
                found = found[-1:]
            listed += [pb.CacheEngineVersion(
                engine=engine, engine_version=version,
                cache_parameter_group_family=versions.family(engine, version),
                cache_engine_description=versions.ENGINE_DESCRIPTIONS.get(engine, engine),
                cache_engine_version_description=f"{engine} version {version} "
                                                 f"(installed on {hosts} of {live} hosts)")
                for version, hosts in found]
        page, marker = paginate(listed, request.max_records, request.marker)
        return pb.DescribeCacheEngineVersionsResponse(marker=marker, cache_engine_versions=page)
