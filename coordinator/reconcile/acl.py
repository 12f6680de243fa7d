"""The redis ACL users each node gets, from its cluster's AUTH token or user groups.

An AUTH token is the `default` user with the token's hashes and every permission; user groups
give their users (names, password hashes, access strings). A group member also gets its group's
replication password (opened with the coordinator's secrets key), which its agent turns into
the replication user and masteruser/masterauth. The specs are rebuilt every cycle from the
records, so a token rotated or a user changed reaches every member, a replacement node and a
new primary alike. A user group that cannot be found gives a default user that is off: access
fails closed, never open.
"""
from __future__ import annotations

import structlog
from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain.auth import TOKEN_ACCESS
from coordinator.domain.model import Cluster
from coordinator.domain.users import User, UserGroup
from coordinator.state.repos import UserGroupRepo, UserRepo
from coordinator.state.secrets import SecretBox, SecretsError

log = structlog.get_logger("reconcile.acl")

CLOSED = agent_pb.AclUser(name="default", nopass=True, access_string="off")


def user_spec(user: User) -> agent_pb.AclUser:
    return agent_pb.AclUser(name=user.user_name, password_sha256=user.password_hashes, nopass=user.no_password,
                            access_string=user.access_string)


def acl_users(cluster: Cluster, users: dict[str, User], groups: dict[str, UserGroup]) -> list[agent_pb.AclUser]:
    """The users of the cluster's nodes ([]: redis's default user, open to all)."""
    if cluster.user_group_ids:
        found: list[agent_pb.AclUser] = []
        for group_id in cluster.user_group_ids:
            group = groups.get(group_id)
            members = [users.get(u) for u in group.user_ids] if group is not None else [None]
            if any(m is None for m in members):
                log.error("user group or user not found: default user off", cluster_id=cluster.cluster_id,
                          user_group_id=group_id)
                return [CLOSED]
            found += [user_spec(m) for m in members if m is not None]
        return found
    if cluster.auth_token_hashes:
        return [agent_pb.AclUser(name="default", password_sha256=cluster.auth_token_hashes,
                                 access_string=TOKEN_ACCESS)]
    return []


class AccessSpecs:
    """Users and user groups as read at the start of a cycle, and the opened replication passwords."""

    def __init__(self, users: UserRepo, user_groups: UserGroupRepo, secrets: SecretBox | None) -> None:
        self._users_repo = users
        self._groups_repo = user_groups
        self.secrets = secrets
        self.users: dict[str, User] = {}
        self.groups: dict[str, UserGroup] = {}
        self._opened: dict[str, str] = {}
        self.generation = 0   # moves whenever the users or groups changed: specs built before are stale

    async def refresh(self) -> None:
        users = {u.user_id: u for u in await self._users_repo.all()}
        groups = {g.group_id: g for g in await self._groups_repo.all()}
        if users != self.users or groups != self.groups:
            self.users, self.groups = users, groups
            self.generation += 1

    def _password(self, cluster: Cluster) -> str:
        sealed = cluster.replication_secret
        if not sealed or self.secrets is None:
            return ""
        if sealed not in self._opened:
            try:
                self._opened[sealed] = self.secrets.open(sealed)
            except SecretsError as error:
                log.error("replication password not opened", cluster_id=cluster.cluster_id, error=str(error))
                return ""
        return self._opened[sealed]

    def apply(self, spec: agent_pb.NodeSpec, cluster: Cluster) -> agent_pb.NodeSpec:
        if cluster.engine != "redis":
            return spec
        spec.acl_users.extend(acl_users(cluster, self.users, self.groups))
        spec.replication_password = self._password(cluster)
        return spec
