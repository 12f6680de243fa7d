"""At-rest encryption of snapshots and TLS turned on or off on running clusters, decided in-process:
the API's refusals (a real CacheControl on an in-process gRPC server), the transitions and the
plaintext port, what a group's members are sent (the real reconciler, simulated agents), the
agent's listener switch as commands, and a local store's modes. Real engines and a real
S3-compatible server are tests/e2e's."""
from __future__ import annotations

import asyncio
import os
import stat

import grpc
import pytest
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb

from cachefleet.common.objectstore.localdir import LocalDirStore
from cachefleet.common.tls.fleetca import init_ca
from coordinator.api.convert import snapshot_message
from coordinator.domain import transit
from coordinator.domain.errors import ApiError
from coordinator.domain.changes import applying_live_in_group
from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, Node, NodeStatus, ReplicationGroup
from coordinator.domain.placement import HostView
from coordinator.reconcile.certificates import NodeSigner
from coordinator.server import Coordinator, CoordinatorConfig
from coordinator.snapshots.model import Snapshot, snapshot_of
from nodeagent import listeners
from tests.unit.test_cache_control import served
from tests.unit.test_reconcile_cycles import Coordinator as Cycles, available_group, run


# -- at rest -----------------------------------------------------------------------------------

def test_at_rest_encryption_is_refused_for_memcached_and_changes_nothing(tmp_path):
    async def scenario():
        built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path), dns_backend="none"))
        try:
            async with served(built) as stub:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.CreateCacheCluster(pb.CreateCacheClusterRequest(
                        cache_cluster_id="m1", engine="memcached", cache_node_type="cache.t1.micro",
                        num_cache_nodes=1, at_rest_encryption_enabled=True), timeout=5)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert refused.value.details().startswith("InvalidParameterCombination: Encryption at rest")
                assert list(await built.repo.all()) == []
        finally:
            await built.store.close()
    asyncio.run(scenario())


def test_a_snapshot_of_an_encrypted_cluster_and_its_copies_say_so():
    cluster = Cluster("r1", "redis", "7.0.15", "cache.t1.micro", 6379, at_rest_encryption=True,
                      nodes={"0001": Node("0001", NodeStatus.AVAILABLE, "h1", "zone-a", "10.0.0.1")})
    taken = snapshot_of("s1", "manual", cluster, None, 0.0)
    copied = Snapshot.from_dict({**taken.to_dict(), "name": "s2", "copy_of": "s1"})    # as CopySnapshot does
    assert taken.encrypted and copied.encrypted
    assert snapshot_message(copied, lambda key: key).at_rest_encryption_enabled
    cluster.at_rest_encryption = False
    assert not snapshot_message(snapshot_of("s3", "manual", cluster, None, 0.0), str).at_rest_encryption_enabled


def test_a_local_store_keeps_encrypted_objects_where_only_its_user_reads(tmp_path):
    os.umask(0o022)
    store = LocalDirStore(tmp_path / "store")
    store.put_stream("secret/r1-0001.rdb", [b"REDIS0011", b"data"], {}, encrypted=True)
    store.put_stream("plain/r2-0001.rdb", [b"REDIS0011"], {})
    mode = lambda path: stat.S_IMODE((tmp_path / "store" / path).stat().st_mode)   # noqa: E731
    assert mode("secret") == 0o700 and mode("secret/r1-0001.rdb") == 0o600
    assert mode("secret/r1-0001.rdb.manifest.json") == 0o600
    assert mode("plain") == 0o755 and mode("") == 0o755     # the store's own directory is left alone
    assert b"".join(store.get_stream("secret/r1-0001.rdb")) == b"REDIS0011data"


# -- TLS turned on and off -----------------------------------------------------------------------

@pytest.mark.parametrize("current, enabled, mode, wanted", [
    ("", True, "preferred", "preferred"),
    ("preferred", None, "required", "required"),
    ("preferred", True, "required", "required"),
    ("required", True, "preferred", "preferred"),
    ("preferred", False, "", ""),
    ("preferred", True, "preferred", None),      # nothing to change
    ("", False, "", None),
    ("", None, "", None),
])
def test_tls_comes_on_preferred_first_then_required_and_goes_off_from_preferred(current, enabled, mode, wanted):
    assert transit.requested_mode(current, enabled, mode, "redis") == wanted


