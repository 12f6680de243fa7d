"""boto3, unmodified but for its endpoint URL, against the coordinator's Query API: the real
servicers, the real HTTP server, botocore's own serializer, parser, signer, paginators and waiters.

No agents run (tests/helpers/queryapi.py): a cluster becomes `available` when a test says so,
as the reconciler would. What is under test is that every answer, refusal and page reaches
boto3 as ElastiCache's would, and that a request signed wrong, or malformed, changes nothing.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
import re
import urllib.error
import urllib.request

import botocore.auth
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from cachefleet.common.tls.localfleet import FleetCaLayout, provision
from tests.helpers.queryapi import REGION, QueryFleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    fleet = QueryFleet(tmp_path_factory.mktemp("queryapi")).start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def ec(fleet):
    return fleet.client("admin")


def refusal(call, *args, **kwargs) -> tuple[str, int, str]:
    """(code, HTTP status, message) of the ClientError a boto3 call raises."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def memcached(ec, cluster_id: str, nodes: int = 2) -> dict:
    return ec.create_cache_cluster(CacheClusterId=cluster_id, Engine="memcached", CacheNodeType="cache.t1.micro",
                                   NumCacheNodes=nodes)["CacheCluster"]


def raw(fleet: QueryFleet, body: bytes | str, key: tuple[str, str] | None = None,
        content_type: str = "application/x-www-form-urlencoded; charset=utf-8", sign: bool = True,
        method: str = "POST", query: str = "") -> tuple[int, str]:
    """(status, body) of a request botocore signs (SigV4, as boto3 would) but we write."""
    data = body.encode() if isinstance(body, str) else body
    request = AWSRequest(method=method, url=f"{fleet.endpoint}/" + (f"?{query}" if query else ""),
                         data=data if method == "POST" else None, headers={"Content-Type": content_type})
    if sign:
        key_id, secret = key or fleet.access_key("admin")
        SigV4Auth(Credentials(key_id, secret), "elasticache", REGION).add_auth(request)
    prepared = urllib.request.Request(request.url, data=data if method == "POST" else None,
                                      headers=dict(request.headers.items()), method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def code_of(body: str) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", body)
    assert found, body
    return found.group(1)


def cluster_ids(fleet: QueryFleet) -> set[str]:
    return {c.cluster_id for c in fleet.run(fleet.coordinator.repo.all())}


# -- clusters ----------------------------------------------------------------------------------

def test_a_cache_cluster_is_created_described_modified_and_deleted_through_boto3(fleet, ec):
    created = memcached(ec, "qa-mc1", nodes=2)
    assert created["CacheClusterId"] == "qa-mc1" and created["CacheClusterStatus"] == "creating"
    assert created["NumCacheNodes"] == 2 and created["Engine"] == "memcached"
    assert created["ConfigurationEndpoint"]["Address"].startswith("qa-mc1.cfg.")
    assert isinstance(created["CacheClusterCreateTime"], dt.datetime)
    assert created["CacheSecurityGroups"] == [{"CacheSecurityGroupName": "default", "Status": "active"}]

    fleet.set_status("qa-mc1", "available")
    (described,) = ec.describe_cache_clusters(CacheClusterId="qa-mc1", ShowCacheNodeInfo=True)["CacheClusters"]
    assert described["CacheClusterStatus"] == "available"
    assert [n["CacheNodeId"] for n in described["CacheNodes"]] == ["0001", "0002"]
    assert described["CacheNodes"][0]["Endpoint"]["Address"].startswith("0001.qa-mc1.")

    modified = ec.modify_cache_cluster(CacheClusterId="qa-mc1", NumCacheNodes=3, ApplyImmediately=True)
    assert modified["CacheCluster"]["CacheClusterStatus"] == "modifying"

    fleet.set_status("qa-mc1", "available")
    deleted = ec.delete_cache_cluster(CacheClusterId="qa-mc1")["CacheCluster"]
    assert deleted["CacheClusterStatus"] == "deleting"


def test_boto3_waiters_wait_for_available_and_for_gone(fleet, ec):
    memcached(ec, "qa-wait")
    fleet.later(0.3, lambda: fleet.coordinator.repo.mutate("qa-wait", fleet.status_change("available")))
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="qa-wait",
                                                  WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    assert ec.describe_cache_clusters(CacheClusterId="qa-wait")["CacheClusters"][0]["CacheClusterStatus"] == "available"
    ec.delete_cache_cluster(CacheClusterId="qa-wait")
    fleet.later(0.3, lambda: fleet.coordinator.repo.delete("qa-wait"))
    ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="qa-wait", WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


def test_refusals_reach_boto3_with_their_code_and_aws_status_and_change_nothing(fleet, ec):
    assert refusal(ec.describe_cache_clusters, CacheClusterId="qa-none")[:2] == ("CacheClusterNotFound", 404)
    memcached(ec, "qa-twice")
    before = cluster_ids(fleet)
    assert refusal(memcached, ec, "qa-twice")[:2] == ("CacheClusterAlreadyExists", 400)
    code, status, message = refusal(ec.create_cache_cluster, CacheClusterId="qa-bad", Engine="memcached",
                                    CacheNodeType="cache.nope", NumCacheNodes=1)
    assert (code, status) == ("InvalidParameterValue", 400) and "cache.nope" in message
    # botocore's modeled exception classes are raised, as against AWS
    with pytest.raises(ec.exceptions.CacheClusterNotFoundFault):
        ec.delete_cache_cluster(CacheClusterId="qa-none")
    assert cluster_ids(fleet) == before


def test_a_parameter_cachefleet_does_not_implement_is_refused_not_ignored(fleet, ec):
    code, status, message = refusal(ec.create_cache_cluster, CacheClusterId="qa-tags", Engine="memcached",
                                    CacheNodeType="cache.t1.micro", NumCacheNodes=1,
                                    Tags=[{"Key": "team", "Value": "a"}])
    assert (code, status) == ("InvalidParameterValue", 400) and "Tags" in message
    assert "qa-tags" not in cluster_ids(fleet)


def test_describe_pages_with_max_records_and_marker_and_boto3_paginators(fleet, ec):
    for i in range(23):
        memcached(ec, f"qa-page-{i:02d}", nodes=1)
    ours = sorted(c for c in cluster_ids(fleet) if c.startswith("qa-page-"))
    page = ec.describe_cache_clusters(MaxRecords=20)
    assert len(page["CacheClusters"]) == 20 and page["Marker"]
    seen = [c["CacheClusterId"] for c in page["CacheClusters"]]
    while page.get("Marker"):
        page = ec.describe_cache_clusters(MaxRecords=20, Marker=page["Marker"])
        seen += [c["CacheClusterId"] for c in page["CacheClusters"]]
    assert len(seen) == len(set(seen)) == len(cluster_ids(fleet))
    paged = [c["CacheClusterId"] for page in ec.get_paginator("describe_cache_clusters").paginate(
        PaginationConfig={"PageSize": 20}) for c in page["CacheClusters"]]
    assert sorted(paged) == sorted(seen) and set(ours) <= set(paged)
    assert refusal(ec.describe_cache_clusters, MaxRecords=5)[:2] == ("InvalidParameterValue", 400)


# -- replication groups, parameter groups, security groups, snapshots, events ------------------

def test_a_replication_group_through_boto3(fleet, ec):
    group = ec.create_replication_group(ReplicationGroupId="qa-rg", ReplicationGroupDescription="a group",
                                        NumCacheClusters=2, CacheNodeType="cache.t1.micro", Engine="redis",
                                        AutomaticFailoverEnabled=True,
                                        PreferredCacheClusterAZs=["local-a", "local-b"])["ReplicationGroup"]
    assert group["Status"] == "creating" and group["MemberClusters"] == ["qa-rg-001", "qa-rg-002"]
    assert group["AutomaticFailover"] == "enabled"
    (described,) = ec.describe_replication_groups(ReplicationGroupId="qa-rg")["ReplicationGroups"]
    assert described["Description"] == "a group"
    members = ec.describe_cache_clusters(CacheClusterId="qa-rg-001")["CacheClusters"]
    assert members[0]["ReplicationGroupId"] == "qa-rg" and members[0]["PreferredAvailabilityZone"] == "local-a"
    assert refusal(ec.describe_replication_groups, ReplicationGroupId="qa-none")[:2] == \
        ("ReplicationGroupNotFoundFault", 404)
    fleet.set_group_status("qa-rg", "available")
    ec.get_waiter("replication_group_available").wait(ReplicationGroupId="qa-rg", WaiterConfig={"Delay": 0.1})
    assert ec.delete_replication_group(ReplicationGroupId="qa-rg")["ReplicationGroup"]["Status"] == "deleting"
    fleet.later(0.3, lambda: fleet.coordinator.group_repo.delete("qa-rg"))
    ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="qa-rg", WaiterConfig={"Delay": 0.1})


