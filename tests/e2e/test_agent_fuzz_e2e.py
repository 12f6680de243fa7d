"""The agent API fuzzed with the coordinator's own certificate: random and edge-case requests to
every RPC that writes or runs something never crash the agent, are answered with a status of
ours (never an unexpected-error answer), and write nothing outside the agent's state directory
and the snapshot store they name. A real agent (and supervisord); most specs are refused, and
engines the accepted ones started are removed at the end."""
from __future__ import annotations

import os
import pathlib

import grpc
import pytest
from cachefleet.v1 import node_agent_pb2 as pb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.agent import ROOT, AgentProcess, FakeCoordinator, free_port, loopback_address

ADDRESS = loopback_address()
EXAMPLES = 60
CALL_TIMEOUT_S = 15.0
# What a well-behaved agent may answer: its own refusals, never UNKNOWN (an exception that got
# out of the handler) nor "InternalFailure" (one the handler did not expect).
EXPECTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL}

INT32 = st.one_of(st.sampled_from([0, -1, 1, 1023, 1024, 65535, 65536, 2**31 - 1, -(2**31)]),
                  st.integers(-(2**31), 2**31 - 1))
INT64 = st.one_of(st.sampled_from([0, -1, 1, 64, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1))
NASTY = ["", ".", "..", "../x", "../../outside/x", "/", "/etc/passwd", "a/b", "a\n", "a\x00b", "a-0001\n",
         "A-0001", "x" * 300, "fz-0001", "fz-0002", "-0001", "fz-", "%2e%2e", "~root", "$(touch x)", "`id`"]
TEXT = st.one_of(st.sampled_from(NASTY), st.text(max_size=30))
NODE_KEY = st.one_of(st.sampled_from(["fz-0001", "fz-0002", "fz-0003"]), TEXT)  # KEYS, and worse
PARAMETER = st.one_of(st.sampled_from(["maxmemory-policy", "hz", "loadmodule", "dir", "aclfile", "dbfilename",
                                       "include", "hz\n", "chunk_size", "num_threads", "-u", "u"]), TEXT)
# ranges, and near misses: host bits set, no prefix, a prefix too long, another family
CIDRS = ["198.18.0.0/15", "10.0.0.0/8", "10.0.0.1/8", "10.0.0.0", "10.0.0.0/33", "::/0", "fd00::/8", "0.0.0.0/0"]
FIREWALL_TABLE = "cffuzz"   # the agent's table in this machine's namespace: removed at the end
VALUE = st.one_of(st.sampled_from(["1", "noeviction", "/tmp/x.so", "x\ny", "a;b", "#", "'", "\\", "yes"]), TEXT)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """root/agent (the agent's state), root/store (the snapshot store requests name) and
    root/outside (a file and a would-be target no request may touch)."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "store").mkdir()
    (root / "outside").mkdir()
    (root / "outside" / "victim.rdb").write_bytes(b"REDIS0009 not really")
    (root / "store" / "snap.rdb").write_bytes(b"REDIS0009 not really either")
    return root


# The agent's own stores (requests only name them): a directory, and an s3 store whose endpoint
# nothing listens on, with credentials from a file (no call leaves the machine, none looks for
# the default credential chain).
STORE_NAMES = st.sampled_from(["local", "local", "s3", "", "nope", "local\n", "../local", "LOCAL"])


def store_args(root: pathlib.Path) -> list[str]:
    credentials = root / "s3-credentials.json"
    credentials.write_text('{"AccessKeyId": "k", "SecretAccessKey": "s"}')
    return ["--store", f"local=file://{root / 'store'}", "--store", "s3=s3://fuzz-bucket/snapshots",
            "--store-endpoint", "s3=http://127.0.0.1:1", "--store-region", "s3=us-east-1",
            "--store-credentials", f"s3={credentials}"]


KEYS = ("fz-0001", "fz-0002", "fz-0003")
PORTS = dict(zip(KEYS, (free_port(ADDRESS) for _ in KEYS)))    # an accepted spec's engine listens there

# A spec is a valid one with one or two of its fields replaced by one of these: deep enough that
# each check is reached, and a few (a harmless field changed) start an engine.
BROKEN_SPEC_FIELDS: dict[str, st.SearchStrategy] = {
    "node_key": TEXT, "cache_cluster_id": TEXT, "cache_node_id": TEXT,
    "engine": st.sampled_from(["", "redis\n", "Redis", "../bin/sh", "x"]),
    "engine_version": st.sampled_from(["7.0.15", "7.0", "1.6", "99.0", "../", "7.0.15\n"]),
    "port": INT32, "max_memory_mb": INT64, "reboot_generation": INT64,
    "parameters": st.dictionaries(PARAMETER, VALUE, min_size=1, max_size=4),
    "bind_address": st.sampled_from(["127.0.0.1", "0.0.0.0", "::", "10.0.0.1", "x\n"]),
    "role": st.integers(-3, 5), "primary_address": st.sampled_from([ADDRESS, "127.0.0.1", "a b", "x\nslaveof"]),
    "primary_port": INT32, "write_fenced": st.booleans(), "write_guard": st.booleans(), "term": INT64,
    "immediate_parameters": st.lists(PARAMETER, min_size=1, max_size=3),
    "peers": st.lists(st.builds(pb.Peer, node_key=NODE_KEY, agent_endpoint=TEXT), min_size=1, max_size=2),
}


def valid_spec(key: str, engine: str = "redis") -> pb.NodeSpec:
    return pb.NodeSpec(node_key=key, cache_cluster_id="fz", cache_node_id=key[-4:], engine=engine, port=PORTS[key],
                       max_memory_mb=64)


@st.composite
def specs(draw: st.DrawFn) -> pb.NodeSpec:
    spec = valid_spec(draw(st.sampled_from(KEYS)), draw(st.sampled_from(["redis", "memcached"])))
    for name in draw(st.lists(st.sampled_from(sorted(BROKEN_SPEC_FIELDS)), min_size=1, max_size=2, unique=True)):
        value = draw(BROKEN_SPEC_FIELDS[name])
        if isinstance(value, dict):
            spec.parameters.update(value)
        elif isinstance(value, list):
            getattr(spec, name).extend(value)
        else:
            setattr(spec, name, value)
    return spec


# Snapshots and restores mostly name a well-formed node key, to get past the first check: a restore
# (of a node that does not run) then opens the store and downloads, which is where paths are judged.
OUR_NODE = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS), st.sampled_from(KEYS), NODE_KEY)


def requests() -> st.SearchStrategy[tuple[str, object]]:
    keys = st.one_of(st.sampled_from(["snap.rdb", "../outside/victim.rdb", "../../etc/passwd", "/etc/passwd",
                                      "a/../../outside/new", "new.rdb", "x\n", ""]), TEXT)
    endpoint = st.builds(
        pb.DiscoveryEndpoint, cache_cluster_id=TEXT,
        bind_address=st.sampled_from(["", ADDRESS, "127.0.0.1", "::1"]),    # loopback literals only
        port=INT32, version=INT64, engine_version=TEXT,
        nodes=st.lists(st.builds(pb.DiscoveryNode, host=TEXT, ip=TEXT, port=INT32), max_size=3))
    return st.one_of(
        st.tuples(st.just("EnsureNode"), st.builds(pb.EnsureNodeRequest, spec=specs())),
        st.tuples(st.just("RemoveNode"), st.builds(pb.RemoveNodeRequest, node_key=NODE_KEY,
                                                   discard_data=st.booleans())),
        st.tuples(st.just("TakeSnapshot"), st.builds(
            pb.TakeSnapshotRequest, node_key=OUR_NODE, store=STORE_NAMES, key=keys,
            metadata=st.dictionaries(TEXT, TEXT, max_size=2))),
        st.tuples(st.just("RestoreNodeData"), st.builds(
            pb.RestoreNodeDataRequest, node_key=OUR_NODE, store=STORE_NAMES, key=keys, sha256=TEXT,
            engine=st.sampled_from(["", "redis", "memcached", "x"]),
            engine_version=st.sampled_from(["", "7.0.15", "9.9", "../x"]))),
        st.tuples(st.just("SetDiscovery"), st.builds(pb.SetDiscoveryRequest,
                                                     endpoints=st.lists(endpoint, max_size=3))),
        st.tuples(st.just("SetFirewall"), st.builds(
            pb.SetFirewallRequest, fleet_sources=st.lists(st.one_of(st.sampled_from(CIDRS), TEXT), max_size=2),
            ports=st.lists(st.builds(pb.FirewallPort, address=st.sampled_from(["", ADDRESS, "2001:db8::1", "x", "1.2.3.4/8"]),
                                     port=INT32, cidrs=st.lists(st.one_of(st.sampled_from(CIDRS), TEXT), max_size=3),
                                     cache_cluster_id=TEXT), max_size=3))),
        st.tuples(st.just("ConfirmPrimary"), st.builds(pb.ConfirmPrimaryRequest, replica_node_key=NODE_KEY,
                                                       primary_address=TEXT, primary_port=INT32, term=INT64)),
    )


def files(root: pathlib.Path, skip: tuple[pathlib.Path, ...]) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime) of every file and directory under root, but those under skip."""
    found = {}
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if pathlib.Path(directory, d) not in skip]
        for name in [*dirs, *names]:
            path = pathlib.Path(directory, name)
            stat = path.lstat()
            found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def agent(tree):
    with FakeCoordinator() as coordinator, \
            AgentProcess(ADDRESS, tree / "agent", coordinator.endpoint,
                         extra_args=[*store_args(tree), "--firewall-table", FIREWALL_TABLE]).start() as running:
        yield running


