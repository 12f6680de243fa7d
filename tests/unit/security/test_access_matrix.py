"""Every RPC of every service against every kind of caller, through the real interceptors and
mTLS: who is refused at the handshake, who by role or kind (PERMISSION_DENIED, AccessDenied
first, nothing changed), and who gets as far as the servicer."""
from __future__ import annotations

import grpc
import pytest
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import cache_watch_pb2 as watch_pb

from cachefleet.common.tls.fleetca import CertificateAuthority
from cachefleet.common.tls.identity import Identity, Role
from tests.unit.security.policy import (AGENT_SERVICES, CALLERS, POLICY, Policy, allowed, call,
                                        descriptor_methods, policy)

METHODS = descriptor_methods()
REFUSED_AT_HANDSHAKE = (grpc.StatusCode.UNAVAILABLE,)
PARAMS = "sec-kept-params"     # a parameter group that exists (made by the admin below)

# Requests that would change something if they got through (the others are empty messages).
CHANGES = {
    "CreateCacheCluster": pb.CreateCacheClusterRequest(cache_cluster_id="sec-made", engine="memcached",
                                                       num_cache_nodes=1, cache_node_type="cache.t1.micro"),
    "CreateCacheParameterGroup": pb.CreateCacheParameterGroupRequest(
        cache_parameter_group_name="sec-made-params", cache_parameter_group_family="redis7.0", description="d"),
    "ModifyCacheParameterGroup": pb.ModifyCacheParameterGroupRequest(
        cache_parameter_group_name=PARAMS,
        parameter_name_values=[pb.ParameterNameValue(parameter_name="maxmemory-policy", parameter_value="noeviction")]),
    "ResetCacheParameterGroup": pb.ResetCacheParameterGroupRequest(cache_parameter_group_name=PARAMS,
                                                                   reset_all_parameters=True),
    "DeleteCacheParameterGroup": pb.DeleteCacheParameterGroupRequest(cache_parameter_group_name=PARAMS),
    "PutMetricAlarm": watch_pb.PutMetricAlarmRequest(
        alarm_name="sec-alarm", metric_name="CPUUtilization", cache_cluster_id="c1", statistic="Average",
        period=60, evaluation_periods=1, threshold=90, comparison_operator="GreaterThanThreshold"),
}


def ids(methods):
    return [f"{service.rsplit('.', 1)[-1]}.{method}" for service, method, _ in methods]


def is_agent(service: str) -> bool:
    return service in AGENT_SERVICES


@pytest.fixture(scope="module")
def channels(servers):
    """One channel per (caller, server) for the module: gRPC reuses its connection."""
    made: dict[tuple[str, bool], grpc.Channel] = {}

    def channel(who: str, agent: bool) -> grpc.Channel:
        if (who, agent) not in made:
            made[who, agent] = servers.channel(who, agent)
        return made[who, agent]
    yield channel
    for each in made.values():
        each.close()


@pytest.fixture(scope="module")
def kept_params(servers, channels):
    """A parameter group the refused calls aim at (made once, by the admin)."""
    request = pb.CreateCacheParameterGroupRequest(cache_parameter_group_name=PARAMS,
                                                  cache_parameter_group_family="redis7.0", description="kept")
    code, details = call(channels("admin", False), "cachefleet.v1.CacheControl", "CreateCacheParameterGroup",
                         False, request.SerializeToString())
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.ALREADY_EXISTS), details
    return PARAMS


def test_every_rpc_of_every_service_has_a_written_policy():
    declared = {(service, method) for service, method, _ in METHODS}
    written = {(service, method) for service, methods in POLICY.items() for method in methods}
    assert declared - written == set(), "RPCs nobody classified: add them to tests/unit/security/policy.py"
    assert written - declared == set(), "policy lines for RPCs that no longer exist"


