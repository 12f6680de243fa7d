"""AUTH tokens and redis ACL users without an engine: the API's rules and refusals, the sealed
replication password, the users each node's spec gets, and the agent's commands and files.
The engine's side (real redis 7 taking the users live, a failover with AUTH on) is in
tests/e2e/test_auth_e2e.py."""
from __future__ import annotations

import asyncio
import json
import stat

import grpc
import pytest
import structlog
from cachefleet.v1 import cache_control_pb2 as pb
from cachefleet.v1 import node_agent_pb2 as agent_pb

from coordinator.domain import auth
from coordinator.domain.errors import ApiError
from coordinator.domain.model import Cluster, ClusterStatus, GroupStatus, Node, NodeStatus, ReplicationGroup
from coordinator.domain.redis_acl import check_access_string
from coordinator.domain.users import User, UserGroup
from coordinator.reconcile.acl import CLOSED, acl_users
from coordinator.server import Coordinator, CoordinatorConfig
from coordinator.state.secrets import SecretBox, SecretsError, load_or_create_key
from nodeagent import acl
from nodeagent.errors import InvalidArgument
from nodeagent.parameters import describe
from nodeagent.specs import program_fields
from tests.unit.test_cache_control import served

TOKEN = "first-token-0123456789"
NEW_TOKEN = "second-token-0123456789"
AGENT_PASSWORD = "agent-password-never-sent"


# -- tokens -----------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["short", "x" * 129, "has@at-sign-0123456", "has/slash-0123456789",
                                   'has"quote-0123456789', "has space 0123456789", "tab\there-0123456789"])
def test_a_malformed_token_is_refused_without_repeating_it(token):
    with pytest.raises(ApiError) as refused:
        auth.token_at_create(token, "redis", "required")
    assert refused.value.code == "InvalidParameterValue" and token not in str(refused.value)


def test_a_token_needs_tls_and_redis():
    with pytest.raises(ApiError, match="InvalidParameterCombination: AuthToken can be specified only when"):
        auth.token_at_create(TOKEN, "redis", "")
    with pytest.raises(ApiError, match="InvalidParameterCombination: .*memcached"):
        auth.token_at_create(TOKEN, "memcached", "required")
    assert auth.token_at_create(TOKEN, "redis", "preferred") == [auth.sha256(TOKEN)]


def test_rotate_keeps_two_tokens_set_keeps_one_and_delete_only_moves_to_user_groups():
    first, second, third = (auth.sha256(t) for t in (TOKEN, NEW_TOKEN, "third-token-0123456789"))
    rotated = auth.updated([first], NEW_TOKEN, auth.strategy_of(NEW_TOKEN, ""), "redis", "required")
    assert rotated == [first, second]                         # ROTATE is the default
    assert auth.updated(rotated, "third-token-0123456789", "ROTATE", "redis", "required") == [second, third]
    assert auth.updated(rotated, NEW_TOKEN, "SET", "redis", "required") == [second]
    assert auth.updated([], TOKEN, "ROTATE", "redis", "required") == [first]   # AUTH added to a TLS cluster
    with pytest.raises(ApiError, match="InvalidParameterCombination: AuthTokenUpdateStrategy SET is allowed only"):
        auth.updated([], TOKEN, "SET", "redis", "required")
    with pytest.raises(ApiError, match="InvalidParameterCombination: AuthTokenUpdateStrategy DELETE"):
        auth.updated(rotated, "", "DELETE", "redis", "required")
    assert auth.updated(rotated, "", "DELETE", "redis", "required", to_user_groups=True) == []
    with pytest.raises(ApiError, match="InvalidParameterValue: AuthTokenUpdateStrategy"):
        auth.strategy_of(TOKEN, "SOMETIMES")
    with pytest.raises(ApiError, match="MissingParameter"):
        auth.strategy_of("", "SET")


def test_a_token_hash_is_what_redis_checks_a_password_against():
    assert auth.sha256("foobar") == "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"


# -- sealed secrets ---------------------------------------------------------------------------

def test_a_sealed_secret_opens_with_its_key_only_and_the_key_file_is_the_coordinators(tmp_path):
    path = tmp_path / "keys" / "secrets.key"
    box = SecretBox.at(path)
    password, sealed = box.new_password()
    assert password not in sealed and box.open(sealed) == password
    assert SecretBox.at(path).open(sealed) == password            # the same key the next time
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == path.read_bytes().strip()
    with pytest.raises(SecretsError):
        SecretBox.at(tmp_path / "other.key").open(sealed)
    assert "key" not in repr(box).lower().replace("secretbox", "")


