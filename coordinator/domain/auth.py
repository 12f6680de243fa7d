"""AUTH tokens as ElastiCache takes them, and the users a node gets from them.

A token is kept only as its SHA-256 hash: redis checks a password against `#<hash>` rules, so
the coordinator never needs the token again. ROTATE keeps the old token valid beside the new
one (at most two), SET keeps only the new one (after a ROTATE), DELETE drops AUTH, which
ElastiCache allows only while a replication group moves to user groups (RBAC).
"""
from __future__ import annotations

import hashlib

from coordinator.domain.errors import ApiError, combination, invalid

MIN_LENGTH, MAX_LENGTH = 16, 128
FORBIDDEN = '/"@'
STRATEGIES = ("ROTATE", "SET", "DELETE")
# the default user of a node with an AUTH token: every key, channel and command, with a password
TOKEN_ACCESS = "on ~* &* +@all"


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_secret(value: str, what: str) -> str:
    """16-128 printable ASCII characters, no space and none of / " @: InvalidParameterValue
    otherwise (the message never repeats the value)."""
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise invalid(f"{what} must be {MIN_LENGTH} to {MAX_LENGTH} characters long.")
    if not all("!" <= c <= "~" for c in value) or any(c in FORBIDDEN for c in value):
        raise invalid(f"{what} must be printable ASCII characters without spaces, and cannot contain "
                      "any of the following characters: '/', '\"', or '@'.")
    return value


def token_at_create(token: str, engine: str, transit_mode: str) -> list[str]:
    """The hashes a new cluster or group starts with ([] without a token)."""
    if not token:
        return []
    if engine != "redis":
        raise combination("AuthToken is not supported by engine memcached.")
    check_secret(token, "AuthToken")
    if not transit_mode:
        raise combination("AuthToken can be specified only when TransitEncryptionEnabled is true.")
    return [sha256(token)]


def strategy_of(token: str, strategy: str) -> str:
    """The update strategy a modify asks for ("" when it touches no token)."""
    if strategy and strategy.upper() not in STRATEGIES:
        raise invalid(f"AuthTokenUpdateStrategy must be ROTATE, SET or DELETE, got {strategy!r}.")
    strategy = strategy.upper()
    if token and strategy == "DELETE":
        raise combination("AuthToken cannot be given with AuthTokenUpdateStrategy DELETE.")
    if not token and strategy in ("ROTATE", "SET"):
        raise ApiError("MissingParameter", f"AuthTokenUpdateStrategy {strategy} needs an AuthToken.")
    return strategy or ("ROTATE" if token else "")


def updated(hashes: list[str], token: str, strategy: str, engine: str, transit_mode: str,
            to_user_groups: bool = False) -> list[str]:
    """The hashes after a modify (strategy from strategy_of; "" leaves them as they are)."""
    if not strategy:
        return list(hashes)
    if engine != "redis":
        raise combination("AuthToken is not supported by engine memcached.")
    if not transit_mode:
        raise combination("AuthToken can be specified only when TransitEncryptionEnabled is true.")
    if strategy == "DELETE":
        if not to_user_groups:
            raise combination("AuthTokenUpdateStrategy DELETE is allowed only when moving to user groups "
                              "(UserGroupIdsToAdd).")
        return []
    check_secret(token, "AuthToken")
    new = sha256(token)
    if strategy == "SET":
        if not hashes:
            raise combination("AuthTokenUpdateStrategy SET is allowed only after ROTATE: the cluster has no "
                              "AUTH token.")
        return [new]
    return [h for h in hashes if h != new][-1:] + [new]      # ROTATE: the latest old one and the new