def test_the_agent_api_survives_random_requests_and_writes_only_where_it_may(agent, tree):
    state, store = tree / "agent", tree / "store"
    before = files(tree, skip=(state, store))
    repository = sorted(p.name for p in ROOT.iterdir())
    stub = agent.stub()
    unexpected: list[str] = []

    def answer(method: str, request: object) -> None:
        try:
            getattr(stub, method)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            details = error.details() or ""
            if error.code() not in EXPECTED or details.startswith("InternalFailure") or "Traceback" in details:
                unexpected.append(f"{method}({request}) -> {error.code().name}: {details}")

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(requests())
    def one_call(case: tuple[str, object]) -> None:
        answer(*case)

    try:
        one_call()
        assert agent.alive(), agent.log_tail()
        nodes = stub.ListNodes(pb.ListNodesRequest(), timeout=5).nodes    # still serving
    finally:
        clean_up(agent)
    assert unexpected == [], "\n".join(unexpected)
    assert files(tree, skip=(state, store)) == before
    assert sorted(p.name for p in ROOT.iterdir()) == repository
    print(f"\n{len(nodes)} node(s) accepted and removed again: {[n.node_key for n in nodes]}")


def clean_up(agent: AgentProcess) -> None:
    """Remove every node the accepted specs made, every discovery listener and the firewall table."""
    stub = agent.stub()
    stub.SetDiscovery(pb.SetDiscoveryRequest(), timeout=CALL_TIMEOUT_S)
    stub.SetFirewall(pb.SetFirewallRequest(), timeout=CALL_TIMEOUT_S)
    for node in stub.ListNodes(pb.ListNodesRequest(), timeout=5).nodes:
        stub.RemoveNode(pb.RemoveNodeRequest(node_key=node.node_key, discard_data=True), timeout=CALL_TIMEOUT_S)


