"""What every CLI module shares: the default coordinator and the usage error (exit 252)."""
from __future__ import annotations

import os
import pathlib

DEFAULT_ENDPOINT = "127.0.0.1:7420"
LOCAL_ENDPOINT_FILE = pathlib.Path("run") / "endpoint"   # in a `cachefleet up` state directory


def default_endpoint() -> str:
    """Where the CLI goes when told nowhere: the coordinators of the local fleet, as `cachefleet up`
    wrote them in its state directory (CACHEFLEET_STATE_DIR, else ./state; several, comma-separated,
    for `up --coordinators 3`), else 127.0.0.1:7420."""
    state = pathlib.Path(os.environ.get("CACHEFLEET_STATE_DIR") or "state")
    try:
        written = (state / LOCAL_ENDPOINT_FILE).read_text().strip()
    except OSError:
        return DEFAULT_ENDPOINT
    return written or DEFAULT_ENDPOINT


class UsageError(Exception):
    """The command line is wrong (exit 252)."""
