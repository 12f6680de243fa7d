"""The Query API's answers as botocore reads them: the compiled XML writers (coordinator/queryapi/
xmlplan.py) checked through botocore's own query parser, the one boto3 and aws-cli use."""
from __future__ import annotations

import datetime as dt

import botocore.parsers
from google.protobuf.timestamp_pb2 import Timestamp

from cachefleet.v1 import cache_control_pb2 as pb
from coordinator.queryapi import answers, model, xmlplan


def parsed(action: str, response) -> tuple[str, dict]:
    """(the XML body, what botocore's query parser makes of it)."""
    operation = model.operation(action)
    body = answers.success(action, operation, response, "req-1")
    result = botocore.parsers.create_parser("query").parse(
        {"body": body.encode(), "headers": {}, "status_code": 200}, operation.output_shape)
    return body, result


def test_every_kind_of_member_reaches_botocore_as_the_proto_holds_it():
    created = Timestamp(seconds=1_700_000_000, nanos=123_456_789)
    cluster = pb.CacheCluster(
        cache_cluster_id="c1", engine="redis", num_cache_nodes=0, cache_cluster_create_time=created,
        configuration_endpoint=pb.Endpoint(address="c1.cfg.local", port=11211),
        cache_security_groups=[pb.CacheSecurityGroupMembership(cache_security_group_name="a&<b>", status="active")],
        auto_minor_version_upgrade=False, transit_encryption_enabled=True, snapshot_retention_limit=0,
        port=6379)
    body, result = parsed("DescribeCacheClusters", pb.DescribeCacheClustersResponse(cache_clusters=[cluster]))
    (read,) = result["CacheClusters"]
    assert read["CacheClusterId"] == "c1" and read["Engine"] == "redis"
    assert read["NumCacheNodes"] == 0                              # numbers are written even when 0
    assert read["AutoMinorVersionUpgrade"] is False and read["TransitEncryptionEnabled"] is True
    assert read["SnapshotRetentionLimit"] == 0                     # an optional field that is set
    assert read["ConfigurationEndpoint"] == {"Address": "c1.cfg.local", "Port": 11211}
    assert read["CacheSecurityGroups"] == [{"CacheSecurityGroupName": "a&<b>", "Status": "active"}]
    assert read["CacheClusterCreateTime"] == created.ToDatetime(dt.UTC)   # microseconds, as gRPC's reader has it
    assert "<CacheClusterCreateTime>2023-11-14T22:13:20.123456Z</CacheClusterCreateTime>" in body
    assert "a&amp;&lt;b&gt;" in body
    # what is unset or empty is left out; cachefleet's own fields (a cluster's Port) are gRPC's only
    assert "ReplicationGroupId" not in read and "CacheNodes" not in read and "NotificationConfiguration" not in read
    assert "<Port>6379</Port>" not in body
    assert result["ResponseMetadata"]["RequestId"] == "req-1"


def test_an_empty_page_is_an_empty_list_and_a_marker_is_kept():
    body, result = parsed("DescribeCacheClusters", pb.DescribeCacheClustersResponse(marker="m-2"))
    assert "<CacheClusters></CacheClusters>" in body
    assert result["CacheClusters"] == [] and result["Marker"] == "m-2"


def test_writers_are_compiled_once_per_shape_and_message_type():
    operation = model.operation("DescribeCacheClusters")
    descriptor = pb.DescribeCacheClustersResponse.DESCRIPTOR
    first = xmlplan.writer(operation.output_shape, descriptor, top=True)
    assert xmlplan.writer(operation.output_shape, descriptor, top=True) is first
