"""Engine versions in CacheControl (a mixin of CacheControlService): what the fleet can run.

The fleet can run what its live hosts report (each agent announces every engine binary
it found, on PATH and under --engine-path). A requested version is a full version or a
prefix standing for the newest installed one under it; anything else is refused with
InvalidParameterValue naming what is available. The rules live in versions.py.
"""
from __future__ import annotations

from collections import Counter

from cachefleet.v1 import cache_control_pb2 as pb

from cachefleet.common import versions

from coordinator.domain import validation
from coordinator.api.paging import paginate
from coordinator.api.errors import rpc_errors
from coordinator.domain.errors import insufficient_capacity, invalid


class EngineVersionRpcs:
    """Needs self.registry."""

    def _installed_versions(self) -> dict[str, Counter]:
        """engine -> version -> how many live hosts have it installed."""
        found: dict[str, Counter] = {}
        for host in self.registry.live():
            for install in {(e.engine, e.version) for e in host.info.engines}:
                found.setdefault(install[0], Counter())[install[1]] += 1
        return found

    def _engine_version(self, engine: str, requested: str) -> str:
        """The installed version `requested` stands for ('' = the newest), else refused."""
        if requested and not versions.valid(requested):
            raise invalid(f"Invalid value for EngineVersion: {requested!r}; expected X.Y.Z or a prefix such as X.Y.")
        installed = self._installed_versions().get(engine)
        if not installed:
            raise insufficient_capacity(f"No host of the fleet runs {engine}.")
        version = versions.resolve(requested, installed)
        if version is None:
            raise invalid(f"Engine version {requested} of {engine} is not installed on the fleet; "
                          f"available: {', '.join(sorted(installed, key=versions.key))}.")
        return version

    @rpc_errors
    async def DescribeCacheEngineVersions(self, request, context):
        if request.engine:
            validation.engine(request.engine)
        if request.engine_version and not versions.valid(request.engine_version):
            raise invalid(f"Invalid value for EngineVersion: {request.engine_version!r}.")
        live = len(self.registry.live())
        rows: dict[str, list[tuple[str, int]]] = {}
        for engine, installed in sorted(self._installed_versions().items()):
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