def test_a_parameter_group_through_boto3(fleet, ec):
    created = ec.create_cache_parameter_group(CacheParameterGroupName="qa-params", CacheParameterGroupFamily="redis7.0",
                                              Description="ours")["CacheParameterGroup"]
    assert created == {"CacheParameterGroupName": "qa-params", "CacheParameterGroupFamily": "redis7.0",
                       "Description": "ours", "IsGlobal": False}
    assert refusal(ec.create_cache_parameter_group, CacheParameterGroupName="qa-params",
                   CacheParameterGroupFamily="redis7.0", Description="again")[:2] == \
        ("CacheParameterGroupAlreadyExists", 400)
    modified = ec.modify_cache_parameter_group(CacheParameterGroupName="qa-params", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"},
        {"ParameterName": "timeout", "ParameterValue": "30"}])
    assert modified["CacheParameterGroupName"] == "qa-params"
    user = ec.describe_cache_parameters(CacheParameterGroupName="qa-params", Source="user")["Parameters"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in user} == {"maxmemory-policy": "allkeys-lru",
                                                                       "timeout": "30"}
    assert all(isinstance(p["IsModifiable"], bool) for p in user)
    ec.reset_cache_parameter_group(CacheParameterGroupName="qa-params",
                                   ParameterNameValues=[{"ParameterName": "timeout"}])
    user = ec.describe_cache_parameters(CacheParameterGroupName="qa-params", Source="user")["Parameters"]
    assert [p["ParameterName"] for p in user] == ["maxmemory-policy"]
    defaults = ec.describe_engine_default_parameters(CacheParameterGroupFamily="redis7.0")["EngineDefaults"]
    assert defaults["CacheParameterGroupFamily"] == "redis7.0" and defaults["Parameters"]
    names = [g["CacheParameterGroupName"] for g in ec.describe_cache_parameter_groups()["CacheParameterGroups"]]
    assert "qa-params" in names
    ec.delete_cache_parameter_group(CacheParameterGroupName="qa-params")   # an answer without a result
    assert refusal(ec.describe_cache_parameter_groups, CacheParameterGroupName="qa-params")[:2] == \
        ("CacheParameterGroupNotFound", 404)


