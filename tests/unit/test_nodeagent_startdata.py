"""What a redis start loads and when it was saved, and when the engine last took a write:
the RDB head, the files redis picks, the agent's notes in the data directory (no engine runs
here; test_restart_e2e.py has real ones)."""
from __future__ import annotations

import json
import os
import pathlib
import struct

from cachefleet.v1 import node_agent_pb2 as pb

from nodeagent.engines import ENGINES, ProbeResult
from nodeagent.engines import rdb
from nodeagent.engines.base import DataState
from nodeagent.engines.redis import replication_info, seed_aof, start_data
from nodeagent.layout import StateDir
from nodeagent.startdata import LAST_WRITE_FILE, DataHistory
from tests.helpers.clock import HandClock

CTIME = 1_767_323_045     # 2026-01-02 03:04:05 UTC


def string(text: str) -> bytes:
    return bytes([len(text)]) + text.encode()


def rdb_head(ctime: int = CTIME) -> bytes:
    """The head redis 7 writes: magic, version, AUX records (ctime as a 32-bit integer), then keys."""
    aux = [(string("redis-ver"), string("7.0.15")), (string("redis-bits"), bytes([0xC0, 64])),
           (string("ctime"), bytes([0xC2]) + struct.pack("<i", ctime)),
           (string("repl-id"), string("a" * 40)), (string("repl-offset"), bytes([0xC1]) + struct.pack("<h", 700))]
    return b"REDIS0010" + b"".join(bytes([rdb.OP_AUX]) + name + value for name, value in aux) + b"\xfe\x00\xfb\x01\x00"


def set_mtime(path: pathlib.Path, unix_ms: int) -> None:
    os.utime(path, ns=(unix_ms * 1_000_000, unix_ms * 1_000_000))


def test_the_rdb_head_gives_its_aux_fields_and_when_its_picture_was_taken(tmp_path):
    path = tmp_path / "dump.rdb"
    path.write_bytes(rdb_head())
    assert rdb.aux_fields(path) == {"redis-ver": "7.0.15", "redis-bits": "64", "ctime": str(CTIME),
                                    "repl-id": "a" * 40, "repl-offset": "700"}
    assert rdb.created_unix_ms(path) == CTIME * 1000


def test_a_file_that_is_no_rdb_or_is_cut_short_gives_what_could_be_read(tmp_path):
    other = tmp_path / "other"
    other.write_bytes(b"*2\r\n$6\r\nSELECT\r\n")
    assert rdb.aux_fields(other) == {} and rdb.created_unix_ms(other) is None
    cut = tmp_path / "cut.rdb"
    cut.write_bytes(rdb_head()[:45])     # inside the ctime record
    assert rdb.aux_fields(cut) == {"redis-ver": "7.0.15", "redis-bits": "64"}
    assert rdb.aux_fields(tmp_path / "missing.rdb") == {}


def test_without_appendonly_a_start_loads_dump_rdb_saved_when_its_fork_took_the_picture(tmp_path):
    (tmp_path / "dump.rdb").write_bytes(rdb_head())
    (tmp_path / "appendonly.aof").write_bytes(b"*1\r\n$4\r\nPING\r\n")     # ignored without appendonly
    assert start_data(tmp_path, appendonly=False) == pb.StartData(source=pb.DATA_SOURCE_RDB,
                                                                  saved_unix_ms=CTIME * 1000)


def test_an_rdb_without_a_ctime_is_dated_by_its_mtime(tmp_path):
    dump = tmp_path / "dump.rdb"
    dump.write_bytes(b"REDIS0009\xfe\x00")
    set_mtime(dump, 1_700_000_000_123)
    assert start_data(tmp_path, appendonly=False).saved_unix_ms == 1_700_000_000_123


