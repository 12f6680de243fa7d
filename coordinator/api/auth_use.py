"""What cluster and replication group requests do with AuthToken and UserGroupIds.

Both are checked before anything is written: a token's form and its strategy
(coordinator/domain/auth.py), that TLS is on (ElastiCache asks for TransitEncryptionEnabled),
that the user groups named exist, and that a token and user groups are not asked for together.
What is recorded is a token's hash, never the token; a replication group that gets either one
also gets a replication password for its replicas, sealed with the coordinator's secrets key.
Events say what changed ("AUTH token rotated"), never a token.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.convert import timestamp
from coordinator.domain import auth, users
from coordinator.domain.errors import ApiError, combination, invalid
from coordinator.domain.model import Cluster, ReplicationGroup
from coordinator.state.repos import UserGroupRepo
from coordinator.state.secrets import SecretBox

Target = Cluster | ReplicationGroup
MAX_USER_GROUPS = 1       # a replication group has one user group at a time


@dataclass
class AccessChange:
    """A modify's AUTH and user group part, checked; applied to fresh records by `apply`."""

    token: str = ""
    strategy: str = ""                  # ROTATE | SET | DELETE | "" (no token change)
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    remove_all: bool = False
    sealed: str = ""                    # a new replication password, if the target may need one

    def __bool__(self) -> bool:
        return bool(self.strategy or self.add or self.remove or self.remove_all)

    def __repr__(self) -> str:          # never the token
        return f"AccessChange(strategy={self.strategy!r}, add={self.add}, remove={self.remove})"


def copy_access(source: Target, target: Target) -> None:
    """A replication group's AUTH and user groups onto a member (its nodes get the same users)."""
    target.auth_token_hashes = list(source.auth_token_hashes)
    target.auth_token_modified = source.auth_token_modified
    target.user_group_ids = list(source.user_group_ids)
    target.replication_secret = source.replication_secret


def describe_access(target: Target, message: pb.CacheCluster | pb.ReplicationGroup) -> None:
    """AuthTokenEnabled and AuthTokenLastModifiedDate (never a token); a group's UserGroupIds."""
    message.auth_token_enabled = bool(target.auth_token_hashes)
    if target.auth_token_modified:
        message.auth_token_last_modified_date.CopyFrom(timestamp(target.auth_token_modified))
    if isinstance(message, pb.ReplicationGroup):
        message.user_group_ids.extend(target.user_group_ids)


class AccessUse:
    def __init__(self, user_groups: UserGroupRepo, secrets: SecretBox | None) -> None:
        self.user_groups = user_groups
        self.secrets = secrets          # None: started without --secrets-key-file

    async def _groups(self, values: Sequence[str]) -> list[str]:
        """User group ids a request names, each one known (UserGroupNotFound)."""
        ids = list(dict.fromkeys(users.identifier(v, "UserGroupId") for v in values))
        for group_id in ids:
            await self.user_groups.revision(group_id)
        return ids

    def _seal(self) -> str:
        if self.secrets is None:
            raise combination("AuthToken and UserGroupIds on a replication group need the coordinator's secrets "
                              "key; it was started without --secrets-key-file.")
        return self.secrets.new_password()[1]

    async def at_create(self, target: Target, request, engine: str, transit_mode: str, now: float,
                        replicated: bool) -> None:
        """Set a new cluster's or group's AUTH token hash or user groups from its create request."""
        hashes = auth.token_at_create(request.auth_token, engine, transit_mode)
        groups = await self._groups(getattr(request, "user_group_ids", []))
        if groups:
            if hashes:
                raise combination("AuthToken and UserGroupIds cannot be used together.")
            if not transit_mode:
                raise combination("UserGroupIds can be specified only when TransitEncryptionEnabled is true.")
            if len(groups) > MAX_USER_GROUPS:
                raise invalid(f"A replication group can have at most {MAX_USER_GROUPS} user group.")
        target.auth_token_hashes, target.user_group_ids = hashes, groups
        target.auth_token_modified = now if hashes else 0.0
        if replicated and (hashes or groups):
            target.replication_secret = self._seal()

    async def requested(self, request, replicated: bool) -> AccessChange:
        """The checked AUTH and user group part of a modify (applied by `apply`)."""
        strategy = auth.strategy_of(request.auth_token, request.auth_token_update_strategy)
        change = AccessChange(request.auth_token, strategy)
        if replicated:
            change.add = await self._groups(request.user_group_ids_to_add)
            change.remove = [users.identifier(v, "UserGroupIdsToRemove") for v in request.user_group_ids_to_remove]
            change.remove_all = request.remove_user_groups
            if change.remove_all and change.remove:
                raise combination("RemoveUserGroups and UserGroupIdsToRemove cannot be used together.")
            if self.secrets is not None and (change.strategy or change.add):
                change.sealed = self.secrets.new_password()[1]
        return change

    def apply(self, target: Target, change: AccessChange, engine: str, now: float) -> list[str]:
        """Apply change to a fresh record; returns what changed, for the event (no token)."""
        if not change:
            return []
        hashes = auth.updated(target.auth_token_hashes, change.token, change.strategy, engine,
                              target.transit_encryption_mode, to_user_groups=bool(change.add))
        groups = [g for g in target.user_group_ids if g not in change.remove and not change.remove_all]
        unknown = sorted(set(change.remove) - set(target.user_group_ids))
        if unknown:
            raise invalid(f"UserGroupIdsToRemove names user group(s) the replication group does not have: "
                          f"{', '.join(unknown)}.")
        groups += [g for g in change.add if g not in groups]
        if groups != target.user_group_ids and not target.transit_encryption_mode:
            raise combination("UserGroupIds can be specified only when TransitEncryptionEnabled is true.")
        if len(groups) > MAX_USER_GROUPS:
            raise invalid(f"A replication group can have at most {MAX_USER_GROUPS} user group.")
        if hashes and groups:
            raise combination("AuthToken and user groups cannot be used together: move to user groups with "
                              "AuthTokenUpdateStrategy DELETE and UserGroupIdsToAdd in one request.")
        notes = []
        if change.strategy:
            notes.append({"ROTATE": "AUTH token rotated (the previous one stays valid until SET)",
                          "SET": "AUTH token set (only the new one is valid)",
                          "DELETE": "AUTH token deleted"}[change.strategy])
            target.auth_token_hashes, target.auth_token_modified = hashes, now
        if groups != target.user_group_ids:
            notes.append("user groups " + (", ".join(groups) or "removed"))
            target.user_group_ids = groups
        if isinstance(target, ReplicationGroup) and (hashes or groups) and not target.replication_secret:
            target.replication_secret = change.sealed or self._seal()
        return notes


def user_groups_in_use(targets: Sequence[Target], group_id: str) -> list[str]:
    """The replication groups (or clusters) that name a user group."""
    return sorted(getattr(t, "group_id", "") or getattr(t, "cluster_id", "") for t in targets
                  if group_id in t.user_group_ids)


def not_in_use(kind: str, group_id: str, users_of: list[str]) -> None:
    if users_of:
        raise ApiError("InvalidUserGroupState", f"{kind} {group_id} is used by replication group(s) "
                       f"{', '.join(users_of)}; remove it from them first.")