def test_a_cache_security_group_through_boto3_and_cidr_ip_as_an_extra_parameter(fleet, ec):
    created = ec.create_cache_security_group(CacheSecurityGroupName="qa-sg", Description="app servers")
    assert created["CacheSecurityGroup"]["CacheSecurityGroupName"] == "qa-sg"
    code, _, message = refusal(ec.authorize_cache_security_group_ingress, CacheSecurityGroupName="qa-sg",
                               EC2SecurityGroupName="web", EC2SecurityGroupOwnerId="123")
    assert code == "InvalidParameterValue" and "CidrIp" in message
    # CidrIp is cachefleet's (no EC2 here): not in botocore's model, so sent by hand
    status, body = raw(fleet, "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02"
                              "&CacheSecurityGroupName=qa-sg&CidrIp=10.0.2.0%2F24")
    assert status == 200 and "<CacheSecurityGroupName>qa-sg</CacheSecurityGroupName>" in body
    (group,) = ec.describe_cache_security_groups(CacheSecurityGroupName="qa-sg")["CacheSecurityGroups"]
    assert group["Description"] == "app servers" and group["OwnerId"] == "cachefleet"
    stored = fleet.run(fleet.coordinator.security_groups.by_name())["qa-sg"]
    assert list(stored.cidrs) == ["10.0.2.0/24"]
    ec.delete_cache_security_group(CacheSecurityGroupName="qa-sg")
    assert refusal(ec.delete_cache_security_group, CacheSecurityGroupName="qa-sg")[:2] == \
        ("CacheSecurityGroupNotFound", 404)


