"""`python -m nodeagent.shutdown --state-dir DIR`: stop a host's supervisord and its engines.

For `cachefleet up` on Ctrl-C, which runs it as a command so the launcher never imports the
agent's internals. Exits 0 once supervisord's pid is gone, 1 if it is still alive at the deadline.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nodeagent.supervisor import shutdown_supervisord


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodeagent.shutdown", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, help="the agent's state directory")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for supervisord to exit")
    args = parser.parse_args(argv)
    return 0 if shutdown_supervisord(args.state_dir, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
