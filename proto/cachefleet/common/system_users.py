"""The system user cache engines run under, and making it where a fleet is set up as root
(`cachefleet up`, the tests, scripts/setup): both daemons' sides need its name."""
from __future__ import annotations

import os
import pathlib
import pwd
import stat
import subprocess

DEFAULT_ENGINE_USER = "cachefleet-engine"
USERADD = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]


def ensure_user(name: str = DEFAULT_ENGINE_USER) -> None:
    """Create the system user name if it is missing (root only). Two processes may race:
    whichever useradd loses, the user exists afterwards (KeyError if it still does not)."""
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    subprocess.run([*USERADD, name], capture_output=True, timeout=30, check=False)
    pwd.getpwnam(name)


def first_closed(path: pathlib.Path, name: str) -> pathlib.Path | None:
    """The first directory on the way to path (path included) that user name may not pass
    through (no x bit for it), None when it reaches path: an engine must chdir to its data."""
    record = pwd.getpwnam(name)
    groups = os.getgrouplist(name, record.pw_gid)
    for directory in [*reversed(path.parents), path]:
        if not directory.exists():
            break
        mode = directory.stat()
        if mode.st_uid == record.pw_uid:
            bit = stat.S_IXUSR
        elif mode.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not mode.st_mode & bit:
            return directory
    return None