@pytest.mark.parametrize("current, enabled, mode, engine, message", [
    ("", True, "", "redis", "set TransitEncryptionMode to preferred first"),
    ("", True, "required", "redis", "set TransitEncryptionMode to preferred first"),
    ("", None, "preferred", "redis", "requires TransitEncryptionEnabled"),
    ("required", False, "", "redis", "only from TransitEncryptionMode preferred"),
    ("preferred", False, "required", "redis", "requires TransitEncryptionEnabled"),
    ("", True, "preferred", "memcached", "running memcached cluster"),
])
def test_tls_changes_elasticache_refuses_are_refused(current, enabled, mode, engine, message):
    with pytest.raises(ApiError) as refused:
        transit.requested_mode(current, enabled, mode, engine)
    assert refused.value.code == "InvalidParameterCombination" and message in refused.value.message
    with pytest.raises(ApiError, match="must be preferred or required"):
        transit.requested_mode("", True, "sometimes", "redis")


def _views(tls: bool) -> dict[str, HostView]:
    views = {h: HostView(h, "zone-a", [f"10.0.0.{i}"], 4096, {"redis": {"7.0.15", "6.0.9"}},
                         tls_engines={"redis": {"7.0.15"}} if tls else {})
             for i, h in enumerate(("h1", "h2"), 1)}
    views["h2"].ports["10.0.0.2"] = {6379, 6380}     # another cluster's plaintext port there
    return views


def _member(cluster_id: str, host_id: str, version: str = "7.0.15") -> Cluster:
    return Cluster(cluster_id, "redis", version, "cache.t1.micro", 6379,
                   nodes={"0001": Node("0001", NodeStatus.AVAILABLE, host_id, "zone-a", f"10.0.0.{host_id[1]}")})


def test_tls_on_needs_a_tls_build_on_every_members_host_and_gets_a_plaintext_port_free_on_all():
    members = [_member("g-001", "h1"), _member("g-002", "h2")]
    assert transit.plan("", 0, 6379, True, "preferred", "redis", _views(True), members) == ("preferred", 6381)
    assert transit.plan("preferred", 6381, 6379, None, "required", "redis", _views(True), members) == ("required", 0)
    assert transit.plan("required", 0, 6379, None, "preferred", "redis", _views(True), members) == ("preferred", 6381)
    for views, group in ((_views(False), members), (_views(True), [_member("g-001", "h1", "6.0.9")])):
        with pytest.raises(ApiError) as refused:
            transit.plan("", 0, 6379, True, "preferred", "redis", views, group)
        assert refused.value.code == "InvalidParameterCombination" and "no build of it with TLS" in refused.value.message


def test_a_group_turned_to_preferred_is_modifying_until_each_member_runs_it_with_a_certificate(tmp_path):
    init_ca(tmp_path / "ca")

    async def scenario(c: Cycles) -> None:
        await available_group(c)
        group = await c.groups.get("g1")
        assert group is not None
        before = {h: c.agents.host(h).nodes[f"g1-00{i}-0001"].spec.reboot_generation
                  for i, h in enumerate(("h1", "h2", "h3"), 1)}

        def change(g, members) -> bool:     # what ModifyReplicationGroup records
            g.transit_encryption_mode, g.plaintext_port = "preferred", 6380
            for member in members.values():
                transit.apply(member, "preferred", 6380)
            applying_live_in_group(g, members)
            return True
        await c.groups.change("g1", change, lambda group_id: ApiError("ReplicationGroupNotFoundFault", group_id))
        marked = await c.groups.get("g1")
        member = await c.clusters.get("g1-002")
        assert marked is not None and marked.status.value == "modifying"
        assert member is not None and (member.status.value, member.nodes["0001"].status.value) == \
            ("modifying", "modifying")
        await c.cycle()
        await c.cycle()
        assert sorted(c.agents.calls_of("request_certificate")) == [
            ("h1", "g1-001-0001"), ("h2", "g1-002-0001"), ("h3", "g1-003-0001")]
        for i, host in enumerate(("h1", "h2", "h3"), 1):
            spec = c.agents.host(host).nodes[f"g1-00{i}-0001"].spec
            assert spec.transit_encryption.mode == agent_pb.TRANSIT_ENCRYPTION_MODE_PREFERRED
            assert spec.transit_encryption.plaintext_port == 6380 and spec.transit_encryption.cert_pem
            assert spec.reboot_generation == before[host]          # no restart asked for
        group = await c.groups.get("g1")
        assert group is not None and group.status.value == "available" and group.primary == "g1-001"
        assert "Replication group modified" in [e.message for e in await c.events.query(source_identifier="g1")]
    run(tmp_path, scenario, NodeSigner(tmp_path / "ca"))