def test_with_appendonly_a_start_loads_the_aof_its_manifest_lists_saved_at_its_last_write(tmp_path):
    aof = tmp_path / "appendonlydir"
    aof.mkdir()
    (aof / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n")
    for name, at in (("appendonly.aof.2.base.rdb", 1_000), ("appendonly.aof.2.incr.aof", 5_000),
                     ("appendonly.aof.1.incr.aof", 9_000)):          # a history file: not loaded
        (aof / name).write_bytes(b"x")
        set_mtime(aof / name, 1_700_000_000_000 + at)
    (tmp_path / "dump.rdb").write_bytes(rdb_head())
    assert start_data(tmp_path, appendonly=True) == pb.StartData(source=pb.DATA_SOURCE_AOF,
                                                                 saved_unix_ms=1_700_000_005_000)


def test_an_empty_incremental_file_made_at_a_start_does_not_make_the_aof_look_fresher(tmp_path):
    aof = tmp_path / "appendonlydir"
    aof.mkdir()
    (aof / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n")
    (aof / "appendonly.aof.1.base.rdb").write_bytes(rdb_head())
    set_mtime(aof / "appendonly.aof.1.base.rdb", 1_700_000_000_000)
    (aof / "appendonly.aof.2.incr.aof").write_bytes(b"")
    assert start_data(tmp_path, appendonly=True).saved_unix_ms == 1_700_000_000_000


def test_a_start_that_will_seed_the_aof_loads_the_rdb_and_the_seed_keeps_its_age(tmp_path):
    dump = tmp_path / "dump.rdb"
    dump.write_bytes(rdb_head())
    set_mtime(dump, 1_700_000_000_000)
    assert start_data(tmp_path, appendonly=True).source == pb.DATA_SOURCE_RDB
    assert seed_aof(tmp_path)
    assert start_data(tmp_path, appendonly=True) == pb.StartData(source=pb.DATA_SOURCE_AOF,
                                                                 saved_unix_ms=1_700_000_000_000)


def test_with_no_data_file_a_start_is_empty(tmp_path):
    assert start_data(tmp_path, appendonly=True) == pb.StartData(source=pb.DATA_SOURCE_EMPTY)


def test_a_replica_never_linked_since_its_start_says_so_in_both_redis_dialects():
    def info(**fields: str) -> pb.ReplicationInfo:
        return replication_info({"role": "slave", "uptime_in_seconds": "40", **fields})
    assert not info(master_link_status="down", master_link_down_since_seconds="-1").linked_since_start
    assert not info(master_link_status="down", master_link_down_since_seconds="1796454847").linked_since_start
    assert info(master_link_status="down", master_link_down_since_seconds="12").linked_since_start
    assert info(master_link_status="up").linked_since_start
    assert not replication_info({"role": "master"}).linked_since_start


def test_a_primary_reports_the_replicas_it_counts_online_and_a_replica_reports_none():
    primary = replication_info({"role": "master", "connected_slaves": "2",
                                "slave0": "ip=10.0.0.2,port=6379,state=online,offset=90,lag=0",
                                "slave1": "ip=10.0.0.3,port=6379,state=wait_bgsave,offset=0,lag=0"})
    assert primary.HasField("online_replicas") and primary.online_replicas == 1
    assert not replication_info({"role": "slave", "master_link_status": "up"}).HasField("online_replicas")


def probe(run_id: str, changes: int, keys: int, ok: bool = True) -> ProbeResult:
    return ProbeResult(ok=ok, answered=ok, replication=pb.ReplicationInfo(run_id=run_id),
                       data=DataState(aof_enabled=False, keys=keys, changes=changes))


def history(tmp_path: pathlib.Path, clock: HandClock) -> tuple[DataHistory, pathlib.Path]:
    state = StateDir.at(tmp_path)
    state.data_dir("n").mkdir(parents=True)
    return DataHistory(state, clock=lambda: 1_700_000_000 + clock.now, monotonic=clock), state.data_dir("n")


def last_write(data_dir: pathlib.Path) -> dict | None:
    path = data_dir / LAST_WRITE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def test_a_write_is_noted_when_the_counter_or_the_keys_move_and_written_down_at_most_once_a_second(tmp_path):
    clock = HandClock()
    notes, data_dir = history(tmp_path, clock)
    notes.observe("n", probe("r1", 0, 0))
    notes.observe("n", probe("r1", 0, 0))
    assert last_write(data_dir) is None                       # nothing moved
    notes.observe("n", probe("r1", 3, 3))
    assert last_write(data_dir) == {"unix_ms": 1_700_000_100_000, "keys": 3}
    clock.now += 0.2
    notes.observe("n", probe("r1", 5, 5))
    assert last_write(data_dir)["keys"] == 3                  # within the second: kept for later
    clock.now += 0.9
    notes.observe("n", probe("r1", 5, 5))
    assert last_write(data_dir) == {"unix_ms": 1_700_000_100_200, "keys": 5}


def test_the_last_write_is_written_down_at_once_when_the_engine_goes(tmp_path):
    clock = HandClock()
    notes, data_dir = history(tmp_path, clock)
    notes.observe("n", probe("r1", 0, 0))
    notes.observe("n", probe("r1", 1, 1))
    clock.now += 0.1
    notes.observe("n", probe("r1", 2, 2))
    notes.observe("n", probe("", 0, 0, ok=False))
    assert last_write(data_dir)["keys"] == 2


def test_a_new_process_is_no_write(tmp_path):
    clock = HandClock()
    notes, data_dir = history(tmp_path, clock)
    notes.observe("n", probe("r1", 7, 7))
    notes.observe("n", probe("r2", 0, 0))
    assert last_write(data_dir) is None


def test_a_start_notes_what_it_loads_with_the_last_write_before_and_a_restarted_agent_reads_it_back(tmp_path):
    clock = HandClock()
    notes, data_dir = history(tmp_path, clock)
    (data_dir / "dump.rdb").write_bytes(rdb_head())
    (data_dir / LAST_WRITE_FILE).write_text(json.dumps({"unix_ms": CTIME * 1000 + 9000, "keys": 12}))
    spec = pb.NodeSpec(node_key="n", engine="redis")
    expected = pb.StartData(source=pb.DATA_SOURCE_RDB, saved_unix_ms=CTIME * 1000,
                            last_write_unix_ms=CTIME * 1000 + 9000, last_write_keys=12)
    assert notes.record_start(spec, ENGINES["redis"]) == expected
    assert DataHistory(StateDir.at(tmp_path)).last_start("n") == expected
    assert notes.record_start(pb.NodeSpec(node_key="n", engine="memcached"), ENGINES["memcached"]) is None