def test_a_snapshot_is_created_described_and_deleted_through_boto3(fleet, ec):
    ec.create_cache_cluster(CacheClusterId="qa-redis", Engine="redis", CacheNodeType="cache.t1.micro",
                            NumCacheNodes=1)
    assert refusal(ec.create_snapshot, CacheClusterId="qa-redis", SnapshotName="qa-snap")[:2] == \
        ("InvalidCacheClusterState", 400)
    fleet.set_status("qa-redis", "available")
    snapshot = ec.create_snapshot(CacheClusterId="qa-redis", SnapshotName="qa-snap")["Snapshot"]
    assert snapshot["SnapshotName"] == "qa-snap" and snapshot["SnapshotStatus"] == "creating"
    assert snapshot["SnapshotSource"] == "manual" and snapshot["Engine"] == "redis"
    (described,) = ec.describe_snapshots(SnapshotName="qa-snap")["Snapshots"]
    assert described["CacheClusterId"] == "qa-redis"
    # what the snapshot runner records once the RDB is stored (botocore has no snapshot waiter)
    fleet.run(fleet.coordinator.snapshots.mutate("qa-snap", fleet.status_change("available")))
    assert ec.describe_snapshots(SnapshotName="qa-snap")["Snapshots"][0]["SnapshotStatus"] == "available"
    assert ec.copy_snapshot(SourceSnapshotName="qa-snap", TargetSnapshotName="qa-copy")["Snapshot"]["SnapshotName"] \
        == "qa-copy"
    assert refusal(ec.delete_snapshot, SnapshotName="qa-snap")[:2] == ("InvalidSnapshotState", 400)   # being copied
    assert refusal(ec.describe_snapshots, SnapshotName="qa-none")[:2] == ("SnapshotNotFoundFault", 404)


def test_events_and_engine_versions_through_boto3(fleet, ec):
    memcached(ec, "qa-events", nodes=1)
    events = ec.describe_events(SourceIdentifier="qa-events", SourceType="cache-cluster", Duration=60)["Events"]
    assert events and all(isinstance(e["Date"], dt.datetime) for e in events)
    versions = ec.describe_cache_engine_versions(Engine="redis")["CacheEngineVersions"]
    assert [(v["Engine"], v["EngineVersion"], v["CacheParameterGroupFamily"]) for v in versions] == \
        [("redis", "7.0.15", "redis7.0")]


# -- who may call --------------------------------------------------------------------------------

def test_a_key_acts_with_its_role_and_events_name_its_user(fleet):
    reader = fleet.client(key=fleet.access_key("readonly", "reader"))
    assert "CacheClusters" in reader.describe_cache_clusters()
    assert refusal(memcached, reader, "qa-reader")[:2] == ("AccessDenied", 403)
    assert "qa-reader" not in cluster_ids(fleet)
    operator = fleet.client(key=fleet.access_key("operator", "alice"))
    memcached(operator, "qa-alice", nodes=1)
    assert refusal(operator.delete_cache_cluster, CacheClusterId="qa-alice")[:2] == ("AccessDenied", 403)
    events = fleet.run(fleet.coordinator.events.query(source_identifier="qa-alice"))
    assert {e.caller for e in events} == {"spiffe://cachefleet/client/operator/alice"}


