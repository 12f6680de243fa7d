"""Users and user groups (ElastiCache RBAC), the rules: identifiers, passwords, the records.

A user is a redis ACL user: a name clients AUTH as, its passwords (kept as SHA-256 hashes
only, at most two, so one can be rotated) or none, and an access string in redis's grammar
(coordinator/domain/redis_acl.py). A user group gathers users for replication groups to name;
it must hold a user named `default` (what a client that does not AUTH is), and no two of
its users may share a name.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from coordinator.domain import auth
from coordinator.domain.errors import ApiError, combination, invalid

MAX_PASSWORDS = 2
MAX_USERS_PER_GROUP = 100
_ID = re.compile(r"[a-z][a-z0-9-]{0,39}")
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,119}")
RESERVED_PREFIX = "cachefleet-"        # the agent's and the replication users' names
DEFAULT_USER_ID = "default"            # made by the coordinator, as ElastiCache makes it; never changed
DEFAULT_ACCESS = "on ~* &* +@all"


@dataclass
class User:
    user_id: str
    user_name: str
    access_string: str
    password_hashes: list[str] = field(default_factory=list)   # SHA-256, never a password
    no_password: bool = False
    engine: str = "redis"
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> User:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class UserGroup:
    group_id: str
    user_ids: list[str] = field(default_factory=list)
    engine: str = "redis"
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserGroup:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def user_key(user_id: str) -> str:
    return f"users/{user_id}"


def user_group_key(group_id: str) -> str:
    return f"usergroups/{group_id}"


def user_not_found(user_id: str) -> ApiError:
    return ApiError("UserNotFound", f"User {user_id} not found.")


def user_group_not_found(group_id: str) -> ApiError:
    return ApiError("UserGroupNotFound", f"User group {group_id} not found.")


def identifier(value: str, what: str) -> str:
    """A user or user group id as stored (lower case): a letter, then letters, digits, hyphens."""
    if not value:
        raise ApiError("MissingParameter", f"The request must contain the parameter {what}.")
    lowered = value.lower()
    if not _ID.fullmatch(lowered) or "--" in lowered or lowered.endswith("-"):
        raise invalid(f"{what} must be 1 to 40 letters, digits or hyphens, begin with a letter, and contain "
                      f"no two consecutive hyphens nor end with a hyphen: {value[:60]!r}.")
    return lowered


def engine(value: str) -> str:
    if (value or "redis").lower() != "redis":
        raise invalid(f"Engine must be redis for users and user groups, got {value[:20]!r}: memcached has no users.")
    return "redis"


def changeable(user_id: str) -> str:
    """The built-in default user is neither modified nor deleted (make another user named default)."""
    if user_id == DEFAULT_USER_ID:
        raise invalid("The user default cannot be modified or deleted; create a user with UserName default "
                      "and another UserId instead.")
    return user_id


def user_name(value: str) -> str:
    if not value:
        raise ApiError("MissingParameter", "The request must contain the parameter UserName.")
    if not _USER_NAME.fullmatch(value) or value.lower().startswith(RESERVED_PREFIX):
        raise invalid(f"UserName must be 1 to 120 letters, digits or . _ : -, not beginning with "
                      f"{RESERVED_PREFIX!r}: {value[:60]!r}.")
    return value


def password_hashes(passwords: list[str], no_password: bool, required: bool = True) -> list[str]:
    """The hashes of 1-2 passwords, or [] with NoPasswordRequired; both or (when required)
    neither is refused."""
    if passwords and no_password:
        raise combination("Passwords and NoPasswordRequired cannot be given together.")
    if not passwords:
        if required and not no_password:
            raise combination("A user needs Passwords or NoPasswordRequired.")
        return []
    if len(passwords) > MAX_PASSWORDS:
        raise invalid(f"A user can have at most {MAX_PASSWORDS} passwords, got {len(passwords)}.")
    return list(dict.fromkeys(auth.sha256(auth.check_secret(p, "Passwords")) for p in passwords))


def check_members(group_id: str, members: list[User]) -> None:
    """A group's users: one named `default`, no name twice (DefaultUserRequired, DuplicateUserName)."""
    names = [u.user_name for u in members]
    if len(members) > MAX_USERS_PER_GROUP:
        raise invalid(f"A user group can have at most {MAX_USERS_PER_GROUP} users.")
    if "default" not in names:
        raise ApiError("DefaultUserRequired", f"User group {group_id} must contain a user whose UserName is default.")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ApiError("DuplicateUserName", f"User group {group_id} would have two users named {', '.join(twice)}.")
