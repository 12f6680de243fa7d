"""What the engines cannot tell us about their parameters: our own knowledge, by hand.

The catalogue (scripts/gen-parameter-catalog) takes every parameter, its engine
default, its type, its allowed values and whether it can change at runtime from the
engines themselves; this module adds what only we know: which parameters an operator
may change safely, the defaults cachefleet runs with where they differ from the
engine's, and for memcached (whose `-h` says little about types) the data type and
range of each parameter we let operators change. Keep it small: a name missing here
is shown, read-only, with what the engine says of it.
"""
from __future__ import annotations

# -- redis ------------------------------------------------------------------------------------

# Never changed through a parameter group: the agent owns where a node listens, runs, logs
# and where it persists (whether it does is `appendonly`'s, as ElastiCache had it), its role, its write fence (min-replicas-*) and the commands it drives it
# with; maxmemory comes from the node type (minus reserved-memory); auth, TLS, cluster mode
# and modules are not offered; and some would break what the agent relies on.
REDIS_NOT_MODIFIABLE = frozenset({
    "bind", "bind-source-addr", "port", "tls-port", "unixsocket", "unixsocketperm", "dir", "dbfilename",
    "logfile", "pidfile", "daemonize", "supervised", "include", "rename-command", "protected-mode",
    "replicaof", "slaveof", "replica-read-only", "replica-announce-ip", "replica-announce-port",
    "replica-announced", "replica-priority", "replica-ignore-maxmemory", "masterauth", "masteruser",
    "min-replicas-to-write", "min-replicas-max-lag",
    "maxmemory", "maxmemory-clients",
    "save", "appendfilename", "appenddirname", "repl-diskless-load",
    "requirepass", "aclfile", "acl-pubsub-default",
    "enable-debug-command", "enable-module-command", "enable-protected-configs",
    "shutdown-on-sigint", "shutdown-on-sigterm", "shutdown-timeout",
    "syslog-enabled", "syslog-ident", "syslog-facility", "always-show-logo", "crash-log-enabled",
    "crash-memcheck-enabled", "set-proc-title", "proc-title-template", "socket-mark-id",
    "oom-score-adj", "oom-score-adj-values", "disable-thp", "ignore-warnings",
    "server_cpulist", "bio_cpulist", "aof_rewrite_cpulist", "bgsave_cpulist",
})
REDIS_NOT_MODIFIABLE_PREFIXES = ("tls-", "cluster-")

# Old names redis 7 still answers to, beside the renames build.py drops by rule
# (slave* -> replica*, *-ziplist-* -> *-listpack-*): one value, two names.
REDIS_ALIASES = {"lua-time-limit": "busy-reply-threshold"}

# Strings an operator may change: a pattern values must match (the engine names the
# characters it takes in its own error message; {chars} is filled from it).
REDIS_STRING_PATTERNS = {
    "notify-keyspace-events": "^[{chars}]*$",
}

# cachefleet's defaults where they are not the engine's. The agent's command line sets these
# (nodeagent/engines/redis.py); a default group shows them. Only immediate or non-modifiable
# parameters may be here: a requires-reboot parameter a spec does not name runs its engine
# default at the next start.
REDIS_DEFAULTS = {
    "maxmemory-policy": "volatile-lru",        # ElastiCache's default: evict keys with a TTL
    "repl-diskless-sync-delay": "0",           # a full sync starts at once
    "save": "",                                # snapshots are taken on demand, not by redis
    "appendonly": "no",                        # a cache: a parameter group turns the AOF on
    "protected-mode": "no",                    # nodes listen on their host's address
    "daemonize": "no",
    "port": "6379",                            # the cluster's port, chosen at creation
    "bind": "",                                # the node's address
    "dir": "",                                 # the node's data directory
}

# Parameters the engine does not have and the coordinator applies itself.
RESERVED_MEMORY = {
    "name": "reserved-memory", "value": "0", "engine_default": "0",
    "description": "Bytes of the node type's memory kept from redis for replication buffers and "
                   "the operating system: maxmemory is the node's memory minus this.",
    "data_type": "integer", "allowed_values": "0-9223372036854775807", "modifiable": True,
    "change_type": "immediate", "source": "engine-default", "applies_to": "coordinator",
}

