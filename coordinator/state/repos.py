"""Cluster, replication group, cache security group, user and user group records: typed repositories over the store."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from coordinator.domain.errors import ApiError, cluster_not_found, group_not_found
from coordinator.domain.model import Cluster, ReplicationGroup, cluster_key, group_key
from coordinator.domain import security_groups as sg
from coordinator.domain import users
from coordinator.state.repository import MAX_CAS_ATTEMPTS, Repository
from coordinator.state.store import Store
from coordinator.state.store.base import ABSENT


class ClusterRepo(Repository[Cluster]):
    def __init__(self, store: Store):
        super().__init__(store, cluster_key(""), Cluster.from_dict, lambda c: c.cluster_id, cluster_not_found,
                         "Cache cluster")
        # Held while a placement is computed and written, so two placements never
        # count the same free memory or port twice.
        self.placement_lock = asyncio.Lock()

    async def record_revision(self, cluster_id: str) -> int:
        return await self.revision(cluster_id)

    async def create(self, cluster: Cluster) -> None:
        if not await self.insert(cluster):
            raise ApiError("CacheClusterAlreadyExists", f"Cache cluster {cluster.cluster_id} already exists.")


class GroupRepo(Repository[ReplicationGroup]):
    """Replication group records; changes that touch members go in one transaction."""

    def __init__(self, store: Store):
        super().__init__(store, group_key(""), ReplicationGroup.from_dict, lambda g: g.group_id, group_not_found,
                         "Replication group")

    async def change(self, group_id: str, change: Callable[[ReplicationGroup, dict[str, Cluster]], bool | None],
                     not_found: Callable[[str], ApiError]) -> tuple[ReplicationGroup, dict[str, Cluster]]:
        """Apply change(group, members) to fresh copies and write the group and every member
        (members added to the dict are created, members whose cluster is set to None are
        deleted) in one transaction; retry when someone wrote first."""
        for _ in range(MAX_CAS_ATTEMPTS):
            rec = await self.store.get(self.key(group_id))
            if rec is None:
                raise not_found(group_id)
            group = ReplicationGroup.from_dict(rec.value)
            records = {}
            for member in group.members:
                member_rec = await self.store.get(cluster_key(member))
                if member_rec is not None:
                    records[member] = member_rec
            members = {m: Cluster.from_dict(r.value) for m, r in records.items()}
            if change(group, members) is False:
                return group, members
            puts = [(rec.key, group.to_dict(), rec.revision)]
            deletes: list[tuple[str, int | None]] = []
            for member, cluster in members.items():
                revision = records[member].revision if member in records else ABSENT
                if cluster is None:
                    if member in records:
                        deletes.append((cluster_key(member), revision))
                else:
                    puts.append((cluster_key(member), cluster.to_dict(), revision))
            if await self.store.transact(puts, deletes):
                return group, {m: c for m, c in members.items() if c is not None}
        raise ApiError("ServiceUnavailable", f"Replication group {group_id} is changing too fast; try again.")

    async def create(self, group: ReplicationGroup, members: list[Cluster],
                     existing: dict[str, int] | None = None) -> bool:
        """Write a new group and its members at once; `existing` maps member ids that already
        exist (an adopted primary) to the revision they were read at."""
        existing = existing or {}
        puts = [(self.key(group.group_id), group.to_dict(), ABSENT)]
        puts += [(cluster_key(c.cluster_id), c.to_dict(), existing.get(c.cluster_id, ABSENT)) for c in members]
        return await self.store.transact(puts)


class SecurityGroupRepo(Repository[sg.SecurityGroup]):
    """Cache security group records (`securitygroups/<name>`); `default` is made at start."""

    def __init__(self, store: Store):
        super().__init__(store, sg.security_group_key(""), sg.SecurityGroup.from_dict, lambda g: g.name,
                         sg.not_found, "CacheSecurityGroup")

    async def ensure_default(self, created: float, cidrs: tuple[str, ...] = ()) -> None:
        """The group clusters that name none run in, made once with `cidrs` (none: nothing but
        the fleet gets in until a range is authorized, as ElastiCache's access is off by default)."""
        if await self.get(sg.DEFAULT_GROUP) is None:
            ranges = list(dict.fromkeys(sg.cidr(c) for c in cidrs))
            await self.insert(sg.SecurityGroup(sg.DEFAULT_GROUP, "default", ranges, created=created))

    async def by_name(self) -> dict[str, sg.SecurityGroup]:
        return {g.name: g for g in await self.all()}


class UserRepo(Repository[users.User]):
    """RBAC users (`users/<id>`): names, access strings and password hashes."""

    def __init__(self, store: Store):
        super().__init__(store, users.user_key(""), users.User.from_dict, lambda u: u.user_id,
                         users.user_not_found, "User")

    async def ensure_default(self, created: float) -> None:
        """ElastiCache's own `default` user (no password, every command), made once: what a
        user group names when clients that do not AUTH may do everything."""
        if await self.get(users.DEFAULT_USER_ID) is None:
            await self.insert(users.User(users.DEFAULT_USER_ID, "default", users.DEFAULT_ACCESS, no_password=True,
                                         created=created))


class UserGroupRepo(Repository[users.UserGroup]):
    """RBAC user groups (`usergroups/<id>`): the users a replication group's members have."""

    def __init__(self, store: Store):
        super().__init__(store, users.user_group_key(""), users.UserGroup.from_dict, lambda g: g.group_id,
                         users.user_group_not_found, "User group")
