"""Keeping a removed node's data: its data directory is moved aside, never deleted on suspicion.

The coordinator removes a node for reasons that may be wrong (a host it thought lost comes
back holding the only copy of a standalone node's keys), so unless the removal says the
user asked for the data to go (discard_data), a data directory that holds data files is
renamed to <state>/set-aside/<node_key>-<UTC time>/: one rename on the same filesystem,
instant whatever its size. An operator looks at it and removes it (rm -r) when sure.
"""
from __future__ import annotations

import datetime
import os
import pathlib
import shutil

import structlog

from nodeagent.engines.redis import AOF_DIR, AOF_FILE, RDB_FILE
from nodeagent.layout import StateDir

log = structlog.get_logger("nodeagent.setaside")



def holds_data(data_dir: pathlib.Path) -> bool:
    """Whether data_dir has anything an engine loads its keys from at start: redis's RDB file
    (BGSAVE, SAVE, a replica's full sync, a restore) or its append-only file."""
    if (data_dir / RDB_FILE).is_file():
        return True
    aof_dir = data_dir / AOF_DIR
    if aof_dir.is_dir() and any(aof_dir.iterdir()):
        return True
    return any(data_dir.glob(f"{AOF_FILE}*"))


def aside_path(state: StateDir, node_key: str, now: datetime.datetime | None = None) -> pathlib.Path:
    """A new directory name under set-aside/ for node_key (never one that exists)."""
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = state.set_aside_root / f"{node_key}-{stamp}"
    suffix = 1
    while target.exists():     # set aside twice within one second: never over what was kept
        suffix += 1
        target = state.set_aside_root / f"{node_key}-{stamp}-{suffix}"
    return target


def set_aside_files(state: StateDir, node_key: str, paths: list[pathlib.Path], why: str) -> str:
    """Move some of a node's files (not its whole directory) aside; returns where ("": none)."""
    present = [p for p in paths if p.exists()]
    if not present:
        return ""
    target = aside_path(state, node_key)
    target.mkdir(parents=True)
    for path in present:
        os.rename(path, target / path.name)
    log.warning("node files set aside, not deleted", node_key=node_key, path=str(target),
                files=[p.name for p in present], why=why)
    return str(target)


def remove_data(state: StateDir, node_key: str, discard: bool, keeps_data: bool,
                now: datetime.datetime | None = None) -> str:
    """Delete node_key's data directory, or move it aside; returns where it went ("": deleted).

    keeps_data: the node's engine persists keys (redis); a memcached node's directory holds
    only what the agent wrote, and goes.
    """
    data = state.data_dir(node_key)
    if not data.exists():
        return ""
    if discard or not keeps_data or not holds_data(data):
        shutil.rmtree(data, ignore_errors=True)
        return ""
    state.set_aside_root.mkdir(parents=True, exist_ok=True)
    target = aside_path(state, node_key, now)
    os.rename(data, target)
    log.warning("node data set aside, not deleted", node_key=node_key, path=str(target))
    return str(target)
