"""What this host is, as the coordinator sees it: HostInfo."""
from __future__ import annotations

import uuid
from collections.abc import Sequence

import psutil
from cachefleet.v1 import cache_control_pb2, node_agent_pb2

import nodeagent


def memory_mb() -> int:
    """The host's total memory in MiB (0 when it cannot be read: the coordinator then places nothing by memory)."""
    try:
        return psutil.virtual_memory().total // 2**20
    except (OSError, RuntimeError, ValueError):
        return 0


def build_host_info(host_id: str, address: str, agent_endpoint: str, zone: str, memory: int,
                    engines: Sequence[cache_control_pb2.EngineInstall],
                    extra_addresses: Sequence[str] = ()) -> node_agent_pb2.HostInfo:
    """HostInfo with a fresh agent_instance_id: the coordinator sees every agent start."""
    return node_agent_pb2.HostInfo(
        host_id=host_id, address=address, agent_endpoint=agent_endpoint, availability_zone=zone,
        memory_mb=memory, engines=list(engines), agent_version=nodeagent.__version__,
        agent_instance_id=str(uuid.uuid4()), extra_addresses=list(extra_addresses))
