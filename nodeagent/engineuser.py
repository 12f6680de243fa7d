"""The uid the cache engines run under: not the agent's, so that an engine (a process every
client of the cache talks to) can neither write the agent's state nor reach supervisord.

supervisord runs as root and drops to this user per program (`user=`). The agent shares only
each node's data directory with it (layout.StateDir.make_data_dir); everything else the agent
keeps stays out of the engine's reach. An agent that is not root and is given no engine user
cannot have engines switch uid: they run as supervisord's own, which it says at every start.
"""
from __future__ import annotations

import grp
import os
import pathlib
import pwd
import stat
from dataclasses import dataclass

import structlog

from cachefleet.common.system_users import DEFAULT_ENGINE_USER, USERADD, first_closed

log = structlog.get_logger("nodeagent.engineuser")


class EngineUserError(Exception):
    """The engine user cannot be used as asked (missing, root, or the agent's own)."""


@dataclass(frozen=True)
class EngineUser:
    name: str
    uid: int
    gid: int


def resolve(name: str | None) -> EngineUser | None:
    """The engine user for --engine-user name: None (not given) means DEFAULT_ENGINE_USER when
    the agent is root, else none; "" means none (engines run as supervisord's uid)."""
    if name is None:
        name = DEFAULT_ENGINE_USER if os.geteuid() == 0 else ""
    if not name:
        return None
    try:
        record = pwd.getpwnam(name)
    except KeyError:
        raise EngineUserError(f"the engine user {name!r} does not exist; create it with "
                              f"`{' '.join(USERADD)} {name}`") from None
    if record.pw_uid == 0 or record.pw_uid == os.geteuid():
        raise EngineUserError(f"the engine user {name!r} must be neither root nor the agent's own user")
    user = EngineUser(name, record.pw_uid, record.pw_gid)
    if os.geteuid() != 0 and user.gid not in (os.getegid(), *os.getgroups()):
        group = grp.getgrgid(user.gid).gr_name
        raise EngineUserError(f"the agent must be a member of the engine's group {group!r} to share "
                              f"data directories with it (systemd: SupplementaryGroups={group})")
    return user


def check_reach(user: EngineUser, path: pathlib.Path) -> None:
    """Raise EngineUserError unless user can reach into path (every directory above it searchable):
    an engine that cannot chdir to its data directory fails only at its start, less clearly."""
    closed = first_closed(path, user.name)
    if closed is not None:
        raise EngineUserError(f"the engine user {user.name!r} cannot reach {path}: {closed} "
                              f"(mode {stat.S_IMODE(closed.stat().st_mode):04o}) needs search "
                              f"permission for it, e.g. chmod o+x {closed}")


def warn_unswitched() -> None:
    """Said at every start of an agent whose engines run under supervisord's own uid."""
    log.warning("ENGINES RUN AS THE AGENT'S OWN USER: an engine can write the agent's state and "
                "drive supervisord; run the agent as root or give --engine-user (see README, "
                "Running it as a service)", uid=os.geteuid())

