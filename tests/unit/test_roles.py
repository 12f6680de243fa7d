"""Who is primary, who follows whom, who is fenced or guarded (coordinator.domain.roles)."""
from __future__ import annotations

from coordinator.domain.roles import ReplicationRole, Role, roles, writable_primaries
from tests.helpers.decisions import group, member


def clusters(*members):
    return {m.cluster_id: m for m in members}


def test_a_standalone_redis_cluster_has_no_role_so_nothing_ever_fences_it():
    alone = member("solo", "h1", group_id="")
    assert roles([], clusters(alone)) == {}
    assert writable_primaries({}, clusters(alone)) == {}


def test_a_primary_is_guarded_only_while_its_group_has_a_healthy_replica():
    grp = group(["g-001", "g-002", "g-003"], epoch=4)
    members = clusters(member("g-001", "h1"), member("g-002", "h2"), member("g-003", "h3"))
    unguarded = roles([grp], members)
    assert unguarded["g-001"] == Role(ReplicationRole.PRIMARY, term=4, peers=("g-002", "g-003"))
    assert unguarded["g-002"] == Role(ReplicationRole.REPLICA, "10.0.0.h1", 6379, term=4)
    assert roles([grp], members, guarded={"g"})["g-001"].write_guard


def test_a_primary_without_replicas_is_never_guarded():
    assert not roles([group(["g-001"])], clusters(member("g-001", "h1")), guarded={"g"})["g-001"].write_guard


def test_a_member_whose_primary_has_no_address_yet_is_a_fenced_master():
    primary = member("g-001", None)
    primary.nodes["0001"].address = ""
    role = roles([group(["g-001", "g-002"])], clusters(primary, member("g-002", "h2")))["g-002"]
    assert (role.role, role.write_fenced) == (ReplicationRole.PRIMARY, True)
