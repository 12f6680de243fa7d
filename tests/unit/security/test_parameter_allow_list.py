"""Engine settings that would let a parameter run code, read or write files, or open ports
(`loadmodule`, `dir`, `aclfile`, ...) never get in: not through a parameter group, even
the admin's, and not through a node spec, even the coordinator's. Nothing is written."""
from __future__ import annotations

import grpc
import pytest
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_control_pb2_grpc as pb_grpc
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc

from cachefleet.common import parameter_catalog
from tests.helpers.inprocess import REDIS

FAMILY = "redis7.0"
GROUP = "sec-allow-list"
FORBIDDEN = ["loadmodule", "dir", "aclfile", "dbfilename", "appenddirname", "include", "logfile", "pidfile",
             "unixsocket", "unixsocketperm", "bind", "port", "requirepass", "masterauth", "rename-command",
             "enable-debug-command", "enable-module-command", "enable-protected-configs", "protected-mode",
             "replicaof", "save", "LOADMODULE", "Dir", " dir", "dir ",
             "maxmemory-policy\n", "hz\n", "hz\r", "hz\x00", "hz dir", "maxmemory-policy dir"]


def test_none_of_them_is_in_the_catalogue():
    """The list below is of names the catalogue does not allow, so a refusal is the allow-list's."""
    assert not set(FORBIDDEN) & parameter_catalog.modifiable(FAMILY)
    assert "maxmemory-policy" in parameter_catalog.modifiable(FAMILY)


@pytest.fixture(scope="module")
def admin(servers):
    with servers.channel("admin") as channel:
        stub = pb_grpc.CacheControlStub(channel)
        try:
            stub.CreateCacheParameterGroup(pb.CreateCacheParameterGroupRequest(
                cache_parameter_group_name=GROUP, cache_parameter_group_family=FAMILY, description="d"), timeout=5)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error.details()
        yield stub


def refused(call, request, code=grpc.StatusCode.INVALID_ARGUMENT) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=5)
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details()


@pytest.mark.parametrize("name", FORBIDDEN)
def test_a_parameter_group_refuses_it_even_for_the_admin(servers, admin, name):
    before = servers.stored()
    details = refused(admin.ModifyCacheParameterGroup, pb.ModifyCacheParameterGroupRequest(
        cache_parameter_group_name=GROUP, parameter_name_values=[
            pb.ParameterNameValue(parameter_name="maxmemory-policy", parameter_value="noeviction"),
            pb.ParameterNameValue(parameter_name=name, parameter_value="/tmp/evil.so")]))
    assert details.startswith("InvalidParameterValue:") or details.startswith("InvalidParameterCombination:"), details
    assert servers.stored() == before     # not even the allowed parameter beside it


@pytest.mark.parametrize("name", FORBIDDEN)
def test_a_parameter_group_resets_none_of_them(servers, admin, name):
    before = servers.stored()
    refused(admin.ResetCacheParameterGroup, pb.ResetCacheParameterGroupRequest(
        cache_parameter_group_name=GROUP, parameter_name_values=[pb.ParameterNameValue(parameter_name=name)]))
    assert servers.stored() == before


@pytest.mark.parametrize("name", ["sec\n", "sec-", "Sec\r", "../sec", "sec group"])
def test_a_parameter_group_is_made_only_under_a_plain_name(servers, admin, name):
    before = servers.stored()
    refused(admin.CreateCacheParameterGroup, pb.CreateCacheParameterGroupRequest(
        cache_parameter_group_name=name, cache_parameter_group_family=FAMILY, description="d"))
    assert servers.stored() == before


@pytest.fixture(scope="module")
def agent(servers):
    with servers.channel("coordinator", agent=True) as channel:
        yield agent_grpc.NodeAgentStub(channel)


def spec(parameters: dict[str, str], immediate: tuple[str, ...] = ()) -> agent_pb.NodeSpec:
    return agent_pb.NodeSpec(node_key="sec-0001", cache_cluster_id="sec", cache_node_id="0001", engine="redis",
                             engine_version=REDIS.version, port=16379, max_memory_mb=64, parameters=parameters,
                             immediate_parameters=immediate)


@pytest.mark.parametrize("name", FORBIDDEN)
def test_a_node_spec_refuses_it_even_from_the_coordinator(servers, agent, name):
    before = servers.agent_files()
    details = refused(agent.EnsureNode, agent_pb.EnsureNodeRequest(
        spec=spec({"maxmemory-policy": "noeviction", name: "/tmp/evil.so"})))
    assert details.startswith("InvalidParameterValue:") and repr(name) in details, details
    assert servers.agent_files() == before
    assert agent.ListNodes(agent_pb.ListNodesRequest(), timeout=5).nodes == []


def test_a_node_spec_applies_live_only_what_the_catalogue_says_is_live(servers, agent):
    assert "databases" in parameter_catalog.modifiable(FAMILY) - parameter_catalog.immediate(FAMILY)
    before = servers.agent_files()
    details = refused(agent.EnsureNode, agent_pb.EnsureNodeRequest(spec=spec({"databases": "32"},
                                                                             immediate=("databases",))))
    assert "does not apply live" in details, details
    assert servers.agent_files() == before