# -- access strings ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["on ~* &* +@all", "on ~app:* -@dangerous", "off", "on %R~x* +get +client|setname",
                                   "on allkeys allchannels +select|0", "on ~* +@ALL -FLUSHALL"])
def test_access_strings_redis_takes_are_taken(value):
    assert check_access_string(value) == " ".join(value.split())


@pytest.mark.parametrize("value", ["", "on +nosuchcommand", "on +@nosuchcategory", "on >password", "on #abc",
                                   "on nopass", "on reset", "on %X~a", "on x", "on -select|0", "on +acl|nosuch",
                                   'on ~"quoted"', "on ~a\nuser evil"])
def test_access_strings_redis_refuses_are_refused(value):
    with pytest.raises(ApiError) as refused:
        check_access_string(value)
    assert refused.value.code in ("InvalidParameterValue",)


# -- the users a node gets --------------------------------------------------------------------

def _cluster(**fields) -> Cluster:
    return Cluster("c1", "redis", "7.0.15", "cache.t1.micro", 6400, transit_encryption_mode="required", **fields)


def test_a_token_is_the_default_user_and_a_user_group_its_users():
    token = acl_users(_cluster(auth_token_hashes=["a" * 64]), {}, {})
    assert [(u.name, list(u.password_sha256), u.access_string) for u in token] == \
        [("default", ["a" * 64], auth.TOKEN_ACCESS)]
    users = {"d": User("d", "default", "off", no_password=True),
             "ro": User("ro", "reader", "on ~* +@read", ["b" * 64])}
    grouped = acl_users(_cluster(user_group_ids=["g"]), users, {"g": UserGroup("g", ["d", "ro"])})
    assert [(u.name, u.nopass, u.access_string) for u in grouped] == [("default", True, "off"),
                                                                    ("reader", False, "on ~* +@read")]
    assert acl_users(_cluster(user_group_ids=["gone"]), users, {}) == [CLOSED]   # fails closed
    assert acl_users(_cluster(), {}, {}) == []


# -- the agent --------------------------------------------------------------------------------

def spec(*users: agent_pb.AclUser, replication: str = "") -> agent_pb.NodeSpec:
    return agent_pb.NodeSpec(node_key="c-0001", engine="redis", port=6400, max_memory_mb=64,
                             acl_users=users, replication_password=replication)


DEFAULT = agent_pb.AclUser(name="default", password_sha256=[auth.sha256(TOKEN)], access_string="on ~* &* +@all")


def test_the_agent_makes_its_user_first_and_authenticates_as_it_last():
    commands = acl.live_commands(spec(DEFAULT, replication="r" * 20), {}, AGENT_PASSWORD)
    assert [tuple(c[:3]) for c in commands] == [
        ("ACL", "SETUSER", acl.AGENT_USER), ("ACL", "SETUSER", acl.REPLICATION_USER), ("ACL", "SETUSER", "default"),
        ("CONFIG", "SET", "masteruser"), ("AUTH", acl.AGENT_USER, AGENT_PASSWORD)]
    assert f"#{auth.sha256(AGENT_PASSWORD)}" in commands[0] and "reset" in commands[2]
    running = acl.applied(spec(DEFAULT, replication="r" * 20), AGENT_PASSWORD)
    assert acl.live_commands(spec(DEFAULT, replication="r" * 20), running, AGENT_PASSWORD) == []
    assert AGENT_PASSWORD not in json.dumps(running) and "r" * 20 not in json.dumps(running)


def test_a_rotation_changes_only_the_default_user_and_a_user_no_longer_listed_goes():
    reader = agent_pb.AclUser(name="reader", nopass=True, access_string="on ~* +@read")
    running = acl.applied(spec(DEFAULT, reader), AGENT_PASSWORD)
    rotated = agent_pb.AclUser(name="default", password_sha256=[auth.sha256(TOKEN), auth.sha256(NEW_TOKEN)],
                               access_string="on ~* &* +@all")
    commands = acl.live_commands(spec(rotated), running, AGENT_PASSWORD)
    assert [tuple(c[:3]) for c in commands] == [("ACL", "SETUSER", "default"), ("ACL", "DELUSER", "reader"),
                                                ("AUTH", acl.AGENT_USER, AGENT_PASSWORD)]
    back = acl.live_commands(spec(), running, AGENT_PASSWORD)     # no users: redis's own default user again
    assert [tuple(c[:3]) for c in back] == [("ACL", "DELUSER", "reader"), ("ACL", "SETUSER", "default")] or \
        [tuple(c[:3]) for c in back] == [("ACL", "SETUSER", "default"), ("ACL", "DELUSER", "reader")]
    assert "nopass" in next(c for c in back if c[2] == "default")