@pytest.mark.parametrize(("service", "method", "streaming"), METHODS, ids=ids(METHODS))
@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_gets_in_exactly_where_the_policy_says(servers, channels, service, method, streaming, caller):
    rule = policy(service, method)
    code, details = call(channels(caller, is_agent(service)), service, method, streaming)
    if allowed(rule, caller):
        assert code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), details
        assert code != grpc.StatusCode.UNKNOWN, details          # the servicer answered, with a status of ours
    else:
        assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
        assert details.startswith("AccessDenied:"), details


@pytest.fixture(scope="module")
def strangers(servers):
    """Channels of callers the TLS handshake must turn away, to the coordinator and the agent."""
    foreign = CertificateAuthority.create()
    kinds = {
        "plaintext": lambda agent: grpc.insecure_channel(servers.agent_endpoint if agent else servers.endpoint),
        "no certificate": lambda agent: servers.stranger_channel(None, agent=agent),
        "another CA": lambda agent: servers.stranger_channel(
            foreign.issue(Identity.client("mallory", Role.ADMIN)), agent=agent),
        "another CA, coordinator": lambda agent: servers.stranger_channel(
            foreign.issue(Identity.coordinator("coordinator")), agent=agent),
        "expired": lambda agent: servers.stranger_channel(servers.expired(Identity.client("late", Role.ADMIN)),
                                                          agent=agent),
        "expired coordinator": lambda agent: servers.stranger_channel(
            servers.expired(Identity.coordinator("coordinator")), agent=agent),
    }
    made = {(kind, agent): make(agent) for kind, make in kinds.items() for agent in (False, True)}
    yield made
    for channel in made.values():
        channel.close()


STRANGERS = ("plaintext", "no certificate", "another CA", "another CA, coordinator", "expired",
             "expired coordinator")


@pytest.mark.parametrize(("service", "method", "streaming"), METHODS, ids=ids(METHODS))
@pytest.mark.parametrize("stranger", STRANGERS)
def test_a_caller_without_a_valid_fleet_certificate_never_reaches_an_rpc(servers, strangers, service, method,
                                                                          streaming, stranger):
    before = servers.stored()
    code, details = call(strangers[stranger, is_agent(service)], service, method, streaming,
                         CHANGES[method].SerializeToString() if method in CHANGES else b"")
    assert code in REFUSED_AT_HANDSHAKE, (code, details)
    assert servers.stored() == before


MUTATING = [m for m in METHODS if not is_agent(m[0]) and policy(m[0], m[1]) in (Policy.OPERATOR, Policy.ADMIN)]
ADMIN_ONLY = [m for m in METHODS if not is_agent(m[0]) and policy(m[0], m[1]) is Policy.ADMIN]


@pytest.mark.parametrize(("service", "method", "streaming"), MUTATING, ids=ids(MUTATING))
def test_a_readonly_client_changes_nothing(servers, channels, kept_params, service, method, streaming):
    refused_changes_nothing(servers, channels("readonly", False), service, method, streaming)


@pytest.mark.parametrize(("service", "method", "streaming"), ADMIN_ONLY, ids=ids(ADMIN_ONLY))
def test_an_operator_changes_nothing_an_admin_alone_may(servers, channels, kept_params, service, method, streaming):
    refused_changes_nothing(servers, channels("operator", False), service, method, streaming)


def refused_changes_nothing(servers, channel: grpc.Channel, service: str, method: str, streaming: bool) -> None:
    before = servers.stored()
    code, details = call(channel, service, method, streaming,
                         CHANGES[method].SerializeToString() if method in CHANGES else b"")
    assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
    assert details.startswith("AccessDenied:") and "role" in details, details
    assert servers.stored() == before


def test_the_admin_may_what_the_others_were_refused(servers, channels, kept_params):
    """The requests above are real ones: the same one from the admin does change the store."""
    before = servers.stored()
    code, details = call(channels("admin", False), "cachefleet.v1.CacheControl", "ModifyCacheParameterGroup", False,
                         CHANGES["ModifyCacheParameterGroup"].SerializeToString())
    assert code == grpc.StatusCode.OK, details
    assert servers.stored() != before