REDIS_DESCRIPTIONS = {
    "maxmemory-policy": "How redis selects what to remove when maxmemory is reached.",
    "maxmemory-samples": "Keys sampled by the LRU, LFU and TTL eviction policies.",
    "timeout": "Close a client connection idle for this many seconds (0: never).",
    "tcp-keepalive": "Seconds between TCP keepalives sent to clients (0: none).",
    "notify-keyspace-events": "Keyspace events redis notifies pub/sub clients of (e.g. Ex).",
    "databases": "Number of logical databases.",
    "io-threads": "Threads that write replies to clients (and read requests with io-threads-do-reads).",
    "maxclients": "Most clients connected at once.",
    "hz": "Background task frequency (expiring keys, closing idle clients), per second.",
    "slowlog-log-slower-than": "Log commands slower than this many microseconds (negative: none).",
    "slowlog-max-len": "Entries kept in the slow log.",
    "lua-time-limit": "Milliseconds a script may run before redis answers others with BUSY.",
    "activedefrag": "Defragment memory in the background.",
    "repl-backlog-size": "Bytes of replication backlog kept for replicas that reconnect.",
    "repl-timeout": "Seconds of silence after which a replication link is considered down.",
    "repl-diskless-sync-delay": "Seconds a primary waits for more replicas before a diskless full sync.",
    "client-query-buffer-limit": "Largest query buffer of one client, in bytes.",
    "proto-max-bulk-len": "Largest bulk string a request may carry, in bytes.",
    "appendonly": "Log every write to the append-only file, so that a restarted node reloads its data "
                  "(applied live: turning it on writes the file from what the node holds).",
    "appendfsync": "When the append-only file is flushed to disk: always (no acknowledged write lost "
                   "when the node dies), everysec (up to a second lost), no (the OS decides).",
}

# -- memcached --------------------------------------------------------------------------------

# The parameters operators may change (all at a reboot: memcached reads them at start), with
# their type, range, and where our command line differs from memcached's own default.
MEMCACHED_MODIFIABLE: dict[str, dict] = {
    "max_simultaneous_connections": {"data_type": "integer", "allowed_values": "10-65000",
                                     "value": "4096"},
    # at least slab_chunk_max (512 KiB), and at most half the node's memory (checked per cluster)
    "max_item_size": {"data_type": "integer", "allowed_values": "524288-134217728"},
    "chunk_size": {"data_type": "integer", "allowed_values": "1-1024"},
    "chunk_size_growth_factor": {"data_type": "float", "allowed_values": "1.01-2"},
    "backlog_queue_limit": {"data_type": "integer", "allowed_values": "1-10000"},
    "cas_disabled": {"data_type": "boolean", "allowed_values": "0,1"},
    "error_on_memory_exhausted": {"data_type": "boolean", "allowed_values": "0,1"},
    "lock_down_paged_memory": {"data_type": "boolean", "allowed_values": "0,1"},
    "large_memory_pages": {"data_type": "boolean", "allowed_values": "0,1"},
    "disable_flush_all": {"data_type": "boolean", "allowed_values": "0,1"},
    "disable_dumping": {"data_type": "boolean", "allowed_values": "0,1"},
    "binding_protocol": {"data_type": "string", "allowed_values": "ascii,binary,auto"},
    "num_threads": {"data_type": "integer", "allowed_values": "1-64"},
    "max_requests_per_event": {"data_type": "integer", "allowed_values": "1-1000"},
    "maxconns_fast": {"data_type": "boolean", "allowed_values": "0,1"},
    "hash_algorithm": {"data_type": "string", "allowed_values": "jenkins,murmur3,xxh3"},
    "lru_crawler": {"data_type": "boolean", "allowed_values": "0,1"},
    "lru_crawler_sleep": {"data_type": "integer", "allowed_values": "0-1000000"},
    "lru_crawler_tocrawl": {"data_type": "integer", "allowed_values": "0-4294967295"},
    "lru_maintainer": {"data_type": "boolean", "allowed_values": "0,1"},
    "hot_lru_pct": {"data_type": "integer", "allowed_values": "1-80"},
    "warm_lru_pct": {"data_type": "integer", "allowed_values": "1-80"},
    "hot_max_factor": {"data_type": "float", "allowed_values": "0-100"},
    "warm_max_factor": {"data_type": "float", "allowed_values": "0-100"},
    "temporary_ttl": {"data_type": "integer", "allowed_values": "0-2147483647"},
    "idle_timeout": {"data_type": "integer", "allowed_values": "0-86400"},
    "track_sizes": {"data_type": "boolean", "allowed_values": "0,1"},
    "read_buf_mem_limit": {"data_type": "integer", "allowed_values": "0-65536"},
    "watcher_logbuf_size": {"data_type": "integer", "allowed_values": "1-10240"},
    "worker_logbuf_size": {"data_type": "integer", "allowed_values": "1-10240"},
}

# Defaults `memcached -h` words so that they cannot be read as a value.
MEMCACHED_DEFAULTS = {
    "binding_protocol": "auto",            # "(default: auto-negotiate)"
    "max_item_size": "1048576",            # "(default: 1m, ...)"
    "memory_limit": "",                    # the node type's memory
    "port": "11211",
    "listen": "",                          # the node's address
    "udp_port": "0",
}