def test_what_the_agent_logs_and_its_file_never_hold_a_password(tmp_path):
    full = spec(DEFAULT, replication="replication-secret-xyz")
    line = describe(acl.live_commands(full, {}, AGENT_PASSWORD))
    for secret in (AGENT_PASSWORD, "replication-secret-xyz", auth.sha256(TOKEN), TOKEN):
        assert secret not in line
    acl.write_file(full, tmp_path, AGENT_PASSWORD)
    text = (tmp_path / acl.ACL_CONF).read_text()
    assert AGENT_PASSWORD not in text and f"#{auth.sha256(AGENT_PASSWORD)}" in text
    assert "masterauth replication-secret-xyz" in text      # a replica must send it in clear
    assert stat.S_IMODE((tmp_path / acl.ACL_CONF).stat().st_mode) == 0o640


@pytest.mark.parametrize("bad, message", [
    (spec(agent_pb.AclUser(name="cachefleet-agent", nopass=True, access_string="on")), "not allowed"),
    (spec(agent_pb.AclUser(name="u", password_sha256=["nothex"], access_string="on")), "hex"),
    (spec(agent_pb.AclUser(name="u", access_string="on")), "passwords or nopass"),
    (spec(agent_pb.AclUser(name="u", nopass=True, access_string="on >clear")), "may not be in"),
    (spec(agent_pb.AclUser(name="u", nopass=True, access_string='on ~"x')), "may not be in"),
    (spec(DEFAULT, DEFAULT), "twice"),
    (spec(replication="short"), "replication_password"),
])
def test_the_agent_refuses_users_it_cannot_write_or_apply(bad, message):
    with pytest.raises(InvalidArgument, match=message):
        acl.check(bad, "7.0.15")


def test_users_need_redis_6_2_and_change_no_program():
    with pytest.raises(InvalidArgument, match="6.2"):
        acl.check(spec(DEFAULT), "6.0.9")
    assert program_fields(spec(DEFAULT, replication="r" * 20)) == program_fields(spec())


def test_the_agents_password_is_made_once_and_kept_to_itself(tmp_path):
    from nodeagent.layout import StateDir
    state = StateDir.at(tmp_path)
    password = acl.agent_password(state)
    assert acl.agent_password(StateDir.at(tmp_path)) == password and len(password) >= 32
    assert stat.S_IMODE((tmp_path / acl.AGENT_PASSWORD_FILE).stat().st_mode) == 0o600


# -- the API ----------------------------------------------------------------------------------

def _member(cluster_id: str, group_id: str) -> Cluster:
    member = _cluster(status=ClusterStatus.AVAILABLE, replication_group_id=group_id,
                      nodes={"0001": Node("0001", NodeStatus.AVAILABLE, "h1", "zone-a", "10.0.0.1")})
    member.cluster_id = cluster_id
    return member


async def _refused(call) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return refused.value.details()


