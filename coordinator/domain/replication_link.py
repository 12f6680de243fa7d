"""A replica's replication link in ElastiCache's words, from what its agent reports."""
from __future__ import annotations

from cachefleet.v1 import node_agent_pb2 as agent_pb


def link_status(info: agent_pb.ReplicationInfo) -> str:
    """ReplicationLinkStatus: syncing, up or down."""
    if info.sync_in_progress:
        return "syncing"
    return "up" if info.link_status == agent_pb.LINK_STATE_UP else "down"