def test_unsigned_unknown_badly_signed_stale_and_deleted_keys_are_refused(fleet, monkeypatch):
    before = cluster_ids(fleet)
    create = "Action=CreateCacheCluster&Version=2015-02-02&CacheClusterId=qa-sig&Engine=memcached" \
             "&CacheNodeType=cache.t1.micro&NumCacheNodes=1"
    status, body = raw(fleet, create, sign=False)
    assert (status, code_of(body)) == (403, "MissingAuthenticationToken")
    status, body = raw(fleet, create, key=("AKCFNOSUCHKEY00000000", "x" * 40))
    assert (status, code_of(body)) == (403, "InvalidClientTokenId")
    key_id, _ = fleet.access_key("admin")
    status, body = raw(fleet, create, key=(key_id, "not-the-secret"))
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")
    key = fleet.access_key("admin")
    with monkeypatch.context() as m:
        m.setattr(botocore.auth, "get_current_datetime", lambda: dt.datetime.utcnow() - dt.timedelta(minutes=20))
        status, body = raw(fleet, create, key=key)
    assert (status, code_of(body)) == (403, "RequestTimeTooSkewed")
    fleet.run(fleet.coordinator.access_keys.delete(key[0]))
    status, body = raw(fleet, create, key=key)
    assert (status, code_of(body)) == (403, "InvalidClientTokenId")
    assert cluster_ids(fleet) == before


def test_a_key_deleted_after_it_signed_is_refused_at_its_next_request(fleet):
    key = fleet.access_key("readonly")
    described = "Action=DescribeCacheClusters&Version=2015-02-02"
    assert raw(fleet, described, key=key)[0] == 200           # its scope key is now derived and kept
    assert raw(fleet, described, key=key)[0] == 200
    fleet.run(fleet.coordinator.access_keys.delete(key[0]))
    status, body = raw(fleet, described, key=key)
    assert (status, code_of(body)) == (403, "InvalidClientTokenId")


