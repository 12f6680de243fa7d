"""The cache security group RPCs of CacheControl.

A group record (`securitygroups/<name>`) holds the CIDR ranges it authorizes. A change is
recorded, the firewall is woken (reconcile/firewall.py: it sends every host its whole rule
set at once, beside the reconciler's cycles, which send it too), and an event goes to every
cluster that runs in the group. EC2 security groups do not exist here: a request that names
one is refused and says to name a CidrIp instead.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from cachefleet.v1 import cache_control_pb2 as pb

from coordinator.api.errors import rpc_errors
from coordinator.api.paging import paginate
from coordinator.domain import security_groups as sg
from coordinator.domain.errors import ApiError, invalid
from coordinator.state.events import EventLog
from coordinator.state.repos import ClusterRepo, SecurityGroupRepo

OWNER_ID = "cachefleet"


def group_message(group: sg.SecurityGroup) -> pb.CacheSecurityGroup:
    return pb.CacheSecurityGroup(
        owner_id=OWNER_ID, cache_security_group_name=group.name, description=group.description,
        ip_ranges=[pb.IPRange(cidr_ip=c, status="authorized") for c in group.cidrs],
        arn=f"arn:cachefleet:elasticache::{OWNER_ID}:securitygroup:{group.name}")


def _range(request) -> str:
    """The CIDR range an ingress request names; EC2 names are refused (there is no EC2 here)."""
    if request.ec2_security_group_name or request.ec2_security_group_owner_id:
        raise invalid("EC2 security groups do not exist in cachefleet: authorize a CIDR range with CidrIp "
                      "(e.g. --cidr-ip 10.0.2.0/24).")
    return sg.cidr(request.cidr_ip)


class SecurityGroupServicer:
    def __init__(self, groups: SecurityGroupRepo, clusters: ClusterRepo, events: EventLog,
                 wake: Callable[[], None], clock: Callable[[], float] = time.time) -> None:
        self.groups = groups
        self.clusters = clusters
        self.events = events
        self.wake = wake
        self.clock = clock

    async def _users(self, name: str) -> list[str]:
        return sorted(c.cluster_id for c in await self.clusters.all() if name in sg.effective(c.security_groups))

    async def _changed(self, group: sg.SecurityGroup, message: str) -> None:
        self.wake()   # first: who may connect does not wait for the events
        for cluster_id in await self._users(group.name):
            await self.events.record("cache-cluster", cluster_id, message)

    @rpc_errors
    async def CreateCacheSecurityGroup(self, request, context):
        name = sg.group_name(request.cache_security_group_name)
        if not request.description:
            raise ApiError("MissingParameter", "The request must contain the parameter Description.")
        group = sg.SecurityGroup(name, request.description, created=self.clock())
        if not await self.groups.insert(group):
            raise ApiError("CacheSecurityGroupAlreadyExists", f"CacheSecurityGroup {name} already exists.")
        return pb.CreateCacheSecurityGroupResponse(cache_security_group=group_message(group))

    @rpc_errors
    async def DescribeCacheSecurityGroups(self, request, context):
        if request.cache_security_group_name:
            name = sg.group_name(request.cache_security_group_name)
            group = await self.groups.get(name)
            if group is None:
                raise sg.not_found(name)
            groups = [group]
        else:
            groups = sorted(await self.groups.all(), key=lambda g: g.name)
        page, marker = paginate(groups, request.max_records, request.marker)
        return pb.DescribeCacheSecurityGroupsResponse(marker=marker,
                                                      cache_security_groups=[group_message(g) for g in page])

    @rpc_errors
    async def DeleteCacheSecurityGroup(self, request, context):
        name = sg.group_name(request.cache_security_group_name)
        if name == sg.DEFAULT_GROUP:
            raise sg.group_state("The default cache security group cannot be deleted.")
        await self.groups.revision(name)   # CacheSecurityGroupNotFound
        users = await self._users(name)
        if users:
            raise sg.group_state(f"CacheSecurityGroup {name} is used by cache cluster(s) {', '.join(users)}; "
                                 f"modify them to other groups first.")
        await self.groups.delete(name)
        return pb.DeleteCacheSecurityGroupResponse()

    @rpc_errors
    async def AuthorizeCacheSecurityGroupIngress(self, request, context):
        name = sg.group_name(request.cache_security_group_name)
        cidr = _range(request)

        def authorize(group: sg.SecurityGroup) -> None:
            if cidr in group.cidrs:
                raise ApiError("AuthorizationAlreadyExists",
                               f"CacheSecurityGroup {name} already authorizes {cidr}.")
            if len(group.cidrs) >= sg.MAX_RANGES:
                raise ApiError("AuthorizationQuotaExceeded",
                               f"CacheSecurityGroup {name} already authorizes {sg.MAX_RANGES} ranges, the most it may.")
            group.cidrs.append(cidr)
        group = await self.groups.mutate(name, authorize)
        await self._changed(group, f"Cache security group {name} authorized ingress from {cidr}")
        return pb.AuthorizeCacheSecurityGroupIngressResponse(cache_security_group=group_message(group))

    @rpc_errors
    async def RevokeCacheSecurityGroupIngress(self, request, context):
        name = sg.group_name(request.cache_security_group_name)
        cidr = _range(request)

        def revoke(group: sg.SecurityGroup) -> None:
            if cidr not in group.cidrs:
                raise ApiError("AuthorizationNotFound", f"CacheSecurityGroup {name} does not authorize {cidr}.")
            group.cidrs.remove(cidr)
        group = await self.groups.mutate(name, revoke)
        await self._changed(group, f"Cache security group {name} revoked ingress from {cidr}")
        return pb.RevokeCacheSecurityGroupIngressResponse(cache_security_group=group_message(group))
