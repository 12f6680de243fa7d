"""The user and user group RPCs of CacheControl (ElastiCache RBAC).

A user (`users/<id>`) and a user group (`usergroups/<id>`) are records of their own; a
replication group names its user group, and the reconciler gives every member's engine the
group's users (redis ACL users, applied live by the agents). So a change here reaches every
member within a cycle, without a restart: the reconciler is woken after each one.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.auth_use import not_in_use, user_groups_in_use
from coordinator.api.errors import rpc_errors
from coordinator.api.paging import paginate
from coordinator.domain import users
from coordinator.domain.changes import applying_live, applying_live_in_group
from coordinator.domain.errors import ApiError, combination, group_not_found, invalid
from coordinator.domain.redis_acl import check_access_string
from coordinator.state.events import EventLog
from coordinator.state.repos import ClusterRepo, GroupRepo, UserGroupRepo, UserRepo

OWNER_ID = "cachefleet"
MINIMUM_ENGINE_VERSION = "6.2"


def user_message(user: users.User, groups: list[users.UserGroup]) -> pb.User:
    return pb.User(
        user_id=user.user_id, user_name=user.user_name, status="active", engine=user.engine,
        minimum_engine_version=MINIMUM_ENGINE_VERSION, access_string=user.access_string,
        user_group_ids=sorted(g.group_id for g in groups if user.user_id in g.user_ids),
        authentication=pb.Authentication(type="no-password" if user.no_password else "password",
                                         password_count=len(user.password_hashes)),
        arn=f"arn:cachefleet:elasticache::{OWNER_ID}:user:{user.user_id}")


class UserServicer:
    def __init__(self, users_repo: UserRepo, user_groups: UserGroupRepo, groups: GroupRepo, events: EventLog,
                 wake: Callable[[], None], clock: Callable[[], float] = time.time) -> None:
        self.users = users_repo
        self.user_groups = user_groups
        self.groups = groups
        self.events = events
        self.wake = wake                 # the reconciler's: it sends the members their users
        self.clock = clock

    async def _group_message(self, group: users.UserGroup) -> pb.UserGroup:
        return pb.UserGroup(
            user_group_id=group.group_id, status="active", engine=group.engine, user_ids=group.user_ids,
            minimum_engine_version=MINIMUM_ENGINE_VERSION,
            replication_groups=user_groups_in_use(await self.groups.all(), group.group_id),
            arn=f"arn:cachefleet:elasticache::{OWNER_ID}:usergroup:{group.group_id}")

    async def _members(self, group_id: str, user_ids: list[str]) -> list[users.User]:
        """The users of a group as it would be: each one known, a `default`, no name twice."""
        found = []
        for user_id in user_ids:
            user = await self.users.get(user_id)
            if user is None:
                raise users.user_not_found(user_id)
            found.append(user)
        users.check_members(group_id, found)
        return found

    async def _changed(self, what: str, identifier: str, message: str, user_group_ids: set[str]) -> None:
        """An event on the user or group; what uses those user groups shows `modifying` until
        every node runs the new users (as a TLS or AUTH change does); the reconciler woken."""
        await self.events.record(what, identifier, message)
        for group in await self.groups.all():
            if user_group_ids & set(group.user_group_ids):
                with contextlib.suppress(ApiError):     # deleted meanwhile: nothing to show
                    await self.groups.change(group.group_id, applying_live_in_group, group_not_found)
        clusters = ClusterRepo(self.groups.store)
        for cluster in await clusters.all():
            if not cluster.replication_group_id and user_group_ids & set(cluster.user_group_ids):
                with contextlib.suppress(ApiError):
                    await clusters.mutate(cluster.cluster_id, applying_live)
        self.wake()

    # -- users ----------------------------------------------------------------------------------

    @rpc_errors
    async def CreateUser(self, request, context):
        user_id = users.identifier(request.user_id, "UserId")
        user = users.User(user_id, users.user_name(request.user_name),
                          check_access_string(request.access_string),
                          users.password_hashes(list(request.passwords), request.no_password_required),
                          request.no_password_required, users.engine(request.engine), created=self.clock())
        if not await self.users.insert(user):
            raise ApiError("UserAlreadyExists", f"User {user_id} already exists.")
        await self.events.record("user", user_id, f"User created: {user.user_name}")
        return user_message(user, [])

    @rpc_errors
    async def ModifyUser(self, request, context):
        user_id = users.changeable(users.identifier(request.user_id, "UserId"))
        if request.access_string and request.append_access_string:
            raise combination("AccessString and AppendAccessString cannot be given together.")
        access = check_access_string(request.access_string) if request.access_string else ""
        appended = check_access_string(request.append_access_string) if request.append_access_string else ""
        no_password = request.no_password_required if request.HasField("no_password_required") else None
        hashes = users.password_hashes(list(request.passwords), bool(no_password), required=False) \
            if request.passwords or no_password else None
        if no_password is False and not request.passwords:
            raise combination("NoPasswordRequired false needs Passwords.")
        notes: list[str] = []

        def change(user: users.User) -> bool:
            notes.clear()
            if access or appended:
                user.access_string = access or check_access_string(f"{user.access_string} {appended}")
                notes.append("access string")
            if hashes is not None:
                user.password_hashes, user.no_password = hashes, not hashes
                notes.append("passwords" if hashes else "no password required")
            return bool(notes)
        user = await self.users.mutate(user_id, change)
        groups = await self.user_groups.all()
        if notes:
            held_by = {g.group_id for g in groups if user_id in g.user_ids}
            await self._changed("user", user_id, "User modified: " + ", ".join(notes), held_by)
        return user_message(user, groups)

    @rpc_errors
    async def DeleteUser(self, request, context):
        user_id = users.changeable(users.identifier(request.user_id, "UserId"))
        user = await self.users.get(user_id)
        if user is None:
            raise users.user_not_found(user_id)
        holding = [g for g in await self.user_groups.all() if user_id in g.user_ids]
        if user.user_name == "default" and holding:
            raise ApiError("DefaultUserAssociatedToUserGroup",
                           f"User {user_id} is the default user of user group(s) "
                           f"{', '.join(g.group_id for g in holding)}; remove it from them first.")
        for group in holding:      # ElastiCache takes a deleted user out of its groups
            await self.user_groups.mutate(group.group_id, lambda g: g.user_ids.remove(user_id)
                                          if user_id in g.user_ids else False)
        await self.users.delete(user_id)
        await self._changed("user", user_id, f"User deleted: {user.user_name}", {g.group_id for g in holding})
        message = user_message(user, [])
        message.status = "deleting"
        return message

    @rpc_errors
    async def DescribeUsers(self, request, context):
        if request.engine:
            users.engine(request.engine)
        if request.user_id:
            user_id = users.identifier(request.user_id, "UserId")
            user = await self.users.get(user_id)
            if user is None:
                raise users.user_not_found(user_id)
            found = [user]
        else:
            found = sorted(await self.users.all(), key=lambda u: u.user_id)
        page, marker = paginate(found, request.max_records, request.marker)
        groups = await self.user_groups.all()
        return pb.DescribeUsersResponse(users=[user_message(u, groups) for u in page], marker=marker)

    # -- user groups ----------------------------------------------------------------------------

    @rpc_errors
    async def CreateUserGroup(self, request, context):
        group_id = users.identifier(request.user_group_id, "UserGroupId")
        engine = users.engine(request.engine)
        user_ids = list(dict.fromkeys(users.identifier(u, "UserIds") for u in request.user_ids))
        await self._members(group_id, user_ids)
        group = users.UserGroup(group_id, user_ids, engine, created=self.clock())
        if not await self.user_groups.insert(group):
            raise ApiError("UserGroupAlreadyExists", f"User group {group_id} already exists.")
        await self.events.record("user-group", group_id, f"User group created with {len(user_ids)} user(s)")
        return await self._group_message(group)

    @rpc_errors
    async def ModifyUserGroup(self, request, context):
        group_id = users.identifier(request.user_group_id, "UserGroupId")
        add = list(dict.fromkeys(users.identifier(u, "UserIdsToAdd") for u in request.user_ids_to_add))
        remove = [users.identifier(u, "UserIdsToRemove") for u in request.user_ids_to_remove]
        if set(add) & set(remove):
            raise combination("A user cannot be both added to and removed from a user group.")
        current = await self.user_groups.get(group_id)
        if current is None:
            raise users.user_group_not_found(group_id)
        wanted = [u for u in current.user_ids if u not in remove] + [u for u in add if u not in current.user_ids]
        missing = sorted(set(remove) - set(current.user_ids))
        if missing:
            raise invalid(f"UserIdsToRemove names user(s) not in user group {group_id}: {', '.join(missing)}.")
        await self._members(group_id, wanted)

        def change(group: users.UserGroup) -> bool:
            if group.user_ids != current.user_ids:     # changed since it was checked: ask again
                raise ApiError("InvalidUserGroupState", f"User group {group_id} changed meanwhile; try again.")
            group.user_ids = wanted
            return True
        group = await self.user_groups.mutate(group_id, change)
        if add or remove:
            await self._changed("user-group", group_id, "User group modified: " + "; ".join(
                part for part in (f"added {', '.join(add)}" if add else "",
                                  f"removed {', '.join(remove)}" if remove else "") if part), {group_id})
        return await self._group_message(group)

    @rpc_errors
    async def DeleteUserGroup(self, request, context):
        group_id = users.identifier(request.user_group_id, "UserGroupId")
        group = await self.user_groups.get(group_id)
        if group is None:
            raise users.user_group_not_found(group_id)
        not_in_use("User group", group_id, user_groups_in_use(await self.groups.all(), group_id))
        await self.user_groups.delete(group_id)
        await self.events.record("user-group", group_id, "User group deleted")
        message = await self._group_message(group)
        message.status = "deleting"
        return message

    @rpc_errors
    async def DescribeUserGroups(self, request, context):
        if request.user_group_id:
            group_id = users.identifier(request.user_group_id, "UserGroupId")
            group = await self.user_groups.get(group_id)
            if group is None:
                raise users.user_group_not_found(group_id)
            found = [group]
        else:
            found = sorted(await self.user_groups.all(), key=lambda g: g.group_id)
        page, marker = paginate(found, request.max_records, request.marker)
        return pb.DescribeUserGroupsResponse(user_groups=[await self._group_message(g) for g in page],
                                             marker=marker)
