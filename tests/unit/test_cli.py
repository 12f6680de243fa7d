"""The `cachefleet` CLI against a fake CacheControl served by a real in-process grpc.aio server.

The fake only records requests and plays back canned answers: what is under test is the
CLI's side (option spellings, structured values, output shapes, exit codes, --wait).
"""
from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.timestamp_pb2 import Timestamp

from cachefleet.v1 import cache_control_pb2 as pb
from coordinator.cli import main as cli
from coordinator.cli.verbs import SERVICE, VERBS, VERBS_BY_NAME, Verb

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(autouse=True)
def plaintext(monkeypatch):
    """The fake coordinator serves plaintext: the CLI is told so, as a user would with --insecure."""
    monkeypatch.setenv("CACHEFLEET_INSECURE", "1")


@dataclass
class Abort:
    code: grpc.StatusCode
    details: str


class FakeCacheControl:
    """Every CacheControl RPC: record the request, answer with the next scripted item.

    The last scripted item of an RPC repeats; an RPC with no script is UNIMPLEMENTED.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, object]] = []
        self.script: dict[str, list[object]] = {}
        self.port = 0

    def answer(self, rpc: str, *items: object) -> None:
        self.script[rpc] = list(items)

    def calls(self, rpc: str) -> list:
        return [request for name, request in self.requests if name == rpc]

    def handler(self) -> grpc.GenericRpcHandler:
        handlers = {}
        for method in SERVICE.methods:
            request_class = message_factory.GetMessageClass(method.input_type)
            response_class = message_factory.GetMessageClass(method.output_type)
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                self._behaviour(method.name), request_deserializer=request_class.FromString,
                response_serializer=response_class.SerializeToString)
        return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)

    def _behaviour(self, rpc: str):
        async def handle(request, context):
            self.requests.append((rpc, request))
            items = self.script.get(rpc)
            if not items:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
            item = items.pop(0) if len(items) > 1 else items[0]
            if isinstance(item, Abort):
                await context.abort(item.code, item.details)
            return item
        return handle


@pytest.fixture
def fake():
    """The fake, served on 127.0.0.1:<free port> from an event loop in a thread."""
    fake = FakeCacheControl()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: list[asyncio.Event] = []

    async def serve() -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((fake.handler(),))
        fake.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        stop.append(asyncio.Event())
        ready.set()
        await stop[0].wait()
        await server.stop(0)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "fake server did not start"
    yield fake
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)
    loop.close()


@pytest.fixture
def run(fake, capsys):
    """cachefleet <args> against the fake: (exit code, stdout, stderr)."""
    def run_cli(*args: str):
        code = cli.main([*args, "--endpoint", f"127.0.0.1:{fake.port}"])
        out, err = capsys.readouterr()
        return code, out, err
    return run_cli


def cluster(status: str = "available", nodes: int = 3, **fields) -> pb.CacheCluster:
    created = Timestamp()
    created.FromJsonString("2024-05-01T12:00:00.250Z")
    defaults = dict(cache_cluster_id="c1", engine="memcached", engine_version="1.6.18",
                    cache_node_type="cache.t1.micro", port=11211)
    return pb.CacheCluster(**{**defaults, **fields}, cache_cluster_status=status,
                           num_cache_nodes=nodes, cache_cluster_create_time=created)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- options → request fields ---

def test_create_cache_cluster_options_are_spelled_as_aws_cli_spells_them(fake, run):
    fake.answer("CreateCacheCluster", pb.CreateCacheClusterResponse(cache_cluster=cluster("creating")))
    code, _, err = run("create-cache-cluster", "--cache-cluster-id", "c1", "--engine", "memcached",
                       "--engine-version", "1.6.18", "--cache-node-type", "cache.t1.micro",
                       "--num-cache-nodes", "3", "--port", "11311", "--az-mode", "cross-az",
                       "--preferred-availability-zones", "local-a", "local-b", "local-c")
    assert code == 0, err
    (request,) = fake.calls("CreateCacheCluster")
    assert request == pb.CreateCacheClusterRequest(
        cache_cluster_id="c1", engine="memcached", engine_version="1.6.18",
        cache_node_type="cache.t1.micro", num_cache_nodes=3, port=11311, az_mode="cross-az",
        preferred_availability_zones=["local-a", "local-b", "local-c"])


def test_access_key_create_prints_the_key_as_aws_iam_create_access_key_does(fake, run):
    fake.answer("CreateAccessKey", pb.CreateAccessKeyResponse(access_key=pb.AccessKey(
        access_key_id="AKCFEXAMPLE", secret_access_key="s3cret", status="Active", role="operator",
        user_name="alice")))
    code, out, err = run("access-key", "create", "--role", "operator", "--user-name", "alice")
    assert code == 0, err
    assert fake.calls("CreateAccessKey") == [pb.CreateAccessKeyRequest(role="operator", user_name="alice")]
    assert json.loads(out) == {"AccessKey": {"AccessKeyId": "AKCFEXAMPLE", "SecretAccessKey": "s3cret",
                                             "Status": "Active", "Role": "operator", "UserName": "alice"}}


def test_options_not_given_stay_unset(fake, run):
    fake.answer("ModifyCacheCluster", pb.ModifyCacheClusterResponse(cache_cluster=cluster("modifying")))
    assert run("modify-cache-cluster", "--cache-cluster-id", "c1")[0] == 0
    (request,) = fake.calls("ModifyCacheCluster")
    assert not request.HasField("num_cache_nodes")
    assert list(request.cache_node_ids_to_remove) == [] and request.apply_immediately is False


@pytest.mark.parametrize("words", [["0002", "0003"], ["0002,0003"], ['["0002", "0003"]']])
def test_list_options_take_words_commas_or_json(fake, run, words):
    fake.answer("ModifyCacheCluster", pb.ModifyCacheClusterResponse(cache_cluster=cluster("modifying")))
    code, _, err = run("modify-cache-cluster", "--cache-cluster-id", "c1", "--num-cache-nodes", "1",
                       "--cache-node-ids-to-remove", *words, "--apply-immediately")
    assert code == 0, err
    (request,) = fake.calls("ModifyCacheCluster")
    assert request.HasField("num_cache_nodes") and request.num_cache_nodes == 1
    assert list(request.cache_node_ids_to_remove) == ["0002", "0003"]
    assert request.apply_immediately is True


@pytest.mark.parametrize("flag, expected", [("--show-cache-node-info", True),
                                            ("--no-show-cache-node-info", False)])
def test_boolean_options_have_both_aws_spellings(fake, run, flag, expected):
    fake.answer("DescribeCacheClusters", pb.DescribeCacheClustersResponse())
    assert run("describe-cache-clusters", flag, "--max-records", "20", "--marker", "m1")[0] == 0
    (request,) = fake.calls("DescribeCacheClusters")
    assert request.show_cache_node_info is expected
    assert (request.max_records, request.marker) == (20, "m1")


@pytest.mark.parametrize("flag, expected", [("--no-password-required", True), ("--no-no-password-required", False)])
def test_a_boolean_whose_name_starts_with_no_keeps_aws_clis_meaning(flag, expected):
    request = parse_verb(VERBS_BY_NAME["create-user"], "--user-id", "u1", "--user-name", "default", "--engine",
                         "redis", "--access-string", "off", flag)
    assert request.no_password_required is expected


def test_describe_events_takes_iso_times_and_a_duration(fake, run):
    fake.answer("DescribeEvents", pb.DescribeEventsResponse())
    code, _, err = run("describe-events", "--source-identifier", "c1", "--source-type", "cache-cluster",
                       "--start-time", "2024-05-01T10:00:00Z", "--end-time", "2024-05-01T12:30",
                       "--duration", "90", "--max-records", "50")
    assert code == 0, err
    (request,) = fake.calls("DescribeEvents")
    assert request.start_time.ToJsonString() == "2024-05-01T10:00:00Z"
    assert request.end_time.ToJsonString() == "2024-05-01T12:30:00Z"  # no zone: UTC
    assert (request.source_identifier, request.source_type) == ("c1", "cache-cluster")
    assert (request.duration, request.max_records) == (90, 50)


def test_reboot_takes_node_ids(fake, run):
    fake.answer("RebootCacheCluster", pb.RebootCacheClusterResponse(cache_cluster=cluster("rebooting cache cluster nodes")))
    assert run("reboot-cache-cluster", "--cache-cluster-id", "c1", "--cache-node-ids-to-reboot", "0001", "0002")[0] == 0
    assert list(fake.calls("RebootCacheCluster")[0].cache_node_ids_to_reboot) == ["0001", "0002"]


def test_global_options_go_before_or_after_the_verb(fake, capsys, monkeypatch):
    fake.answer("DescribeCacheClusters", pb.DescribeCacheClustersResponse(cache_clusters=[cluster()]))
    monkeypatch.setenv("CACHEFLEET_ENDPOINT", f"127.0.0.1:{fake.port}")
    assert cli.main(["--output", "text", "describe-cache-clusters"]) == 0
    before = capsys.readouterr().out
    assert cli.main(["describe-cache-clusters", "--output", "text"]) == 0
    assert capsys.readouterr().out == before
    assert before.startswith("CACHECLUSTERS\t")


# --- structured options (shorthand and JSON), on a request shaped like ElastiCache's ---

def _parameter_group_verb() -> Verb:
    """ModifyCacheParameterGroup as a later proto will have it, built here in a private pool."""
    fdp = descriptor_pb2.FileDescriptorProto(name="test_cli_params.proto", package="clitest",
                                             syntax="proto3", dependency=["google/protobuf/timestamp.proto"])
    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    pnv = fdp.message_type.add(name="ParameterNameValue")
    pnv.field.add(name="parameter_name", number=1, type=F.TYPE_STRING, label=opt, json_name="parameterName")
    pnv.field.add(name="parameter_value", number=2, type=F.TYPE_STRING, label=opt, json_name="parameterValue")
    window = fdp.message_type.add(name="Window")
    window.field.add(name="start", number=1, type=F.TYPE_MESSAGE, label=opt,
                     type_name=".google.protobuf.Timestamp", json_name="start")
    window.field.add(name="hours", number=2, type=F.TYPE_INT64, label=opt, json_name="hours")
    window.field.add(name="days", number=3, type=F.TYPE_STRING, label=rep, json_name="days")
    request = fdp.message_type.add(name="ModifyCacheParameterGroupRequest")
    request.field.add(name="cache_parameter_group_name", number=1, type=F.TYPE_STRING, label=opt,
                      json_name="cacheParameterGroupName")
    request.field.add(name="parameter_name_values", number=2, type=F.TYPE_MESSAGE, label=rep,
                      type_name=".clitest.ParameterNameValue", json_name="parameterNameValues")
    request.field.add(name="window", number=3, type=F.TYPE_MESSAGE, label=opt,
                      type_name=".clitest.Window", json_name="window")
    entry = request.nested_type.add(name="TagsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=opt, json_name="key")
    entry.field.add(name="value", number=2, type=F.TYPE_STRING, label=opt, json_name="value")
    request.field.add(name="tags", number=4, type=F.TYPE_MESSAGE, label=rep,
                      type_name=".clitest.ModifyCacheParameterGroupRequest.TagsEntry", json_name="tags")
    service = fdp.service.add(name="Params")
    service.method.add(name="ModifyCacheParameterGroup", input_type=".clitest.ModifyCacheParameterGroupRequest",
                       output_type=".clitest.ParameterNameValue")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(
        Timestamp.DESCRIPTOR.file.serialized_pb))
    pool.Add(fdp)
    return Verb("ModifyCacheParameterGroup", required=("cache_parameter_group_name",),
                service=pool.FindServiceByName("clitest.Params"))


def parse_verb(verb: Verb, *args: str):
    parser = cli.ArgumentParser(prog="cachefleet")
    cli.add_request_options(parser, verb)
    return cli.build_request(verb, parser.parse_args(list(args)))


PNV = "--parameter-name-values"


@pytest.mark.parametrize("words", [
    ["ParameterName=maxmemory-policy,ParameterValue=allkeys-lru", "ParameterName=x,ParameterValue=y"],
    ['[{"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"},'
     ' {"ParameterName": "x", "ParameterValue": "y"}]'],
    ['{"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}',
     "parameterName=x,parameter_value=y"],
])
def test_list_of_structures_takes_shorthand_items_or_json(words):
    request = parse_verb(_parameter_group_verb(), "--cache-parameter-group-name", "g1", PNV, *words)
    assert [(p.parameter_name, p.parameter_value) for p in request.parameter_name_values] == [
        ("maxmemory-policy", "allkeys-lru"), ("x", "y")]


def test_nested_shorthand_types_its_values_from_the_proto():
    request = parse_verb(_parameter_group_verb(), "--cache-parameter-group-name", "g1",
                         "--window", "Start=2024-05-01T03:00:00Z,Hours=2,Days=mon,tue",
                         "--tags", "team=cache,env=prod")
    assert request.window.start.ToJsonString() == "2024-05-01T03:00:00Z"
    assert request.window.hours == 2 and list(request.window.days) == ["mon", "tue"]
    assert dict(request.tags) == {"team": "cache", "env": "prod"}
    request = parse_verb(_parameter_group_verb(), "--cache-parameter-group-name", "g1",
                         "--window", '{"Hours": 3, "Days": ["sun"]}')
    assert request.window.hours == 3 and list(request.window.days) == ["sun"]


def test_structured_option_values_can_come_from_a_file(tmp_path):
    path = tmp_path / "params.json"
    path.write_text('[{"ParameterName": "a", "ParameterValue": "1"}]\n')
    request = parse_verb(_parameter_group_verb(), "--cache-parameter-group-name", "g1",
                         PNV, f"file://{path}")
    assert request.parameter_name_values[0].parameter_value == "1"


@pytest.mark.parametrize("words, message", [
    (["ParameterName=a,Bogus=b"], 'Unknown parameter in input: "Bogus", must be one of: ParameterName, ParameterValue'),
    (["ParameterName"], "expected '='"),
    (['[{"ParameterName": }]'], "invalid JSON"),
])
def test_bad_structured_values_are_usage_errors(words, message):
    with pytest.raises(cli.UsageError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_verb(_parameter_group_verb(), "--cache-parameter-group-name", "g1", PNV, *words)


# --- output ---

def test_json_output_is_shaped_like_aws_cli(fake, run):
    fake.answer("CreateCacheCluster", pb.CreateCacheClusterResponse(
        cache_cluster=cluster("creating", nodes=0,
                              configuration_endpoint=pb.Endpoint(address="c1.cfg.cachefleet.internal", port=11211))))
    code, out, _ = run("create-cache-cluster", "--cache-cluster-id", "c1", "--num-cache-nodes", "3")
    assert code == 0
    data = json.loads(out)
    assert data == {"CacheCluster": {
        "CacheClusterId": "c1",
        "ConfigurationEndpoint": {"Address": "c1.cfg.cachefleet.internal", "Port": 11211},
        "CacheNodeType": "cache.t1.micro", "Engine": "memcached", "EngineVersion": "1.6.18",
        "CacheClusterStatus": "creating", "NumCacheNodes": 0,
        "CacheClusterCreateTime": "2024-05-01T12:00:00.250000+00:00", "Port": 11211,
        "AutoMinorVersionUpgrade": False, "TransitEncryptionEnabled": False, "AuthTokenEnabled": False,
        "AtRestEncryptionEnabled": False}}
    assert out.startswith('{\n    "CacheCluster"')  # indented as aws-cli indents


def test_json_output_keeps_int64_as_ints_and_lists_even_when_empty(fake, run):
    fake.answer("DescribeCacheNodeTypes", pb.DescribeCacheNodeTypesResponse(cache_node_types=[
        pb.CacheNodeTypeInfo(cache_node_type="cache.m2.4xlarge", memory_mb=69632, engines=["memcached", "redis"])]))
    fake.answer("DescribeCacheClusters", pb.DescribeCacheClustersResponse())
    out = json.loads(run("describe-cache-node-types")[1])
    assert out == {"CacheNodeTypes": [{"CacheNodeType": "cache.m2.4xlarge", "MemoryMb": 69632,
                                       "Engines": ["memcached", "redis"]}]}
    assert json.loads(run("describe-cache-clusters")[1]) == {"CacheClusters": []}


def test_describe_with_node_info_shows_nodes(fake, run):
    node = pb.CacheNode(cache_node_id="0001", cache_node_status="available",
                        endpoint=pb.Endpoint(address="c1.0001.cachefleet.internal", port=11211),
                        customer_availability_zone="local-a", host_id="host1", host_address="127.0.1.1")
    fake.answer("DescribeCacheClusters", pb.DescribeCacheClustersResponse(
        cache_clusters=[cluster(cache_nodes=[node])]))
    code, out, _ = run("describe-cache-clusters", "--show-cache-node-info",
                       "--query", "CacheClusters[0].CacheNodes[0].Endpoint.Address", "--output", "text")
    assert code == 0 and out == "c1.0001.cachefleet.internal\n"
    (node_out,) = json.loads(run("describe-cache-clusters")[1])["CacheClusters"][0]["CacheNodes"]
    assert node_out["CustomerAvailabilityZone"] == "local-a" and node_out["Endpoint"]["Port"] == 11211


def test_table_output_draws_aligned_sections(fake, run):
    node = pb.CacheNode(cache_node_id="0001", cache_node_status="available",
                        endpoint=pb.Endpoint(address="c1.0001.cachefleet.internal", port=11211))
    fake.answer("DescribeCacheClusters", pb.DescribeCacheClustersResponse(
        cache_clusters=[cluster(cache_nodes=[node]), cluster("creating", cache_cluster_id="c2")]))
    code, out, _ = run("describe-cache-clusters", "--output", "table")
    assert code == 0
    lines = out.splitlines()
    assert len({len(line) for line in lines}) == 1, out           # one width, every line
    assert "DescribeCacheClusters" in lines[1]
    assert any("CacheClusters" in line and line.startswith("||") for line in lines)
    header = next(line for line in lines if "CacheClusterId" in line)
    row_c1 = next(line for line in lines if "  c1 " in line)
    assert header.index("|", 2) == row_c1.index("|", 2)            # columns line up
    assert any(line.startswith("|||") and "0001" in line for line in lines)  # nodes nested
    assert "c2" in out and "creating" in out


# --- errors and exit codes ---

def test_a_service_error_prints_aws_cli_format_and_exits_254(fake, run):
    fake.answer("DescribeCacheClusters",
                Abort(grpc.StatusCode.NOT_FOUND, "CacheClusterNotFound: Cache cluster c9 not found."))
    code, out, err = run("describe-cache-clusters", "--cache-cluster-id", "c9")
    assert code == 254 and out == ""
    assert err.strip() == ("An error occurred (CacheClusterNotFound) when calling the "
                           "DescribeCacheClusters operation: Cache cluster c9 not found.")


def test_an_error_without_an_elasticache_code_is_named_after_its_status(fake, run):
    code, _, err = run("describe-hosts")  # the fake has no answer: UNIMPLEMENTED
    assert code == 254
    assert "An error occurred (Unimplemented) when calling the DescribeHosts operation" in err


def test_an_unreachable_coordinator_is_a_clear_error(capsys):
    endpoint = f"127.0.0.1:{free_port()}"
    code = cli.main(["describe-cache-clusters", "--endpoint", endpoint])
    out, err = capsys.readouterr()
    assert code == 255 and out == ""
    assert f'Could not connect to the endpoint "{endpoint}"' in err
    assert "cachefleet up" in err


@pytest.mark.parametrize("args", [
    ["create-cache-cluster", "--engine", "memcached"],          # required option missing
    ["create-cache-cluster", "--cache-cluster-id", "c1", "--num-cache-nodes", "three"],
    ["describe-events", "--start-time", "yesterday"],
    ["no-such-verb"],
    [],
])
def test_usage_errors_exit_252(capsys, args):
    assert cli.main(args) == 252
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--end-time", "2026-01-01T00:00:00Z"], ["--max-records", "20"]])
def test_describe_events_follow_refuses_options_a_stream_cannot_honour(capsys, monkeypatch, option):
    monkeypatch.setenv("CACHEFLEET_ENDPOINT", "127.0.0.1:1")       # refused before any call
    assert cli.main(["describe-events", "--follow", *option]) == 252
    err = capsys.readouterr().err
    assert f"--follow cannot be combined with {option[0]}" in err and "Traceback" not in err



# --- --wait ---

def test_wait_polls_until_the_cluster_is_available(fake, run):
    fake.answer("CreateCacheCluster", pb.CreateCacheClusterResponse(cache_cluster=cluster("creating")))
    fake.answer("DescribeCacheClusters",
                pb.DescribeCacheClustersResponse(cache_clusters=[cluster("creating")]),
                pb.DescribeCacheClustersResponse(cache_clusters=[cluster("creating")]),
                pb.DescribeCacheClustersResponse(cache_clusters=[cluster("available")]))
    start = time.monotonic()
    code, out, err = run("create-cache-cluster", "--cache-cluster-id", "c1", "--num-cache-nodes", "3", "--wait")
    assert code == 0, err
    assert time.monotonic() - start >= 0.4  # two 0.2 s pauses between three polls
    polls = fake.calls("DescribeCacheClusters")
    assert len(polls) == 3
    assert all(p.cache_cluster_id == "c1" and p.show_cache_node_info for p in polls)
    assert json.loads(out)["CacheCluster"]["CacheClusterStatus"] == "available"


def test_wait_on_delete_polls_until_the_cluster_is_gone(fake, run):
    fake.answer("DeleteCacheCluster", pb.DeleteCacheClusterResponse(cache_cluster=cluster("deleting")))
    fake.answer("DescribeCacheClusters",
                pb.DescribeCacheClustersResponse(cache_clusters=[cluster("deleting")]),
                Abort(grpc.StatusCode.NOT_FOUND, "CacheClusterNotFound: Cache cluster c1 not found."))
    code, out, err = run("delete-cache-cluster", "--cache-cluster-id", "c1", "--wait")
    assert code == 0, err
    assert len(fake.calls("DescribeCacheClusters")) == 2
    assert json.loads(out)["CacheCluster"]["CacheClusterStatus"] == "deleting"


def test_wait_gives_up_at_its_deadline(fake, run):
    fake.answer("RebootCacheCluster", pb.RebootCacheClusterResponse(cache_cluster=cluster("rebooting cache cluster nodes")))
    fake.answer("DescribeCacheClusters",
                pb.DescribeCacheClustersResponse(cache_clusters=[cluster("rebooting cache cluster nodes")]))
    start = time.monotonic()
    code, out, err = run("reboot-cache-cluster", "--cache-cluster-id", "c1",
                         "--cache-node-ids-to-reboot", "0001", "--wait", "--wait-timeout", "0.5")
    assert code == 255 and out == ""
    assert 0.5 <= time.monotonic() - start < 5
    assert "Waiter CacheClusterAvailable failed: Max wait time exceeded" in err


def test_wait_stops_at_a_state_it_cannot_leave(fake, run):
    fake.answer("ModifyCacheCluster", pb.ModifyCacheClusterResponse(cache_cluster=cluster("modifying")))
    fake.answer("DescribeCacheClusters", pb.DescribeCacheClustersResponse(cache_clusters=[cluster("deleting")]))
    code, _, err = run("modify-cache-cluster", "--cache-cluster-id", "c1", "--num-cache-nodes", "5", "--wait")
    assert code == 255 and "terminal failure state: c1 is deleting" in err


def test_only_verbs_with_a_waiter_take_wait(capsys):
    assert cli.main(["describe-hosts", "--wait"]) == 252


# --- the table itself ---

def test_every_cache_control_rpc_has_a_verb():
    assert {m.name for m in SERVICE.methods} == {verb.rpc for verb in VERBS}


def test_verb_names_and_options_derive_from_the_proto():
    parser = cli.build_parser()
    names = {verb.name for verb in VERBS}
    assert {"create-cache-cluster", "describe-cache-clusters", "modify-cache-cluster",
            "reboot-cache-cluster", "delete-cache-cluster", "describe-events",
            "describe-cache-node-types", "describe-hosts",
            "create-replication-group", "describe-replication-groups", "modify-replication-group",
            "increase-replica-count", "decrease-replica-count", "delete-replication-group",
            "test-failover", "describe-cache-engine-versions"} <= names
    create_group = next(a for a in parser._actions if a.dest == "verb").choices["create-replication-group"]
    assert {"--preferred-cache-cluster-a-zs", "--automatic-failover-enabled", "--no-automatic-failover-enabled",
            "--num-cache-clusters", "--primary-cluster-id", "--multi-az-enabled"} <= {
        o for action in create_group._actions for o in action.option_strings}
    sub = next(a for a in parser._actions if a.dest == "verb").choices["modify-cache-cluster"]
    options = {o for action in sub._actions for o in action.option_strings}
    assert {"--cache-cluster-id", "--num-cache-nodes", "--cache-node-ids-to-remove",
            "--apply-immediately", "--no-apply-immediately", "--new-availability-zones",
            "--wait", "--wait-timeout"} <= options


# --- help, usage and pagination ---

def events_page(marker: str, *messages: str) -> pb.DescribeEventsResponse:
    return pb.DescribeEventsResponse(marker=marker, events=[
        pb.Event(source_identifier="c1", source_type="cache-cluster", message=m) for m in messages])


def test_describe_verbs_follow_every_marker_and_print_one_answer(fake, run):
    fake.answer("DescribeEvents", events_page("2", "e1", "e2"), events_page("4", "e3", "e4"), events_page("", "e5"))
    code, out, err = run("describe-events", "--source-identifier", "c1")
    assert code == 0, err
    answer = json.loads(out)
    assert [e["Message"] for e in answer["Events"]] == ["e1", "e2", "e3", "e4", "e5"]
    assert "Marker" not in answer and "NextToken" not in answer
    assert [r.marker for r in fake.calls("DescribeEvents")] == ["", "2", "4"]
    assert all(r.source_identifier == "c1" for r in fake.calls("DescribeEvents"))


def test_max_items_prints_a_next_token_that_starting_token_goes_on_from(fake, run):
    fake.answer("DescribeEvents", events_page("2", "e1", "e2"), events_page("4", "e3", "e4"), events_page("", "e5"))
    code, out, err = run("describe-events", "--max-items", "3")
    assert code == 0, err
    first = json.loads(out)
    assert [e["Message"] for e in first["Events"]] == ["e1", "e2", "e3"] and first["NextToken"]
    fake.requests.clear()
    fake.answer("DescribeEvents", events_page("4", "e3", "e4"), events_page("", "e5"))
    code, out, err = run("describe-events", "--starting-token", first["NextToken"])
    assert code == 0, err
    rest = json.loads(out)
    assert [e["Message"] for e in rest["Events"]] == ["e4", "e5"] and "NextToken" not in rest
    assert fake.calls("DescribeEvents")[0].marker == "2"


def test_no_paginate_makes_one_call_and_prints_its_marker(fake, run):
    fake.answer("DescribeEvents", events_page("2", "e1", "e2"), events_page("", "e3"))
    code, out, err = run("describe-events", "--no-paginate", "--output", "text")
    assert code == 0, err
    assert out.splitlines()[0] == "2" and len(fake.calls("DescribeEvents")) == 1
    fake.requests.clear()
    code, out, err = run("describe-events", "--marker", "2")     # the service's own paging: one page too
    assert code == 0 and len(fake.calls("DescribeEvents")) == 1


def test_paging_applies_to_every_describe_verb_with_max_records_and_marker():
    paged = {verb.name for verb in VERBS if cli.pages(verb) is not None}
    assert {"describe-cache-clusters", "describe-events", "describe-replication-groups", "describe-snapshots",
            "describe-cache-parameters", "describe-engine-default-parameters"} <= paged


@pytest.mark.parametrize("args", [["help"], ["--help"]])
def test_help_prints_the_verbs(capsys, args):
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "create-cache-cluster" in out and "Create a cache cluster of N nodes." in out
    assert "up " in out and "help" in out


def test_help_verb_prints_the_verbs_options_with_their_help(capsys):
    assert cli.main(["help", "create-cache-cluster"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cachefleet create-cache-cluster")
    assert "the node type, e.g. cache.t1.micro" in " ".join(out.split())


def test_every_option_of_every_verb_has_a_help_text():
    parser = cli.build_parser()
    missing = [f"{name} {option}" for name, sub in parser.verb_parsers.items() if name != "up"
               for action in sub._actions for option in action.option_strings[:1] if not action.help]
    assert missing == []


def test_an_unknown_option_prints_the_verbs_usage(capsys):
    assert cli.main(["describe-events", "--bogus"]) == 252
    err = capsys.readouterr().err
    assert err.startswith("usage: cachefleet describe-events") and "unrecognized arguments: --bogus" in err


def test_a_binary_file_value_is_a_usage_error_not_a_crash(capsys, tmp_path):
    rdb = tmp_path / "dump.rdb"
    rdb.write_bytes(b"REDIS0011\xfa\x09redis-ver\x057.0.15\xff\x80\x81")
    assert cli.main(["create-cache-cluster", "--cache-cluster-id", "c3", "--snapshot-arns", f"file://{rdb}",
                     "--endpoint", "127.0.0.1:1"]) == 252
    err = capsys.readouterr().err
    assert "is not a text file" in err and "local://" in err and "Traceback" not in err


def test_up_loads_only_when_it_runs(monkeypatch):
    import importlib
    for name in ("coordinator.cli.main", "coordinator.up.fleet"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    main = importlib.import_module("coordinator.cli.main")
    main.build_parser()
    assert "coordinator.up.fleet" not in sys.modules
    from coordinator.up import fleet
    assert main.UP_SUMMARY == fleet.SUMMARY


@pytest.mark.parametrize("args", [["--no-paginate", "--max-items", "5"], ["--marker", "20", "--starting-token", "x"],
                                  ["--follow", "--max-items", "5"], ["--max-items", "0"]])
def test_paging_options_that_contradict_each_other_are_usage_errors(capsys, monkeypatch, args):
    monkeypatch.setenv("CACHEFLEET_ENDPOINT", "127.0.0.1:1")       # refused before any call
    assert cli.main(["describe-events", *args]) == 252
    assert "Traceback" not in capsys.readouterr().err


def test_a_call_builds_only_its_verbs_parser_and_a_wrong_verb_is_told_every_verb(capsys):
    assert cli.verbs_named(["--output", "table", "describe-cache-clusters", "--cache-cluster-id", "c1"]) == \
        {"describe-cache-clusters"}
    assert cli.verbs_named(["describe-cache-clusters", "--help"]) is None
    assert cli.verbs_named(["help", "describe-cache-clusters"]) is None
    # a mistyped verb whose option value happens to spell another verb
    assert cli.main(["describe-cache-cluster", "--cache-cluster-id", "up"]) == 252
    err = capsys.readouterr().err
    assert "invalid choice: 'describe-cache-cluster'" in err and "'create-cache-cluster'" in err
    assert err.count("usage: cachefleet") == 1