def test_tokens_through_the_api_are_kept_as_hashes_and_never_shown_logged_or_recorded(tmp_path):
    async def scenario():
        built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path), dns_backend="none",
                                              secrets_key_file=str(tmp_path / "secrets.key")))
        group = ReplicationGroup("g1", "group", primary="g1-001", members=["g1-001", "g1-002"],
                                 status=GroupStatus.AVAILABLE, transit_encryption_mode="required")
        await built.group_repo.create(group, [_member("g1-001", "g1"), _member("g1-002", "g1")])
        await built.repo.create(_cluster(status=ClusterStatus.AVAILABLE))
        try:
            async with served(built) as stub:
                with structlog.testing.capture_logs() as logs:
                    rg = pb.ModifyReplicationGroupRequest
                    rotated = await stub.ModifyReplicationGroup(rg(replication_group_id="g1", auth_token=TOKEN),
                                                                timeout=5)
                    assert rotated.replication_group.auth_token_enabled
                    assert rotated.replication_group.status == "modifying"    # until every member's agent runs it
                    assert rotated.replication_group.HasField("auth_token_last_modified_date")
                    await stub.ModifyReplicationGroup(rg(replication_group_id="g1", auth_token=NEW_TOKEN,
                                                         auth_token_update_strategy="ROTATE"), timeout=5)
                    members = [await built.repo.get(m) for m in ("g1-001", "g1-002")]
                    assert all(m is not None and m.auth_token_hashes == [auth.sha256(TOKEN), auth.sha256(NEW_TOKEN)]
                               for m in members)
                    await stub.ModifyReplicationGroup(rg(replication_group_id="g1", auth_token=NEW_TOKEN,
                                                         auth_token_update_strategy="SET"), timeout=5)
                    stored = await built.group_repo.get("g1")
                    assert stored is not None and stored.auth_token_hashes == [auth.sha256(NEW_TOKEN)]
                    assert built.secrets is not None and len(built.secrets.open(stored.replication_secret)) >= 32
                    for refusal, code in [
                        (rg(replication_group_id="g1", auth_token="short"), "InvalidParameterValue"),
                        (rg(replication_group_id="g1", auth_token_update_strategy="DELETE"),
                         "InvalidParameterCombination"),
                        (rg(replication_group_id="g1", user_group_ids_to_add=["nope"]), "UserGroupNotFound"),
                    ]:
                        assert (await _refused(stub.ModifyReplicationGroup(refusal, timeout=5))).startswith(code)
                    cc = pb.ModifyCacheClusterRequest
                    assert (await _refused(stub.ModifyCacheCluster(cc(cache_cluster_id="g1-001", auth_token=TOKEN),
                                                                   timeout=5))).startswith("InvalidParameterCombination")
                    await stub.ModifyCacheCluster(cc(cache_cluster_id="c1", auth_token=TOKEN), timeout=5)
                    described = await stub.DescribeCacheClusters(pb.DescribeCacheClustersRequest(), timeout=5)
                    events = await stub.DescribeEvents(pb.DescribeEventsRequest(duration=60), timeout=5)
                assert stored == await built.group_repo.get("g1")     # the refusals changed nothing
                everything = json.dumps([r.value for r in await built.store.list("")])
                shown = str(described) + str(events) + str(logs)
                for secret in (TOKEN, NEW_TOKEN):
                    assert secret not in everything and secret not in shown
                assert "AUTH token rotated" in str(events)
        finally:
            await built.store.close()
    asyncio.run(scenario())


def test_a_cluster_request_for_a_token_the_fleet_cannot_honour_is_refused_and_changes_nothing(tmp_path):
    async def scenario():
        built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path), dns_backend="none"))
        try:
            async with served(built) as stub:
                create = pb.CreateCacheClusterRequest
                for request, code in [
                    (create(cache_cluster_id="a", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1,
                            auth_token=TOKEN), "InvalidParameterCombination"),      # no TLS
                    (create(cache_cluster_id="b", engine="memcached", cache_node_type="cache.t1.micro",
                            num_cache_nodes=1, auth_token=TOKEN), "InvalidParameterCombination"),
                    (create(cache_cluster_id="c", engine="redis", cache_node_type="cache.t1.micro", num_cache_nodes=1,
                            auth_token="has@sign-0123456789"), "InvalidParameterValue"),
                ]:
                    details = await _refused(stub.CreateCacheCluster(request, timeout=5))
                    assert details.startswith(code) and request.auth_token not in details
                assert await built.repo.all() == []
        finally:
            await built.store.close()
    asyncio.run(scenario())


