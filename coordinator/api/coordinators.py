"""DescribeCoordinators: the coordinators of the fleet, which one leads and since when.

Any coordinator answers it, a follower too: the list is read from the store (on etcd, the
registrations each coordinator keeps alive with its own lease, and the leadership key)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.convert import timestamp
from coordinator.api.errors import rpc_errors
from coordinator.domain.leadership import Member


def coordinator_message(member: Member) -> pb.Coordinator:
    message = pb.Coordinator(name=member.name, endpoint=member.endpoint, leader=member.leader)
    if member.leader and member.leader_since is not None:
        message.leader_since.CopyFrom(timestamp(member.leader_since))
    if member.started is not None:
        message.started.CopyFrom(timestamp(member.started))
    return message


class CoordinatorServicer:
    def __init__(self, roster: Callable[[], Awaitable[list[Member]]]) -> None:
        self.roster = roster

    @rpc_errors
    async def DescribeCoordinators(self, request, context):
        return pb.DescribeCoordinatorsResponse(coordinators=[coordinator_message(m) for m in await self.roster()])
