"""One line of help for every request field the verbs turn into options (`--cache-cluster-id`).

Keyed by the proto field's name; where a name means something else in one verb, the key
`<verb>:<field>` says so. A unit test fails when an option has no line here.
"""
from __future__ import annotations

OPTION_HELP: dict[str, str] = {
    # clusters
    "cache_cluster_id": "the cache cluster's id (lower-case letters, digits, hyphens)",
    "describe-cache-clusters:cache_cluster_id": "describe only this cluster",
    "engine": "memcached or redis",
    "engine_version": "the engine version (describe-cache-engine-versions lists them); default: the newest",
    "cache_node_type": "the node type, e.g. cache.t1.micro (describe-cache-node-types lists them)",
    "num_cache_nodes": "the number of nodes (redis: 1; memcached: 1 to 20)",
    "port": "the port every node listens on (default 11211 memcached, 6379 redis, or the next free one)",
    "preferred_availability_zone": "the zone to put the nodes in",
    "preferred_availability_zones": "one zone per node, in order",
    "az_mode": "single-az or cross-az (memcached): spread the nodes over zones",
    "preferred_maintenance_window": "ddd:hh24:mi-ddd:hh24:mi, UTC, e.g. sun:05:00-sun:06:00",
    "auto_minor_version_upgrade": "apply minor engine upgrades in the maintenance window",
    "transit_encryption_enabled": "the nodes serve TLS (redis 7, memcached built with TLS), certificates from the fleet CA",
    "transit_encryption_mode": "preferred (TLS, and plaintext on PlaintextPort while clients move) or required (the default)",
    "at_rest_encryption_enabled": "redis: store its snapshots encrypted (S3 server-side encryption AES256; a local "
                                  "store: readable by the agents' user only)",
    "cache_parameter_group_name": "the parameter group the nodes run (default: the family's default group)",
    "cache_security_group_names": "the cache security groups whose ranges may connect (default: default)",
    # access keys (the Query API's SigV4 credentials)
    "role": "what the key may do: readonly, operator or admin (as a client certificate's role)",
    "access_key_id": "the access key's id (AKCF...)",
    # cache security groups
    "cache_security_group_name": "the cache security group's name",
    "auth_token": "redis: the password clients AUTH with, 16-128 printable characters, none of / \" @ "
                  "(needs --transit-encryption-enabled; kept only as its hash)",
    "auth_token_update_strategy": "ROTATE (the default: old and new token both valid), SET (only the new one, "
                                  "after a ROTATE) or DELETE (only with --user-group-ids-to-add)",
    "user_group_ids": "the user group whose users the members have (RBAC, instead of --auth-token)",
    "user_group_ids_to_add": "a user group whose users the members get (at most one in all)",
    "user_group_ids_to_remove": "a user group the members no longer use",
    "remove_user_groups": "remove every user group of the replication group",
    "user_id": "the user's id (letters, digits, hyphens; stored in lower case)",
    "user_name": "create-user: the name clients AUTH as (a user group needs one user named default); "
                 "create-access-key: who holds the key (events name its calls by it; default: its id)",
    "passwords": "one or two passwords of 16-128 printable characters (kept only as hashes)",
    "access_string": "redis ACL rules, e.g. \"on ~app:* +@read\" or \"on ~* &* +@all\"",
    "append_access_string": "rules added to the end of the user's access string",
    "no_password_required": "the user needs no password",
    "user_group_id": "the user group's id",
    "user_ids": "the users of the group (one of them named default)",
    "user_ids_to_add": "users added to the group",
    "user_ids_to_remove": "users removed from the group",
    "describe-cache-security-groups:cache_security_group_name": "describe only this group",
    "cidr_ip": "a CIDR range, e.g. 10.0.2.0/24 (cachefleet's stand-in for an EC2 security group)",
    "ec2_security_group_name": "not supported: there are no EC2 security groups here, use --cidr-ip",
    "ec2_security_group_owner_id": "not supported: there are no EC2 security groups here, use --cidr-ip",
    "notification_topic_arn": "an http(s) URL that gets every event as a JSON POST (\"\" removes it)",
    "notification_topic_status": "active or inactive",
    "snapshot_arns": "an RDB object to start from: s3://bucket/key, or local://path in the local snapshot store",
    "snapshot_name": "the snapshot's name",
    "snapshot_retention_limit": "days to keep automatic daily snapshots (0: none)",
    "snapshot_window": "hh24:mi-hh24:mi, UTC: when the daily snapshot starts",
    "show_cache_node_info": "include each node: id, status, endpoint, zone and host",
    "max_records": "records per page (20-100); given, only that page is printed",
    "marker": "the page after this Marker; given, only that page is printed",
    "cache_node_ids_to_remove": "the ids of the nodes to remove (as many as NumCacheNodes drops)",
    "apply_immediately": "apply now rather than in the next maintenance window",
    "new_availability_zones": "zones for the nodes being added",
    "cache_node_ids_to_reboot": "the ids of the nodes to reboot, e.g. 0001 0002",
    "final_snapshot_identifier": "snapshot the data under this name before deleting",
    "cache_node_id": "the node's id, e.g. 0001",
    # events and usage
    "source_identifier": "only events of this cluster, group or host",
    "source_type": "only events of cache-cluster, replication-group, cache-parameter-group, cache-security-group, host, "
                   "snapshot or alarm",
    "caller": "only events of this certificate's calls: its SPIFFE ID or the name at its end (the audit trail)",
    "start_time": "from this time: ISO 8601 (UTC when no zone is given) or epoch seconds",
    "end_time": "until this time: ISO 8601 (UTC when no zone is given) or epoch seconds",
    "duration": "minutes back from now (default 60)",
    # replication groups
    "replication_group_id": "the replication group's id",
    "describe-replication-groups:replication_group_id": "describe only this replication group",
    "create-snapshot:replication_group_id": "snapshot this replication group (a replica's data when it has one)",
    "describe-snapshots:replication_group_id": "only snapshots of this replication group",
    "replication_group_description": "a description of the group",
    "num_cache_clusters": "members in the group: the primary and its replicas (1 to 6)",
    "primary_cluster_id": "the member to make primary (modify: a planned switch), or a cluster to adopt",
    "automatic_failover_enabled": "promote a replica when the primary fails",
    "multi_az_enabled": "keep members in at least two zones",
    "preferred_cache_cluster_a_zs": "one zone per member, in order",
    "snapshotting_cluster_id": "the member automatic snapshots are taken from",
    "new_replica_count": "the number of replicas the group should have",
    "replicas_to_remove": "the member clusters to remove",
    "retain_primary_cluster": "keep the primary as a standalone cluster when deleting the group",
    "node_group_id": "the node group (shard) to fail over: 0001",
    # parameter groups
    "cache_parameter_group_family": "the family: the engine and its major.minor, e.g. redis7.0, memcached1.6",
    "default_only": "only the newest version of each engine",
    "description": "a description of the parameter group",
    "create-cache-security-group:description": "a description of the security group",
    "parameter_name_values": "ParameterName=x,ParameterValue=y, one word per parameter (up to 20)",
    "reset_all_parameters": "return every parameter to its default",
    "source": "only parameters from this source: user, engine-default or system",
    # snapshots
    "snapshot_source": "only manual or automated snapshots",
    "source_snapshot_name": "the snapshot to copy",
    "target_snapshot_name": "the copy's name",
    # metrics and alarms
    "metric_name": "a CloudWatch ElastiCache metric name, e.g. GetHits, CPUUtilization",
    "period": "seconds per datapoint: a multiple of 60",
    "statistics": "any of SampleCount Average Sum Minimum Maximum",
    "alarm_name": "the alarm's name",
    "alarm_description": "a description of the alarm",
    "statistic": "SampleCount, Average, Sum, Minimum or Maximum",
    "evaluation_periods": "how many recent periods are compared with the threshold",
    "threshold": "the value the statistic is compared with",
    "comparison_operator": "GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold, ...",
    "alarm_names": "the alarms' names",
    "alarm_name_prefix": "only alarms whose names start with this",
    "state_value": "only alarms in this state: OK, ALARM or INSUFFICIENT_DATA",
}


def option_help(verb: str, field: str) -> str | None:
    return OPTION_HELP.get(f"{verb}:{field}", OPTION_HELP.get(field))
