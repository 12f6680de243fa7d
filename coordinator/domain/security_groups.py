"""Cache security groups, the rules: names, CIDR ranges, the record, and the refusals.

ElastiCache's groups authorize EC2 security groups; we have no EC2, so a group authorizes
CIDR ranges instead (what RDS's DB security groups call an IP range). A cluster with no
group named runs in `default`, which always exists and cannot be deleted; a range is kept in
its network form (`10.0.2.0/24`), so one range has one spelling and one record.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from coordinator.domain.errors import ApiError, invalid

DEFAULT_GROUP = "default"
MAX_RANGES = 100          # per group: every range is a rule on every host of its clusters
MAX_GROUPS_PER_CLUSTER = 5
_NAME = re.compile(r"[a-z](?:[a-z0-9]|-(?!-))*")


@dataclass
class SecurityGroup:
    name: str
    description: str
    cidrs: list[str] = field(default_factory=list)   # network form, in the order authorized
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecurityGroup:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def security_group_key(name: str) -> str:
    return f"securitygroups/{name}"


def not_found(name: str) -> ApiError:
    return ApiError("CacheSecurityGroupNotFound", f"CacheSecurityGroup {name} not found.")


def group_state(message: str) -> ApiError:
    return ApiError("InvalidCacheSecurityGroupState", message)


def group_name(value: str, what: str = "CacheSecurityGroupName") -> str:
    """A group's name as stored (lower case), or InvalidParameterValue / MissingParameter."""
    if not value:
        raise ApiError("MissingParameter", f"The request must contain the parameter {what}.")
    lowered = value.lower()
    if len(lowered) > 255 or not _NAME.fullmatch(lowered) or lowered.endswith("-"):
        raise invalid(f"{what} must be 1 to 255 letters, digits or hyphens, begin with a letter, and "
                      f"contain no two consecutive hyphens nor end with a hyphen: {value!r}.")
    return lowered


def cidr(value: str) -> str:
    """A CIDR range in its network form; InvalidParameterValue for anything else, a range with
    host bits set included (`10.0.0.1/24` says two things: which one was meant?)."""
    if not value:
        raise ApiError("MissingParameter", "The request must contain the parameter CidrIp.")
    if "/" not in value or value.strip() != value:
        raise invalid(f"CidrIp {value!r} is not a CIDR range (an address, '/', a prefix length: 10.0.2.0/24).")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise invalid(f"CidrIp {value!r} is not a valid CIDR range: {exc}.") from None
    return str(network)


def names_of(values: list[str]) -> list[str]:
    """A request's CacheSecurityGroupNames: each checked, duplicates refused, at most five."""
    names = [group_name(v, "CacheSecurityGroupNames") for v in values]
    if len(set(names)) != len(names):
        raise invalid("CacheSecurityGroupNames names the same group twice.")
    if len(names) > MAX_GROUPS_PER_CLUSTER:
        raise invalid(f"At most {MAX_GROUPS_PER_CLUSTER} CacheSecurityGroupNames, got {len(names)}.")
    return names


def effective(names: list[str]) -> list[str]:
    """The groups a cluster runs in: the ones it names, else `default`."""
    return names or [DEFAULT_GROUP]