def test_a_signature_covers_the_body(fleet):
    key = fleet.access_key("admin")
    request = AWSRequest(method="POST", url=f"{fleet.endpoint}/", headers={
        "Content-Type": "application/x-www-form-urlencoded"},
        data=b"Action=DescribeCacheClusters&Version=2015-02-02")
    SigV4Auth(Credentials(*key), "elasticache", REGION).add_auth(request)
    tampered = urllib.request.Request(request.url, data=b"Action=DeleteCacheCluster&Version=2015-02-02"
                                      b"&CacheClusterId=qa-x", headers=dict(request.headers.items()), method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(tampered, timeout=10)
    assert caught.value.code == 403 and code_of(caught.value.read().decode()) == "SignatureDoesNotMatch"


# -- malformed requests ---------------------------------------------------------------------------

@pytest.mark.parametrize("body,status,code", [
    ("Version=2015-02-02", 400, "MissingAction"),
    ("Action=CreateCacheClusterNow&Version=2015-02-02", 400, "InvalidAction"),
    ("Action=CreateServerlessCache&Version=2015-02-02&ServerlessCacheName=x&Engine=redis", 400, "InvalidAction"),
    ("Action=DescribeCacheClusters&Version=2014-01-01", 400, "InvalidParameterValue"),
    ("Action=DescribeCacheClusters", 400, "MissingParameter"),
    ("Action=CreateCacheCluster&Version=2015-02-02", 400, "MissingParameter"),
    ("Action=DescribeCacheClusters&Version=2015-02-02&MaxRecords=many", 400, "InvalidParameterValue"),
    ("Action=DescribeCacheClusters&Version=2015-02-02&Bogus=1", 400, "InvalidParameterValue"),
    ("Action=DescribeCacheClusters&Version=2015-02-02&Version=2015-02-02", 400, "InvalidParameterValue"),
    ("Action=CreateCacheCluster&Version=2015-02-02&CacheClusterId=qa-hole&Engine=memcached&NumCacheNodes=1"
     "&CacheNodeType=cache.t1.micro&CacheSecurityGroupNames.CacheSecurityGroupName.1=default"
     "&CacheSecurityGroupNames.CacheSecurityGroupName.3=default", 400, "InvalidParameterValue"),
])
def test_malformed_requests_get_aws_shaped_errors_and_change_nothing(fleet, body, status, code):
    before = cluster_ids(fleet)
    answer_status, answer = raw(fleet, body)
    assert (answer_status, code_of(answer)) == (status, code), answer
    assert "<Type>Sender</Type>" in answer and "<RequestId>" in answer
    assert cluster_ids(fleet) == before


def test_a_body_over_1_mib_and_a_body_of_another_type_are_refused(fleet):
    before = cluster_ids(fleet)
    status, body = raw(fleet, "Action=CreateCacheCluster&Version=2015-02-02&CacheClusterId=qa-big&Engine=memcached"
                              "&NumCacheNodes=1&CacheNodeType=cache.t1.micro&NotificationTopicArn=" + "x" * (1 << 20))
    assert (status, code_of(body)) == (413, "RequestEntityTooLarge")
    status, body = raw(fleet, '{"Action": "DescribeCacheClusters"}', content_type="application/json")
    assert (status, code_of(body)) == (415, "UnsupportedMediaType")
    assert cluster_ids(fleet) == before


def test_a_get_request_with_the_query_string_is_answered(fleet):
    status, body = raw(fleet, b"", method="GET", query="Action=DescribeCacheClusters&Version=2015-02-02&MaxRecords=20")
    assert status == 200 and body.startswith('<DescribeCacheClustersResponse xmlns="http://elasticache.amazonaws.com/')
    assert "<DescribeCacheClustersResult>" in body and "<ResponseMetadata><RequestId>" in body


def presigned(fleet: QueryFleet, params: dict[str, str], expires: int, key: tuple[str, str],
              monkeypatch: pytest.MonkeyPatch, signed_ago: dt.timedelta = dt.timedelta(0)) -> str:
    """A presigned URL, as botocore's SigV4QueryAuth writes one, signed signed_ago."""
    request = AWSRequest(method="GET", url=f"{fleet.endpoint}/", params=dict(params, Version="2015-02-02"))
    with monkeypatch.context() as m:
        signed_at = dt.datetime.utcnow() - signed_ago
        m.setattr(botocore.auth, "get_current_datetime", lambda: signed_at)
        SigV4QueryAuth(Credentials(*key), "elasticache", REGION, expires=expires).add_auth(request)
    assert "X-Amz-Signature=" in request.url and "Authorization" not in request.headers
    return request.url


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_presigned_url_is_answered_until_it_expires(fleet, monkeypatch):
    memcached(fleet.client("admin"), "qa-presigned", nodes=1)
    key = fleet.access_key("readonly", "presigner")
    describe = {"Action": "DescribeCacheClusters", "CacheClusterId": "qa-presigned"}
    status, body = get(presigned(fleet, describe, 60, key, monkeypatch))
    assert status == 200 and "<CacheClusterId>qa-presigned</CacheClusterId>" in body
    url = fleet.client(key=key).generate_presigned_url("describe_cache_clusters", Params={
        "CacheClusterId": "qa-presigned"}, ExpiresIn=60, HttpMethod="GET")
    status, body = get(url)
    assert status == 200 and "<CacheClusterId>qa-presigned</CacheClusterId>" in body, body
    # past the 15 minutes a signed header is good for, but within its own X-Amz-Expires
    status, body = get(presigned(fleet, describe, 3600, key, monkeypatch, signed_ago=dt.timedelta(minutes=40)))
    assert status == 200
    status, body = get(presigned(fleet, describe, 60, key, monkeypatch, signed_ago=dt.timedelta(minutes=2)))
    assert (status, code_of(body)) == (400, "RequestExpired")


def test_an_expired_tampered_or_doubly_signed_presigned_url_changes_nothing(fleet, monkeypatch):
    before = cluster_ids(fleet)
    key = fleet.access_key("admin")
    create = {"Action": "CreateCacheCluster", "CacheClusterId": "qa-presigned-x", "Engine": "memcached",
              "CacheNodeType": "cache.t1.micro", "NumCacheNodes": "1"}
    url = presigned(fleet, create, 30, key, monkeypatch, signed_ago=dt.timedelta(seconds=31))
    assert code_of(get(url)[1]) == "RequestExpired"
    url = presigned(fleet, create, 300, key, monkeypatch)
    status, body = get(url.replace("NumCacheNodes=1", "NumCacheNodes=2"))
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")
    status, body = get(url.replace("X-Amz-Expires=300", "X-Amz-Expires=604801"))
    assert (status, code_of(body)) == (400, "InvalidQueryParameter")
    request = urllib.request.Request(url, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        assert code_of(error.read().decode()) == "IncompleteSignature"
    else:
        raise AssertionError("a request signed both ways was answered")
    assert cluster_ids(fleet) == before


def test_answers_come_while_the_coordinator_loop_keeps_running(fleet, ec):
    """The server shares the coordinator's loop: a request must not hold it."""
    ticks = fleet.run(_ticks_during(fleet, lambda: ec.describe_cache_clusters()))
    assert ticks > 0


async def _ticks_during(fleet, call) -> int:
    count = 0
    done = asyncio.get_running_loop().run_in_executor(None, call)
    while not done.done():
        count += 1
        await asyncio.sleep(0.001)
    await done
    return count


def test_https_with_the_fleet_ca_and_the_coordinators_certificate(tmp_path):
    layout = FleetCaLayout(tmp_path / "ca")
    provision(layout.root, coordinator_sans=["127.0.0.1"], hosts={})
    secure = QueryFleet(tmp_path, tls=layout.coordinator()).start()
    try:
        assert secure.endpoint.startswith("https://")
        ec = secure.client(verify=str(layout.coordinator().ca))
        assert ec.describe_cache_security_groups()["CacheSecurityGroups"][0]["CacheSecurityGroupName"] == "default"
        untrusting = secure.client(verify=True)   # the system's CAs do not know the fleet's
        with pytest.raises(botocore.exceptions.SSLError):
            untrusting.describe_cache_clusters()
    finally:
        secure.stop()


# -- access keys ---------------------------------------------------------------------------------

def access_key_call(fleet: QueryFleet, rpc: str, **fields):
    """An access key RPC through the servicer gRPC calls (the Authorization interceptor, which
    lets only admins reach it, is tested with the role table in tests/unit/security)."""
    from cachefleet.v1 import cache_control_pb2 as pb
    from coordinator.queryapi.dispatch import Aborted, QueryContext
    request = getattr(pb, f"{rpc}Request")(**fields)
    try:
        return fleet.run(getattr(fleet.coordinator.cache_control, rpc)(request, QueryContext("test")))
    except Aborted as aborted:
        return aborted.details


def test_access_keys_are_created_listed_without_secrets_and_deleted(fleet):
    created = access_key_call(fleet, "CreateAccessKey", role="operator", user_name="bob").access_key
    assert created.access_key_id.startswith("AKCF") and len(created.secret_access_key) == 40
    assert created.role == "operator" and created.user_name == "bob" and created.status == "Active"
    listed = {k.access_key_id: k for k in access_key_call(fleet, "ListAccessKeys").access_key_metadata}
    assert listed[created.access_key_id].user_name == "bob"
    assert all(not k.secret_access_key for k in listed.values())
    key = (created.access_key_id, created.secret_access_key)
    assert "CacheClusters" in fleet.client(key=key).describe_cache_clusters()
    access_key_call(fleet, "DeleteAccessKey", access_key_id=created.access_key_id)
    assert refusal(fleet.client(key=key).describe_cache_clusters)[:2] == ("InvalidClientTokenId", 403)
    assert access_key_call(fleet, "DeleteAccessKey", access_key_id=created.access_key_id).startswith("NoSuchEntity: ")
    assert access_key_call(fleet, "CreateAccessKey", role="root").startswith("InvalidParameterValue: ")
    assert access_key_call(fleet, "CreateAccessKey", role="admin", user_name="a/b").startswith(
        "InvalidParameterValue: ")


def test_secrets_are_kept_encrypted_with_a_key_file_outside_the_store(fleet, tmp_path):
    key_id, secret = fleet.access_key("admin", "carol")
    stored = fleet.run(fleet.coordinator.store.get(f"access-keys/{key_id}"))
    assert secret not in str(stored.value)
    key_file = pathlib.Path(fleet.coordinator.config.state_dir) / "secrets.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    from coordinator.state.access_keys import AccessKeys
    from coordinator.state.secrets import load_or_create
    other = AccessKeys(fleet.coordinator.store, load_or_create(tmp_path / "another.key"))
    record = fleet.run(other.get(key_id))
    assert other.secret(record) is None            # another key file reads nothing
    assert fleet.coordinator.access_keys.secret(record) == secret