def _secured(cluster_id: str, group_id: str = "", **fields) -> Cluster:
    return Cluster(cluster_id, "redis", "7.0.15", "cache.t1.micro", 6379, status=ClusterStatus.AVAILABLE,
                   replication_group_id=group_id, transit_encryption_mode="preferred", plaintext_port=6380,
                   nodes={"0001": Node("0001", NodeStatus.AVAILABLE, "h1", "zone-a", "10.0.0.1")}, **fields)


def test_tls_off_is_refused_while_an_auth_token_or_user_groups_need_it_and_a_tls_change_is_modifying(tmp_path):
    async def scenario():
        built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path), dns_backend="none"))
        token = {"auth_token_hashes": ["a" * 64], "auth_token_modified": 1.0}
        await built.repo.create(_secured("tok", **token))
        await built.repo.create(_secured("open"))
        for group_id, fields in (("gtok", token), ("gusers", {"user_group_ids": ["app"]})):
            await built.group_repo.create(
                ReplicationGroup(group_id, "d", primary=f"{group_id}-001", members=[f"{group_id}-001"],
                                 status=GroupStatus.AVAILABLE, transit_encryption_mode="preferred",
                                 plaintext_port=6380, port=6379, **fields),
                [_secured(f"{group_id}-001", group_id, **fields)])
        before = {c.cluster_id: c.to_dict() for c in await built.repo.all()}
        try:
            async with served(built) as stub:
                off = {"transit_encryption_enabled": False, "apply_immediately": True}
                for call, message in [
                    (stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(cache_cluster_id="tok", **off), timeout=5),
                     "while an AuthToken is in use"),
                    (stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(replication_group_id="gtok", **off),
                                                 timeout=5), "while an AuthToken is in use"),
                    (stub.ModifyReplicationGroup(pb.ModifyReplicationGroupRequest(replication_group_id="gusers",
                                                                                  **off), timeout=5),
                     "while UserGroupIds are in use"),
                ]:
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await call
                    assert refused.value.details().startswith("InvalidParameterCombination: TransitEncryptionEnabled "
                                                              "cannot be turned off " + message)
                assert {c.cluster_id: c.to_dict() for c in await built.repo.all()} == before
                assert all(g.transit_encryption_mode == "preferred" and g.status == GroupStatus.AVAILABLE
                           for g in await built.group_repo.all())
                answered = await stub.ModifyCacheCluster(pb.ModifyCacheClusterRequest(cache_cluster_id="open", **off),
                                                         timeout=5)
                assert (answered.cache_cluster.cache_cluster_status, answered.cache_cluster.transit_encryption_mode) \
                    == ("modifying", "")
                stored = await built.repo.get("open")
                assert stored is not None and stored.nodes["0001"].status == NodeStatus.MODIFYING
        finally:
            await built.store.close()
    asyncio.run(scenario())


def _node(mode: int, plaintext_port: int = 0) -> agent_pb.NodeSpec:
    return agent_pb.NodeSpec(node_key="g-001-0001", engine="redis", port=6379, transit_encryption=agent_pb.TransitEncryption(
        mode=mode, cert_pem="CERT", ca_pem="CA", plaintext_port=plaintext_port))


