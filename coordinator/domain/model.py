"""Desired state as the coordinator stores it: clusters, their nodes, hosts.

A cluster is one store record holding its nodes, so a placement, a resize or a
status change is one compare-and-set write: it lands whole or not at all.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any


class ClusterStatus(enum.StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    MODIFYING = "modifying"
    REBOOTING = "rebooting cache cluster nodes"
    DELETING = "deleting"
    RESTORE_FAILED = "restore-failed"   # its snapshot could not be loaded; no engine was started


class NodeStatus(enum.StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    REBOOTING = "rebooting"
    RECOVERING = "recovering"   # being re-created on another host after its host was lost
    DELETING = "deleting"
    FAILED = "failed"
    MODIFYING = "modifying"     # being restarted on a new engine version


@dataclass
class Node:
    node_id: str                      # "0001"
    status: NodeStatus = NodeStatus.CREATING
    host_id: str | None = None        # None: not placed (no capacity yet)
    zone: str = ""
    address: str = ""                 # the host's address, what the DNS name resolves to
    created: float = 0.0
    reboot_generation: int = 0
    message: str = ""                 # why it failed, when it did
    engine_version: str = ""          # set while a patch rolls node by node; "" = the cluster's
    # The host a user's change (a scale that needs more memory) moved the node from: its old
    # engine there is removed, data and all, once the node serves in sync on its new host.
    moved_from: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        return cls(**{**data, "status": NodeStatus(data["status"])})


@dataclass
class PendingChanges:
    """PendingModifiedValues: a change kept for the maintenance window. False when nothing waits.

    Stored with only the fields set, under these names."""
    num_cache_nodes: int | None = None
    cache_node_ids_to_remove: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    engine_version: str = ""
    cache_node_type: str = ""

    def __bool__(self) -> bool:
        return self != PendingChanges()

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, "", [])}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingChanges:
        return cls(**data)


@dataclass(frozen=True)
class NodeMove:
    """Where a replication group member's node goes when its host lacks a new node type's memory."""
    host_id: str
    zone: str
    address: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeMove | None:
        return cls(**data) if data else None


_DROPPED = ("url", "rdb_checked")


@dataclass(frozen=True)
class RestoreSource:
    """The object a new cluster's data node is warm-started from, and how that went."""
    source: str                   # the snapshot's name, or the ARN of a user's RDB object
    key: str                      # in the snapshot store (the agents' store of that name)
    sha256: str = ""              # "": not checked (a user's object)
    engine_version: str = ""      # the snapshot's; "": not known
    node_type: str = ""           # the snapshot's, the default for the new cluster
    done: bool = False            # the node's agent has it in place: the node may start
    failures: int = 0             # agent errors so far (final after a few)
    error: str = ""               # why the restore was refused (the cluster is restore-failed)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RestoreSource | None:
        # older records also named the store's URL and whether the check could be skipped:
        # the store is the agents' by name now, and every restore is checked
        return cls(**{k: v for k, v in data.items() if k not in _DROPPED}) if data else None


@dataclass
class Cluster:
    cluster_id: str
    engine: str
    engine_version: str
    node_type: str
    port: int
    status: ClusterStatus = ClusterStatus.CREATING
    created: float = 0.0
    preferred_zones: list[str] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    next_node_seq: int = 1
    replication_group_id: str = ""
    maintenance_window: str = ""
    auto_minor_version_upgrade: bool = True
    pending: PendingChanges = field(default_factory=PendingChanges)   # applied in the window
    maintenance_running: bool = False
    parameter_group: str = ""     # its CacheParameterGroup; "": default.<family>
    security_groups: list[str] = field(default_factory=list)   # its CacheSecurityGroups; []: default
    # A replication group member that must move to another host to grow (its host lacks
    # the memory); the group reconciler moves it in turn.
    move: NodeMove | None = None
    # where its events go (ElastiCache's NotificationTopicArn: here an http(s) webhook URL);
    # a member of a replication group without one uses its group's
    notification_topic_arn: str = ""
    notification_topic_status: str = "active"     # active | inactive
    # memcached Auto Discovery (coordinator/reconcile/discovery.py): the configuration endpoint's own
    # port (memcached holds the node port), and the node list it serves with its version,
    # +1 at every change; 0 / [] until first published.
    config_port: int = 0
    discovery_version: int = 0
    discovery_nodes: list[str] = field(default_factory=list)   # "host|ip|port", sorted

    # Backup and restore (coordinator/snapshots/): automatic daily snapshots kept this many
    # days (0: none), taken in this hh24:mi-hh24:mi UTC window; the snapshot its data node
    # is warm-started from; the snapshot to take before it is deleted.
    snapshot_retention_limit: int = 0
    snapshot_window: str = ""
    restore: RestoreSource | None = None
    final_snapshot: str = ""
    # TLS in transit: "" (off), "preferred" or "required"; in preferred the nodes also serve
    # plaintext on plaintext_port (chosen like config_port). Node certificates are not kept
    # here: each agent reports the one its node runs, and is sent a new one when it is due.
    transit_encryption_mode: str = ""
    plaintext_port: int = 0
    # Who may use the data (coordinator/domain/auth.py): the SHA-256 hashes of the valid AUTH
    # tokens (0-2; never a token), when they last changed, or the user groups whose users the
    # nodes have; and the password replicas present to their primary, sealed with the
    # coordinator's secrets key (coordinator/state/secrets.py). A group's members carry its values.
    auth_token_hashes: list[str] = field(default_factory=list)
    auth_token_modified: float = 0.0
    user_group_ids: list[str] = field(default_factory=list)
    replication_secret: str = ""
    # At-rest encryption (redis): its snapshots are stored encrypted (the snapshot store's
    # server-side encryption, or files only the agent's user reads in a local store).
    at_rest_encryption: bool = False

    def node_version(self, node: Node) -> str:
        return node.engine_version or self.engine_version

    def node_key(self, node_id: str) -> str:
        """The name of the node on its host (supervisord program, data dir)."""
        return f"{self.cluster_id}-{node_id}"

    @property
    def live_nodes(self) -> list[Node]:
        """Nodes that count toward NumCacheNodes (not being removed)."""
        return [n for n in self.nodes.values() if n.status != NodeStatus.DELETING]

    def new_node_id(self) -> str:
        node_id = f"{self.next_node_seq:04d}"
        self.next_node_seq += 1
        return node_id

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["nodes"] = {k: n.to_dict() for k, n in self.nodes.items()}
        data["pending"] = self.pending.to_dict()
        data["move"] = self.move.to_dict() if self.move else {}       # {} when none, as ever
        data["restore"] = self.restore.to_dict() if self.restore else {}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cluster:
        nodes = {k: Node.from_dict(v) for k, v in data.get("nodes", {}).items()}
        return cls(**{**data, "status": ClusterStatus(data["status"]), "nodes": nodes,
                      "pending": PendingChanges.from_dict(data.get("pending") or {}),
                      "move": NodeMove.from_dict(data.get("move") or {}),
                      "restore": RestoreSource.from_dict(data.get("restore") or {})})


