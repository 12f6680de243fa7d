"""What cluster and replication group requests do with CacheSecurityGroupNames: check that
every group named exists (else CacheSecurityGroupNotFound, before anything is written) and
show a cluster's groups in its description."""
from __future__ import annotations

from collections.abc import Sequence

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.domain import security_groups as sg
from coordinator.domain.model import Cluster
from coordinator.state.repos import SecurityGroupRepo


class SecurityGroupUse:
    def __init__(self, repo: SecurityGroupRepo) -> None:
        self.repo = repo

    async def named(self, values: Sequence[str]) -> list[str] | None:
        """The groups a request names, each one known; None when it names none."""
        if not values:
            return None
        names = sg.names_of(list(values))
        known = await self.repo.by_name()
        for name in names:
            if name not in known:
                raise sg.not_found(name)
        return names

    @staticmethod
    def memberships(cluster: Cluster) -> list[pb.CacheSecurityGroupMembership]:
        return [pb.CacheSecurityGroupMembership(cache_security_group_name=name, status="active")
                for name in sg.effective(cluster.security_groups)]

    @staticmethod
    def note(names: list[str]) -> str:
        return "cache security groups " + ", ".join(names)