def test_users_and_user_groups_answer_and_refuse_with_elasticaches_codes_and_change_nothing(tmp_path):
    async def scenario():
        built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path), dns_backend="none"))
        await built.users.ensure_default(0.0)
        try:
            async with served(built) as stub:
                cu = pb.CreateUserRequest
                await stub.CreateUser(cu(user_id="Def", user_name="default", engine="redis", access_string="off",
                                         no_password_required=True), timeout=5)
                made = await stub.CreateUser(cu(user_id="ro", user_name="reader", engine="redis",
                                                access_string="on ~* +@read", passwords=[TOKEN]), timeout=5)
                assert (made.authentication.type, made.authentication.password_count) == ("password", 1)
                await stub.CreateUser(cu(user_id="ro2", user_name="reader", engine="redis",
                                         access_string="on ~* +@read", no_password_required=True), timeout=5)
                group = await stub.CreateUserGroup(pb.CreateUserGroupRequest(
                    user_group_id="app", engine="redis", user_ids=["def", "ro"]), timeout=5)
                assert list(group.user_ids) == ["def", "ro"]
                before = json.dumps([r.value for r in await built.store.list("user")])
                for call, code in [
                    (stub.CreateUser(cu(user_id="ro", user_name="x", engine="redis", access_string="on",
                                        no_password_required=True), timeout=5), "UserAlreadyExists"),
                    (stub.CreateUser(cu(user_id="x", user_name="x", engine="redis", access_string="on +nosuch",
                                        no_password_required=True), timeout=5), "InvalidParameterValue"),
                    (stub.CreateUser(cu(user_id="x", user_name="x", engine="memcached", access_string="on",
                                        no_password_required=True), timeout=5), "InvalidParameterValue"),
                    (stub.CreateUser(cu(user_id="x", user_name="x", engine="redis", access_string="on",
                                        passwords=[TOKEN, NEW_TOKEN, "third-token-0123456789"]), timeout=5),
                     "InvalidParameterValue"),
                    (stub.CreateUser(cu(user_id="x", user_name="x", engine="redis", access_string="on",
                                        passwords=[TOKEN], no_password_required=True), timeout=5),
                     "InvalidParameterCombination"),
                    (stub.CreateUser(cu(user_id="x", user_name="cachefleet-agent", engine="redis", access_string="on",
                                        no_password_required=True), timeout=5), "InvalidParameterValue"),
                    (stub.CreateUserGroup(pb.CreateUserGroupRequest(user_group_id="nodef", engine="redis",
                                                                    user_ids=["ro"]), timeout=5), "DefaultUserRequired"),
                    (stub.CreateUserGroup(pb.CreateUserGroupRequest(user_group_id="twice", engine="redis",
                                                                    user_ids=["def", "ro", "ro2"]), timeout=5),
                     "DuplicateUserName"),
                    (stub.CreateUserGroup(pb.CreateUserGroupRequest(user_group_id="app", engine="redis",
                                                                    user_ids=["def"]), timeout=5),
                     "UserGroupAlreadyExists"),
                    (stub.CreateUserGroup(pb.CreateUserGroupRequest(user_group_id="x", engine="redis",
                                                                    user_ids=["def", "ghost"]), timeout=5), "UserNotFound"),
                    (stub.ModifyUserGroup(pb.ModifyUserGroupRequest(user_group_id="app", user_ids_to_remove=["def"]),
                                          timeout=5), "DefaultUserRequired"),
                    (stub.ModifyUserGroup(pb.ModifyUserGroupRequest(user_group_id="ghost", user_ids_to_add=["ro2"]),
                                          timeout=5), "UserGroupNotFound"),
                    (stub.ModifyUser(pb.ModifyUserRequest(user_id="ro", access_string="on >pw"), timeout=5),
                     "InvalidParameterValue"),
                    (stub.DeleteUser(pb.DeleteUserRequest(user_id="def"), timeout=5), "DefaultUserAssociatedToUserGroup"),
                    (stub.DeleteUser(pb.DeleteUserRequest(user_id="ghost"), timeout=5), "UserNotFound"),
                    (stub.DescribeUserGroups(pb.DescribeUserGroupsRequest(user_group_id="ghost"), timeout=5),
                     "UserGroupNotFound"),
                    (stub.ModifyUser(pb.ModifyUserRequest(user_id="default", access_string="off"), timeout=5),
                     "InvalidParameterValue"),
                    (stub.DeleteUser(pb.DeleteUserRequest(user_id="default"), timeout=5), "InvalidParameterValue"),
                ]:
                    assert (await _refused(call)).startswith(code + ":"), code
                assert json.dumps([r.value for r in await built.store.list("user")]) == before
                modified = await stub.ModifyUser(pb.ModifyUserRequest(user_id="ro", append_access_string="-keys"),
                                                 timeout=5)
                assert modified.access_string == "on ~* +@read -keys" and list(modified.user_group_ids) == ["app"]
                described = await stub.DescribeUsers(pb.DescribeUsersRequest(user_id="ro"), timeout=5)
                assert TOKEN not in str(described) and auth.sha256(TOKEN) not in str(described)
                await stub.DeleteUser(pb.DeleteUserRequest(user_id="ro"), timeout=5)
                left = await stub.DescribeUserGroups(pb.DescribeUserGroupsRequest(user_group_id="app"), timeout=5)
                assert list(left.user_groups[0].user_ids) == ["def"]
                await stub.DeleteUserGroup(pb.DeleteUserGroupRequest(user_group_id="app"), timeout=5)
                assert await built.user_groups.all() == []
                builtin = await stub.DescribeUsers(pb.DescribeUsersRequest(user_id="default"), timeout=5)
                assert (builtin.users[0].user_name, builtin.users[0].authentication.type) == ("default", "no-password")
                await stub.CreateUserGroup(pb.CreateUserGroupRequest(user_group_id="open", engine="redis",
                                                                     user_ids=["default", "ro2"]), timeout=5)
        finally:
            await built.store.close()
    asyncio.run(scenario())


