"""The agent's words for a node's status and role, and their NodeAgent wire values.

The agent's code and logs use these str enums; the messages it sends and reads carry the
protocol's enums. This module alone maps one to the other.
"""
from __future__ import annotations

import enum

from cachefleet.v1 import node_agent_pb2


class NodeStatus(enum.StrEnum):
    STARTING = "starting"
    AVAILABLE = "available"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def proto(self) -> node_agent_pb2.NodeStatus:
        """NodeState.status."""
        return _STATUS_TO_PROTO[self]

    @classmethod
    def of(cls, value: node_agent_pb2.NodeStatus) -> NodeStatus:
        """NodeState.status in the agent's words (every value the agent sends has one)."""
        return _STATUS_FROM_PROTO[value]


class Role(enum.StrEnum):
    """A replication group member's part; "" for a standalone node."""

    STANDALONE = ""
    PRIMARY = "primary"
    REPLICA = "replica"

    @property
    def proto(self) -> node_agent_pb2.Role:
        return _ROLE_TO_PROTO[self]

    @classmethod
    def of(cls, value: node_agent_pb2.Role) -> Role:
        """NodeSpec.role or ReplicationInfo.role in the agent's words; ValueError for a value
        this agent does not know."""
        try:
            return _ROLE_FROM_PROTO[value]
        except KeyError:
            raise ValueError(f"unknown role {value}") from None


_STATUS_TO_PROTO = {
    NodeStatus.STARTING: node_agent_pb2.NODE_STATUS_STARTING,
    NodeStatus.AVAILABLE: node_agent_pb2.NODE_STATUS_AVAILABLE,
    NodeStatus.FAILED: node_agent_pb2.NODE_STATUS_FAILED,
    NodeStatus.STOPPED: node_agent_pb2.NODE_STATUS_STOPPED,
}
_STATUS_FROM_PROTO = {value: status for status, value in _STATUS_TO_PROTO.items()}
_ROLE_TO_PROTO = {
    Role.STANDALONE: node_agent_pb2.ROLE_UNSPECIFIED,
    Role.PRIMARY: node_agent_pb2.ROLE_PRIMARY,
    Role.REPLICA: node_agent_pb2.ROLE_REPLICA,
}
_ROLE_FROM_PROTO = {value: role for role, value in _ROLE_TO_PROTO.items()}
