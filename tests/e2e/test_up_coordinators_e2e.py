"""`cachefleet up --coordinators 3`: three coordinators on a three-member etcd (TLS from the
fleet CA), one leading. The leader SIGKILLed, another takes over with every cluster, answers
the next create, and `up` starts the killed one again as a standby (every agent now keeps the
new leader's higher epoch, and refuses a call sent with the old one's); the leader SIGKILLed
together with a group's primary, the group fails over once the new leader may act, with never
two primaries taking writes and no acknowledged write lost. Leader lease timings are the
coordinator's defaults (3 s lease, 0.5 s renewals, 1 s retry timeout)."""
import json
import time

import grpc
import pytest
import redis

from cachefleet.common.leader_epoch import metadata
from cachefleet.common.tls.credentials import load_channel_credentials
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cachefleet.v1 import node_agent_pb2_grpc as agent_grpc
from coordinator.cli import main as cli
from tests.helpers.fleet import kill_pid, pid_alive, wait_for
from tests.helpers.groups import MemberWrites, Writer, members, primary_of
from tests.helpers.upfleet import HOSTS, CoordinatedUp, free_port_on


@pytest.fixture()
def up(tmp_path_factory):
    """A fleet of its own for each test: the first leaves a coordinator restarted and agents
    that moved, which the second's failover must not inherit."""
    fleet = CoordinatedUp(tmp_path_factory.mktemp("up3"))
    try:
        fleet.banner = fleet.start()
        yield fleet
    finally:
        fleet.kill()


def _leader(up: CoordinatedUp) -> tuple[str, int]:
    """The leading coordinator's name and pid, once one leads and serves."""
    def found():
        name = up.leader()
        return name is not None and (pid := up.pid(name)) is not None and (name, pid)
    return wait_for(found, 15, what="a leader")


def _epochs(up: CoordinatedUp) -> dict[str, int]:
    """The highest leader epoch each agent has seen, as it keeps it in its state directory."""
    seen = {}
    for host in (up.state_dir / "hosts").iterdir():
        try:
            seen[host.name] = json.loads((host / "leader-epoch.json").read_text())["leader_epoch"]
        except (OSError, ValueError, KeyError):
            seen[host.name] = 0
    return seen


def _late_call_refused(up: CoordinatedUp, cluster_id: str, epoch: int) -> None:
    """A RemoveNode of one of the cluster's nodes as the killed leader could still send it (the
    coordinators' certificate, its epoch): StaleLeader, and the node runs on in the same process."""
    for host in sorted((up.state_dir / "hosts").iterdir()):
        endpoint = json.loads((host / "agent.json").read_text())["endpoint"]
        with grpc.secure_channel(endpoint, load_channel_credentials(up.ca.coordinator())) as channel:
            agent = agent_grpc.NodeAgentStub(channel)

            def pids() -> dict[str, int]:
                nodes = agent.ListNodes(agent_pb.ListNodesRequest(), timeout=5).nodes
                return {n.node_key: n.pid for n in nodes if n.node_key.startswith(f"{cluster_id}-")}
            before = pids()
            if not before:
                continue
            key = min(before)
            with pytest.raises(grpc.RpcError) as refused:
                agent.RemoveNode(agent_pb.RemoveNodeRequest(node_key=key), timeout=5, metadata=metadata(epoch))
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert refused.value.details().startswith("StaleLeader:"), refused.value.details()
            assert pids()[key] == before[key] > 0
            return
    raise AssertionError(f"no agent runs a node of {cluster_id}")


def _cli(capsys, *argv: str) -> dict | None:
    """The CLI with no endpoint given: it reads the one `up` wrote in its state directory."""
    capsys.readouterr()
    if cli.main(list(argv)) != 0:
        return None
    return json.loads(capsys.readouterr().out)