ESCAPES = ["../outside/victim.rdb", "../../outside/victim.rdb", "a/../../outside/victim.rdb", "/etc/passwd",
           "{outside}/victim.rdb", "%2e%2e/outside/victim.rdb", "..\\outside\\victim.rdb", "link/victim.rdb"]


def test_a_restore_reads_no_file_outside_its_store(agent, tree):
    """The agent runs as root: a key that leads out of the store (up, absolute, through a symlink)
    is refused before a byte is read, never read and then found not to be an RDB file."""
    store = tree / "store"
    if not (store / "link").exists():
        (store / "link").symlink_to(tree / "outside")
    stub = agent.stub()
    for key in ESCAPES:
        key = key.format(outside=tree / "outside")
        with pytest.raises(grpc.RpcError) as refused:
            stub.RestoreNodeData(pb.RestoreNodeDataRequest(node_key="fz-0009", store="local", key=key),
                                 timeout=CALL_TIMEOUT_S)
        details = refused.value.details() or ""
        assert refused.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), (key, details)
        assert "not an RDB file" not in details and "sha256" not in details, (key, details)
    assert not (agent.state.root / "data" / "fz-0009" / "dump.rdb").exists()


def test_snapshot_metadata_s3_cannot_carry_is_refused_before_any_work(agent):
    """Found by the fuzz above: an empty metadata key, or a value with a NUL, reached the upload
    and failed there as an internal error; it is bad input, refused as such, nothing done."""
    stub = agent.stub()
    for metadata in ({"": ""}, {"~root": "a\0b"}, {"ok": "line\nbreak"}):
        with pytest.raises(grpc.RpcError) as refused:
            stub.TakeSnapshot(pb.TakeSnapshotRequest(node_key="fz-0002", key="-0001", store="s3",
                                                     metadata=metadata), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert "metadata" in (refused.value.details() or "")
    assert agent.alive()
