"""An engine's command line as the agent builds it from the installed binary (memcached -h is run)."""
from __future__ import annotations

import os
import pathlib

from cachefleet.v1 import node_agent_pb2 as pb
from nodeagent.engines import ENGINES


def test_memcached_command_runs_as_root_only_when_root():
    spec = pb.NodeSpec(node_key="m-1", engine="memcached", port=11211, max_memory_mb=64,
                       parameters={"max_item_size": "2m"})
    argv = ENGINES["memcached"].command("/usr/bin/memcached", spec, "127.0.1.1", pathlib.Path("/d"))
    assert argv[:11] == ["/usr/bin/memcached", "-l", "127.0.1.1", "-p", "11211", "-U", "0",
                         "-m", "64", "-c", "4096"]
    assert ("-u" in argv) == (os.geteuid() == 0)
    assert argv[-1:] == ["--max-item-size=2m"]
