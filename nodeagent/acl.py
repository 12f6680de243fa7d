"""redis ACL users on one node: AUTH tokens and ElastiCache users, one mechanism.

The coordinator sends the users a node must have (`NodeSpec.acl_users`: an AUTH token is the
`default` user with a password; a user group is its users) and the password replicas use to
follow their primary (`replication_password`). The agent writes them into `acl.conf`, which
every redis program includes, so a restarted engine comes back with them, and applies a change
live (ACL SETUSER name reset ...; ACL DELUSER for a managed user no longer listed; the default
user back to redis's own when it is no longer listed): a token rotation never restarts the
engine. Passwords reach the engine only as SHA-256 hashes (`#<hash>`), save the replication
password, which a replica must send in clear (`masterauth`).

While a node has managed users the agent's own connections (probes, fencing, INFO, BGSAVE,
REPLICAOF) authenticate as `cachefleet-agent`, whose password the agent makes once and keeps in
its state directory (0600); it never leaves the host. That AUTH is tolerated when it fails: an
engine started before it had the user (or before it had any) still serves its default user,
and the applier creates the user before the default user gets a password, then authenticates
the same connection as it.
"""
from __future__ import annotations

import functools
import hashlib
import pathlib
import re
import secrets

from cachefleet.v1 import node_agent_pb2

from nodeagent.errors import InvalidArgument
from nodeagent.layout import StateDir, write_atomic
from nodeagent.resp import Command, Tolerated

AGENT_USER = "cachefleet-agent"
REPLICATION_USER = "cachefleet-replication"
RESERVED = frozenset({AGENT_USER, REPLICATION_USER})
ACL_CONF = "acl.conf"
AGENT_PASSWORD_FILE = "engine-auth"
# redis's default user as redis makes it: what `default` becomes when no longer managed
DEFAULT_RULES = ("on", "nopass", "~*", "&*", "+@all")
AGENT_RULES = ("on", "~*", "&*", "+@all")
REPLICATION_RULES = ("on", "+psync", "+sync", "+replconf", "+ping")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
_HASH = re.compile(r"[0-9a-f]{64}")
_SECRET = re.compile(r"[!-~]{16,128}")        # printable, no space: a word in a config line
# Rules whose place is the other fields (passwords, nopass), or that would undo them.
_NOT_IN_ACCESS = ("reset", "resetpass", "nopass")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=16)
def _password_at(path: str) -> str:
    file = pathlib.Path(path)
    try:
        return file.read_text().strip()
    except FileNotFoundError:
        write_atomic(file, secrets.token_urlsafe(32) + "\n")     # 0600, the agent's alone
        return file.read_text().strip()


def agent_password(state: StateDir) -> str:
    """The agent's own engine password, made the first time (never sent anywhere)."""
    return _password_at(str(state.root / AGENT_PASSWORD_FILE))


def managed(spec: node_agent_pb2.NodeSpec) -> bool:
    """Whether the node's engine has users of ours (and the agent authenticates as its own)."""
    return bool(spec.acl_users) or bool(spec.replication_password)


def check(spec: node_agent_pb2.NodeSpec, version: str) -> None:
    """InvalidArgument unless the users can be written into a config line and applied: redis
    6.2 or later (channels), names and hashes well formed, no password in an access string."""
    if not managed(spec):
        return
    if spec.engine != "redis":
        raise InvalidArgument(f"{spec.engine} nodes have no ACL users")
    if tuple(int(p) for p in re.findall(r"\d+", version)[:2]) < (6, 2):
        raise InvalidArgument(f"ACL users need redis 6.2 or later, not {version}")
    if spec.replication_password and not _SECRET.fullmatch(spec.replication_password):
        raise InvalidArgument("replication_password must be 16-128 printable characters without spaces")
    names = [user.name for user in spec.acl_users]
    if len(set(names)) != len(names):
        raise InvalidArgument("acl_users names a user twice")
    for user in spec.acl_users:
        if not _NAME.fullmatch(user.name) or user.name in RESERVED:
            raise InvalidArgument(f"ACL user name {user.name!r} is not allowed")
        if not all(_HASH.fullmatch(h) for h in user.password_sha256):
            raise InvalidArgument(f"ACL user {user.name}: password_sha256 must be hex SHA-256 digests")
        if user.nopass == bool(user.password_sha256):
            raise InvalidArgument(f"ACL user {user.name}: passwords or nopass, one of them")
        for word in user.access_string.split():
            if word[0] in "<>#!" or word in _NOT_IN_ACCESS or any(c in word for c in "\"'\\") \
                    or not word.isprintable():
                raise InvalidArgument(f"ACL user {user.name}: {word!r} may not be in an access string")


