"""What every CLI module shares: the default coordinator and the usage error (exit 252)."""
from __future__ import annotations

DEFAULT_ENDPOINT = "127.0.0.1:7420"


class UsageError(Exception):
    """The command line is wrong (exit 252)."""
