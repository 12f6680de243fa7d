"""The system user cache engines run under, and making it where a fleet is set up as root
(`cachefleet up`, the tests, scripts/setup): both daemons' sides need its name."""
from __future__ import annotations

import pwd
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