def test_the_agent_moves_both_listeners_in_one_config_set_the_one_giving_up_the_port_first(tmp_path):
    off, preferred = _node(0), _node(agent_pb.TRANSIT_ENCRYPTION_MODE_PREFERRED, 6380)
    required = _node(agent_pb.TRANSIT_ENCRYPTION_MODE_REQUIRED)
    assert listeners.listeners(off) == {"port": 6379, "tls_port": 0}
    assert listeners.listeners(preferred) == {"port": 6380, "tls_port": 6379}
    assert listeners.listeners(required) == {"port": 0, "tls_port": 6379}
    running = {listeners.LISTEN: {**listeners.listeners(off), "plaintext_below": 0}}
    assert listeners.pending(preferred, running) and not listeners.pending(off, running)
    assert not listeners.pending(preferred, {})          # an older running.json: as started
    commands = listeners.switch_commands(preferred, tmp_path)
    assert commands[0][:3] == ("CONFIG", "SET", "tls-cert-file") and "tls-replication" in commands[0]
    assert commands[1] == ("CONFIG", "SET", "port", "6380", "tls-port", "6379")
    assert listeners.switch_commands(off, tmp_path) == [("CONFIG", "SET", "tls-port", "0", "port", "6379"),
                                                       ("CONFIG", "SET", "tls-replication", "no")]


def test_required_disconnects_plaintext_clients_only():
    listed = listeners.parse_clients(
        "id=3 addr=127.0.0.1:5000 laddr=127.0.0.1:6380 fd=8 name= flags=N\n"     # on the plaintext port
        "id=4 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=9 name= flags=N\n"     # on 6379 before TLS
        "id=9 addr=127.0.0.1:5002 laddr=127.0.0.1:6379 fd=10 name=app flags=N\n")  # a TLS client
    assert listeners.plaintext_clients(listed, 6380, 6379, below=5) == ["3", "4"]
    assert listeners.plaintext_clients(listed, 0, 6379, below=0) == []


def test_the_cli_turns_tls_on_and_off_and_asks_for_encrypted_snapshots_with_aws_clis_options():
    from coordinator.cli.verbs import VERBS_BY_NAME
    from tests.unit.test_cli import parse_verb
    on = parse_verb(VERBS_BY_NAME["modify-replication-group"], "--replication-group-id", "g1",
                    "--transit-encryption-enabled", "--transit-encryption-mode", "preferred")
    assert (on.transit_encryption_enabled, on.transit_encryption_mode) == (True, "preferred")
    off = parse_verb(VERBS_BY_NAME["modify-cache-cluster"], "--cache-cluster-id", "r1",
                     "--no-transit-encryption-enabled")
    assert off.HasField("transit_encryption_enabled") and not off.transit_encryption_enabled
    create = parse_verb(VERBS_BY_NAME["create-replication-group"], "--replication-group-id", "g1",
                        "--replication-group-description", "d",
                        "--at-rest-encryption-enabled")
    assert create.at_rest_encryption_enabled


def test_an_engine_that_cannot_move_its_listeners_is_refused_and_keeps_what_it_runs(tmp_path):
    from nodeagent.errors import FailedPrecondition
    from nodeagent.layout import StateDir
    from nodeagent.parameters import ParameterApplier

    async def scenario() -> None:
        state = StateDir.at(tmp_path)
        state.ensure()
        applier = ParameterApplier(state, monitor=None)    # type: ignore[arg-type]   # apply() is not called
        off = _node(0)
        off.port = 1                                       # nothing listens there
        applier.started(off)
        running = dict(applier._running[off.node_key])
        preferred = _node(agent_pb.TRANSIT_ENCRYPTION_MODE_PREFERRED, 6380)
        preferred.port = 1
        with pytest.raises(FailedPrecondition, match="cannot move its listeners now"):
            await applier.switch_listeners(preferred, "127.0.0.1")
        assert applier._running[off.node_key] == running
    asyncio.run(scenario())
