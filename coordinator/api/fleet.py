"""What the live hosts offer: their availability zones and the engine versions installed on them.

The fleet can run what its live hosts report (each agent announces every engine binary
it found, on PATH and under --engine-path). A requested version is a full version or a
prefix standing for the newest installed one under it; anything else is refused with
InvalidParameterValue naming what is available. The rules live in cachefleet.common.versions.
"""
from __future__ import annotations

from collections import Counter

from cachefleet.common import versions

from coordinator.domain.errors import combination, insufficient_capacity, invalid
from coordinator.state.registry import HostRegistry


class Fleet:
    def __init__(self, registry: HostRegistry, signs_nodes: bool = False) -> None:
        self.registry = registry
        self.signs_nodes = signs_nodes      # the coordinator was given the nodes' CA (--node-ca-dir)

    def check_transit(self, engine: str, version: str, mode: str) -> None:
        """TLS in transit needs a CA to sign node certificates and a live host whose build of
        the version has TLS (not the 6.0.x builds): else InvalidParameterCombination."""
        if not mode:
            return
        if not self.signs_nodes:
            raise combination("TransitEncryptionEnabled needs the coordinator to sign node certificates; "
                              "it was started without --node-ca-dir.")
        if not any(e.engine == engine and e.version == version and e.tls
                   for host in self.registry.live() for e in host.info.engines):
            raise combination(f"TransitEncryptionEnabled is not supported by {engine} {version}: no host of "
                              "the fleet has a build of it with TLS (redis 7.0 or later, memcached built with it).")

    def live_count(self) -> int:
        return len(self.registry.live())

    def zones(self) -> set[str]:
        return {h.info.availability_zone for h in self.registry.live()}

    def installed(self) -> dict[str, Counter]:
        """engine -> version -> how many live hosts have it installed."""
        found: dict[str, Counter] = {}
        for host in self.registry.live():
            for install in {(e.engine, e.version) for e in host.info.engines}:
                found.setdefault(install[0], Counter())[install[1]] += 1
        return found

    def versions(self, engine: str) -> set[str]:
        """Every version of engine some live host runs."""
        return {v for h in self.registry.live() for v in h.engine_versions(engine)}

    def engine_version(self, engine: str, requested: str) -> str:
        """The installed version `requested` stands for ('' = the newest), else refused."""
        if requested and not versions.valid(requested):
            raise invalid(f"Invalid value for EngineVersion: {requested!r}; expected X.Y.Z or a prefix such as X.Y.")
        installed = self.installed().get(engine)
        if not installed:
            raise insufficient_capacity(f"No host of the fleet runs {engine}.")
        version = versions.resolve(requested, installed)
        if version is None:
            raise invalid(f"Engine version {requested} of {engine} is not installed on the fleet; "
                          f"available: {', '.join(sorted(installed, key=versions.key))}.")
        return version