def wanted_users(spec: node_agent_pb2.NodeSpec, agent_password: str) -> dict[str, tuple[str, ...]]:
    """Every managed user and its rules (after `reset`), the agent's first; {} when none."""
    if not managed(spec):
        return {}
    users: dict[str, tuple[str, ...]] = {AGENT_USER: (*AGENT_RULES, f"#{sha256(agent_password)}")}
    if spec.replication_password:
        users[REPLICATION_USER] = (*REPLICATION_RULES, f"#{sha256(spec.replication_password)}")
    for user in spec.acl_users:
        secret = ("nopass",) if user.nopass else tuple(f"#{h}" for h in user.password_sha256)
        users[user.name] = (*secret, *user.access_string.split())
    return users


def conf(spec: node_agent_pb2.NodeSpec, agent_password: str) -> str:
    """acl.conf: what a (re)started engine loads (the replication password in clear: masterauth)."""
    lines = ["# written by cachefleet-agent at every spec change; included by the command line"]
    lines += [" ".join(("user", name, "reset", *rules)) for name, rules in wanted_users(spec, agent_password).items()]
    if spec.replication_password:
        lines += [f"masteruser {REPLICATION_USER}", f"masterauth {spec.replication_password}"]
    return "\n".join(lines) + "\n"


def write_file(spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path, agent_password: str) -> None:
    write_atomic(data_dir / ACL_CONF, conf(spec, agent_password), mode=0o640)    # the engine reads it


def applied(spec: node_agent_pb2.NodeSpec, agent_password: str) -> dict[str, str]:
    """What running.json keeps of the users an engine has: a fingerprint per user (hashes of
    hashes, nothing a password can be read from) and of the replication password."""
    users = {name: sha256(" ".join(rules))[:16] for name, rules in wanted_users(spec, agent_password).items()}
    if spec.replication_password:
        users[f"masterauth:{REPLICATION_USER}"] = sha256(spec.replication_password)[:16]
    return users


def live_commands(spec: node_agent_pb2.NodeSpec, running: dict[str, str], agent_password: str) -> list[Command]:
    """Commands that bring a running engine's users to spec's, the agent's own first (it must
    exist before the default user gets a password) and its AUTH last (the connection that ran
    them may have been the default user's)."""
    want = wanted_users(spec, agent_password)
    fingerprints = applied(spec, agent_password)
    if fingerprints == running:
        return []
    commands: list[Command] = [("ACL", "SETUSER", name, "reset", *rules) for name, rules in want.items()
                               if running.get(name) != fingerprints[name]]
    key = f"masterauth:{REPLICATION_USER}"
    if running.get(key) != fingerprints.get(key):
        user = REPLICATION_USER if spec.replication_password else ""
        commands.append(("CONFIG", "SET", "masteruser", user, "masterauth", spec.replication_password))
    for name in sorted(set(running) - set(want) - RESERVED):
        if name == "default":
            commands.append(("ACL", "SETUSER", "default", "reset", *DEFAULT_RULES))
        elif not name.startswith("masterauth:"):
            commands.append(("ACL", "DELUSER", name))
    if want:
        commands.append(("AUTH", AGENT_USER, agent_password))
    return commands


def hello(spec: node_agent_pb2.NodeSpec, agent_password: str) -> list[Command]:
    """The agent's AUTH on a connection to the node, tolerated when it fails (see above)."""
    return [Tolerated(("AUTH", AGENT_USER, agent_password))] if managed(spec) and agent_password else []


def describe(command: Command) -> str:
    """A log line's word for a command of ours: user names, never a password or its hash."""
    if tuple(command[:2]) == ("ACL", "SETUSER"):
        return f"acl user {command[2]}"
    if tuple(command[:2]) == ("ACL", "DELUSER"):
        return f"acl user {command[2]} deleted"
    if command[0] == "AUTH":
        return "auth"
    return "masteruser"