def cluster_key(cluster_id: str) -> str:
    return f"clusters/{cluster_id}"


def split_node_key(node_key: str) -> tuple[str, str]:
    """'c1-0001' -> ('c1', '0001'): node ids are the last four digits."""
    cluster_id, _, node_id = node_key.rpartition("-")
    return cluster_id, node_id


class GroupStatus(enum.StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    MODIFYING = "modifying"
    DELETING = "deleting"
    CREATE_FAILED = "create-failed"   # its primary's snapshot could not be loaded (restore-failed)


@dataclass
class ReplicationGroup:
    """A redis primary and its read replicas; each member is a one-node redis Cluster
    whose replication_group_id names the group. Roles derive from `primary` alone."""
    group_id: str
    description: str
    primary: str                          # the member cluster id that is primary now
    members: list[str] = field(default_factory=list)
    status: GroupStatus = GroupStatus.CREATING
    automatic_failover: bool = False
    multi_az: bool = False
    node_type: str = ""
    engine_version: str = ""
    port: int = 0
    created: float = 0.0
    epoch: int = 0                        # bumped at every change of primary
    switch_to: str = ""                   # a planned switch in progress, to this member
    switch_started: float = 0.0
    retain_primary: bool = False          # deleting: keep the primary as a standalone cluster
    # The primary died while automatic failover was off: every member is held read-only
    # (replicas detached, so they can never follow a primary that comes back empty) until
    # an operator names the new primary or turns automatic failover on.
    primary_failed: bool = False
    maintenance_window: str = ""
    auto_minor_version_upgrade: bool = True
    pending: PendingChanges = field(default_factory=PendingChanges)   # applied in the window
    maintenance_running: bool = False
    next_member_seq: int = 1
    parameter_group: str = ""             # every member's CacheParameterGroup; "": default.<family>
    security_groups: list[str] = field(default_factory=list)   # every member's CacheSecurityGroups; []: default
    notification_topic_arn: str = ""      # webhook URL for the group's and its members' events
    snapshot_retention_limit: int = 0     # as Cluster's
    snapshot_window: str = ""
    snapshotting_cluster_id: str = ""     # the member automatic snapshots are taken on ("": a replica)
    final_snapshot: str = ""
    notification_topic_status: str = "active"
    transit_encryption_mode: str = ""     # every member's: "" | preferred | required
    plaintext_port: int = 0               # every member's, in preferred
    auth_token_hashes: list[str] = field(default_factory=list)    # every member's, as Cluster's
    auth_token_modified: float = 0.0
    user_group_ids: list[str] = field(default_factory=list)
    replication_secret: str = ""
    at_rest_encryption: bool = False      # every member's: snapshots stored encrypted
    # Each replica's link (up, syncing, down) as the leader last recorded it, written when it
    # changes: a coordinator that does not lead has no reports and shows these.
    links: dict[str, str] = field(default_factory=dict)

    @property
    def replicas(self) -> list[str]:
        return [m for m in self.members if m != self.primary]

    def new_member_id(self) -> str:
        member = f"{self.group_id}-{self.next_member_seq:03d}"
        self.next_member_seq += 1
        return member

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["pending"] = self.pending.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplicationGroup:
        return cls(**{**data, "status": GroupStatus(data["status"]),
                      "pending": PendingChanges.from_dict(data.get("pending") or {})})


def group_key(group_id: str) -> str:
    return f"groups/{group_id}"
