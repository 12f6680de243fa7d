"""Every rule over an id, key or name matches the whole value: `$` in Python also matches
before a final newline, so each rule here takes `x` and refuses `x\\n`
(tests/e2e/test_whole_match_e2e.py sends the same through a real coordinator and agent)."""
from __future__ import annotations

import pytest

from cachefleet.common import versions
from cachefleet.common.objectstore.base import ObjectStoreError, check_metadata
from cachefleet.v1 import node_agent_pb2 as pb
from coordinator.api.parameters import _group_name
from coordinator.api.snapshot_rules import snapshot_name
from coordinator.domain import maintenance, validation
from coordinator.domain.errors import ApiError
from coordinator.metrics.alarms import Alarm, validate as validate_alarm
from coordinator.parameters import catalog
from coordinator.snapshots import windows
from nodeagent.engines import ENGINES
from nodeagent.errors import InvalidArgument
from nodeagent.specs import check_node_key, check_role


def alarm(**fields) -> Alarm:
    base = dict(alarm_name="hits", metric_name="GetHits", cache_cluster_id="c1", cache_node_id="0001",
                statistic="Sum", period=60, evaluation_periods=1, threshold=1.0,
                comparison_operator="GreaterThanThreshold")
    return Alarm(**{**base, **fields})


COORDINATOR_RULES = {
    "cluster id": lambda v: validation.cluster_id(v),
    "group id": lambda v: validation.cluster_id(v, "ReplicationGroupId"),
    "host id": validation.host_id,
    "node id": validation.node_id,
    "node ids": lambda v: validation.node_ids([v], {v.strip()}, "CacheNodeIdsToReboot"),
    "snapshot name": snapshot_name,
    "parameter group name": _group_name,
    "parameter name": lambda v: catalog.load("redis7.0").param(v),
    "integer parameter value": lambda v: catalog.load("redis7.0").param("hz").check(v),
    "maintenance window": maintenance.parse,
    "snapshot window": windows.parse,
    "alarm name": lambda v: validate_alarm(alarm(alarm_name=v)),
    "alarm cluster id": lambda v: validate_alarm(alarm(cache_cluster_id=v)),
    "alarm node id": lambda v: validate_alarm(alarm(cache_node_id=v)),
}
GOOD = {"cluster id": "abc", "group id": "abc", "host id": "host-1", "node id": "0001", "node ids": "0001",
        "snapshot name": "abc", "parameter group name": "abc", "parameter name": "hz",
        "integer parameter value": "10", "maintenance window": "sun:01:00-sun:02:00",
        "snapshot window": "03:00-04:00", "alarm name": "abc", "alarm cluster id": "abc", "alarm node id": "0001"}


@pytest.mark.parametrize("what", sorted(COORDINATOR_RULES))
@pytest.mark.parametrize("end", ["\n", "\r\n", "\n\n"])
def test_coordinator_rules_take_a_value_and_refuse_it_with_a_line_end(what, end):
    rule, good = COORDINATOR_RULES[what], GOOD[what]
    rule(good)
    bad = good + end
    if what in ("maintenance window", "snapshot window"):
        bad = good[:-1] + end + good[-1]       # the windows strip surrounding blanks: one inside
    with pytest.raises(ApiError) as refused:
        rule(bad)
    assert refused.value.code == "InvalidParameterValue"


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_agent_rules_refuse_a_line_end(end):
    check_node_key("rd-0001")
    with pytest.raises(InvalidArgument):
        check_node_key("rd-0001" + end)
    replica = pb.NodeSpec(node_key="g-1", engine="redis", port=6400, max_memory_mb=64, role=pb.ROLE_REPLICA,
                          primary_address="127.0.1.2", primary_port=6400)
    check_role(replica, ENGINES["redis"], "127.0.1.1")
    replica.primary_address += end
    with pytest.raises(InvalidArgument):
        check_role(replica, ENGINES["redis"], "127.0.1.1")


def test_shared_rules_refuse_a_line_end():
    assert versions.valid("7.0.15") and not versions.valid("7.0.15\n")
    with pytest.raises(ValueError):
        versions.parse("7.0\n")
    assert check_metadata({"sha256": "x"})
    with pytest.raises(ObjectStoreError):
        check_metadata({"sha256\n": "x"})