def test_an_engine_started_by_a_program_without_acl_conf_gets_its_users_live(tmp_path):
    """A program an older agent rendered (no `--include acl.conf`) starts with no users: the
    applier must not believe it has them, or the node would stay open."""
    from nodeagent.layout import StateDir
    from nodeagent.parameters import ParameterApplier, live_commands
    state = StateDir.at(tmp_path)
    state.ensure()
    applier = ParameterApplier(state, monitor=None)  # type: ignore[arg-type]   # started() reads no engine
    full = spec(DEFAULT)
    applier.started(full, users_loaded=False)
    password = acl.agent_password(state)
    pending = live_commands(full, applier._running[full.node_key], True, password)
    assert ("ACL", "SETUSER", "default") in [tuple(c[:3]) for c in pending]
    applier.started(full)
    assert live_commands(full, applier._running[full.node_key], True, password) == []


def test_a_user_or_user_group_changed_moves_what_uses_it_to_modifying_and_nothing_else(tmp_path):
    """As a TLS or AUTH change: the replication groups and standalone clusters whose user groups
    hold the changed user show `modifying` until every node's agent runs the new users."""
    async def scenario():
        built = Coordinator(CoordinatorConfig(state_dir=str(tmp_path), dns_backend="none"))
        await built.users.ensure_default(0.0)
        try:
            async with served(built) as stub:
                await stub.CreateUser(pb.CreateUserRequest(user_id="ro", user_name="reader", engine="redis",
                                                           access_string="on ~* +@read", passwords=[TOKEN]), timeout=5)
                for group_id in ("app", "other"):
                    await stub.CreateUserGroup(pb.CreateUserGroupRequest(
                        user_group_id=group_id, engine="redis", user_ids=["default"]), timeout=5)
                await stub.ModifyUserGroup(pb.ModifyUserGroupRequest(user_group_id="app", user_ids_to_add=["ro"]),
                                           timeout=5)
                for group_id, user_group in (("g1", "app"), ("g2", "other")):
                    group = ReplicationGroup(group_id, "group", primary=f"{group_id}-001", members=[f"{group_id}-001"],
                                             status=GroupStatus.AVAILABLE, transit_encryption_mode="required",
                                             user_group_ids=[user_group])
                    await built.group_repo.create(group, [_member(f"{group_id}-001", group_id)])
                standalone = _cluster(status=ClusterStatus.AVAILABLE, user_group_ids=["app"],
                                      nodes={"0001": Node("0001", NodeStatus.AVAILABLE, "h1", "zone-a", "10.0.0.1")})
                await built.repo.create(standalone)

                async def statuses() -> dict[str, str]:
                    groups = {g.group_id: g.status.value for g in await built.group_repo.all()}
                    clusters = {c.cluster_id: c.status.value for c in await built.repo.all()}
                    return {**groups, **clusters}
                assert set((await statuses()).values()) == {"available"}
                await stub.ModifyUser(pb.ModifyUserRequest(user_id="ro", append_access_string="-keys"), timeout=5)
                assert await statuses() == {"g1": "modifying", "g2": "available", "g1-001": "modifying",
                                            "g2-001": "available", "c1": "modifying"}
                node = (await built.repo.get("g1-001")).nodes["0001"]
                assert node.status == NodeStatus.MODIFYING    # available again once its agent runs the new users
        finally:
            await built.store.close()
    asyncio.run(scenario())