def test_up_runs_three_coordinators_and_the_leader_killed_is_replaced_and_restarted(up, capsys, monkeypatch):
    monkeypatch.setenv("CACHEFLEET_STATE_DIR", str(up.state_dir))
    monkeypatch.delenv("CACHEFLEET_ENDPOINT", raising=False)
    assert "3 coordinators on a 3-member etcd" in up.banner
    name, pid = _leader(up)
    leader_first = [up.listens[int(name[-1]) - 1]] + [e for e in up.listens if e != up.listens[int(name[-1]) - 1]]
    wait_for(lambda: (up.state_dir / "run" / "endpoint").read_text().split()[0].split(",") == leader_first, 5,
             what="the CLI's endpoint file to name every coordinator, the leader first")
    assert not (up.state_dir / "coordinator" / "coordinator.db").exists(), "the state is in etcd"
    port = str(free_port_on(*HOSTS))
    created = _cli(capsys, "create-cache-cluster", "--cache-cluster-id", "m1", "--engine", "memcached",
                   "--cache-node-type", "cache.t1.micro", "--num-cache-nodes", "2", "--port", port,
                   "--wait", "--wait-timeout", "20")
    assert created is not None, up.log_tail()
    first = _epochs(up)
    assert len(first) == len(HOSTS) and min(first.values()) > 0, first

    kill_pid(pid)
    killed_at = time.monotonic()

    def described():
        answer = up.call("DescribeCacheClusters", pb.DescribeCacheClustersRequest(cache_cluster_id="m1"),
                         timeout=1)
        return answer.cache_clusters[0].cache_cluster_status == "available"
    wait_for(described, 15, interval=0.05, what="m1 described by another coordinator")
    served = time.monotonic() - killed_at
    assert _leader(up)[1] != pid   # another coordinator, or the killed one's name started again by `up`
    # Followers answer reads at once; a create is refused (NotLeader, ServiceUnavailable) until
    # the old leader's lease has run out and another leads: the user's retry lands then.
    def m2_described() -> dict | None:
        return _cli(capsys, "describe-cache-clusters", "--cache-cluster-id", "m2")

    wait_for(lambda: _cli(capsys, "create-cache-cluster", "--cache-cluster-id", "m2", "--engine", "memcached",
                          "--cache-node-type", "cache.t1.micro", "--num-cache-nodes", "1", "--port", port)
             or m2_described(), 15, interval=0.2, what="a create answered by the new leader")
    wait_for(lambda: (d := m2_described()) is not None
             and d["CacheClusters"][0]["CacheClusterStatus"] == "available", 20, interval=0.2,
             what="m2 available")
    listed = up.call("DescribeCacheClusters", pb.DescribeCacheClustersRequest()).cache_clusters
    assert sorted(c.cache_cluster_id for c in listed) == ["m1", "m2"]
    wait_for(lambda: min(_epochs(up).values()) > max(first.values()), 5,
             what="every agent to have heard from the new leader, of a higher epoch")
    _late_call_refused(up, "m1", max(first.values()))

    wait_for(lambda: (again := up.pid(name)) is not None and again != pid, 10,
             what=f"`up` to start {name} again")
    assert f"{name} killed by SIGKILL" in up.log_tail(200_000)
    print(f"leader SIGKILL -> described by another coordinator: {served:.2f}s")


def test_the_leader_killed_with_a_primary_no_two_primaries_and_no_acknowledged_write_lost(up):
    port = free_port_on(*HOSTS)
    up.call("CreateReplicationGroup", pb.CreateReplicationGroupRequest(
        replication_group_id="rgk", replication_group_description="leader and primary killed",
        num_cache_clusters=3, automatic_failover_enabled=True, cache_node_type="cache.t1.micro", port=port))

    def settled():
        g = up.group("rgk")
        ms = members(g).values()
        return (g.status == "available" and len(ms) == 3 and all(m.cache_node_status == "available" for m in ms)
                and sum(m.replication_link_status == "up" for m in ms) == 2 and g)
    g = wait_for(settled, 30, what="rgk available, replicas in sync")
    old = primary_of(g)
    endpoint = g.node_groups[0].primary_endpoint.address
    (old_address,) = up.resolve(endpoint)
    addresses = [m.read_endpoint.address for m in members(g).values()]
    addresses = [up.resolve(a)[0] for a in addresses]
    victim = up.engine_pid(old_address, port)
    _, leader_pid = _leader(up)

    with MemberWrites(addresses, port) as probes, Writer(up, endpoint, port) as writer:
        killed_at = time.monotonic()
        kill_pid(victim)
        kill_pid(leader_pid)
        wait_for(lambda: writer.first_accept_after(killed_at + 0.05), 20, interval=0.05,
                 what="a write accepted through the primary endpoint after the kills")
        recovered = writer.first_accept_after(killed_at + 0.05) - killed_at
        before = len([t for t in writer.ack_times if t < killed_at])
        wait_for(lambda: len(writer.acked) > before + 30, 10, what="acknowledged writes to keep flowing")
    assert not pid_alive(victim) and not pid_alive(leader_pid)
    assert probes.overlaps() == [], f"two primaries took writes at once: {probes.spans()}"
    late = [at for at, address in probes.acks if address == old_address and at > killed_at + 0.05]
    g = up.group("rgk")
    new = primary_of(g)
    (new_address,) = up.resolve(endpoint)
    if new.cache_cluster_id == old.cache_cluster_id:
        assert new_address == old_address    # not failed over: its restarted engine kept the data
    else:
        assert new_address != old_address and not late, "the old primary took writes after its replacement"
    values = redis.Redis(host=new_address, port=port, socket_timeout=2).mget([f"w{n}" for n in writer.acked])
    lost = [n for n, v in zip(writer.acked, values) if v is None]
    assert lost == [], f"acknowledged writes lost: {lost[:10]}"
    assert _leader(up)[1] != leader_pid
    print(f"leader and primary SIGKILLed -> group writable again: {recovered:.2f}s "
          f"({old.cache_cluster_id} -> {new.cache_cluster_id})")
    assert recovered < 10
