"""Where everything the agent owns lives under its state directory.

One place names every path so that the agent, supervisord's config and the
test harness (and `cachefleet up`) agree on them, and one place says who may touch each.

With an engine user (engineuser.py) the engines share only their data directories with the
agent: each is the agent's, group the engine's, mode 2770 (setgid: whatever either side
creates in it stays in the engine's group, so the agent reads dump.rdb and the engine its
parameters.conf). The rest stays the agent's: programs/ and nodes/ 0750, its files 0600 or
0640 (write_atomic), without the engine's group. The root is 0771 (the engine passes through
it to data/, 2710; supervisord, in the agent's group, writes its socket, pid and log there,
and logs/ is 0770 for the engines' output it writes).
"""
from __future__ import annotations

import os
import pathlib
import stat
import tempfile
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class StateDir:
    """The agent's state directory; paths only, creates nothing until ensure().

    engine_gid: the engine user's group, with whom data directories are shared (None: engines
    run as the agent's uid, and modes are left to the umask)."""

    root: pathlib.Path
    engine_gid: int | None = None

    @classmethod
    def at(cls, path: str | os.PathLike[str], engine_gid: int | None = None) -> StateDir:
        return cls(pathlib.Path(path).resolve(), engine_gid)

    @property
    def supervisord_conf(self) -> pathlib.Path:
        return self.root / "supervisord.conf"

    @property
    def supervisor_sock(self) -> pathlib.Path:
        return self.root / "supervisor.sock"

    @property
    def supervisord_pid(self) -> pathlib.Path:
        return self.root / "supervisord.pid"

    @property
    def supervisord_log(self) -> pathlib.Path:
        return self.root / "supervisord.log"

    @property
    def programs_dir(self) -> pathlib.Path:
        return self.root / "programs"

    @property
    def logs_dir(self) -> pathlib.Path:
        return self.root / "logs"

    @property
    def data_root(self) -> pathlib.Path:
        return self.root / "data"

    @property
    def set_aside_root(self) -> pathlib.Path:
        """Data directories of removed nodes kept instead of deleted (see setaside.py)."""
        return self.root / "set-aside"

    @property
    def nodes_dir(self) -> pathlib.Path:
        return self.root / "nodes"

    @property
    def agent_info(self) -> pathlib.Path:
        """Written by a running agent: its pid and the endpoint it really bound."""
        return self.root / "agent.json"

    @property
    def lease_file(self) -> pathlib.Path:
        """The write lease the coordinator granted this host (see lease.py)."""
        return self.root / "lease.json"

    @property
    def epoch_file(self) -> pathlib.Path:
        """The highest leader epoch this host has seen (see epoch.py)."""
        return self.root / "leader-epoch.json"

    def program_conf(self, node_key: str) -> pathlib.Path:
        return self.programs_dir / f"{node_key}.conf"

    def engine_log(self, node_key: str) -> pathlib.Path:
        return self.logs_dir / f"{node_key}.log"

    def data_dir(self, node_key: str) -> pathlib.Path:
        return self.data_root / node_key

    def spec_file(self, node_key: str) -> pathlib.Path:
        return self.nodes_dir / f"{node_key}.json"

    def ensure(self) -> None:
        """Create the directories (idempotent), with their modes when engines run apart."""
        for path in (self.root, self.programs_dir, self.logs_dir, self.data_root, self.nodes_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.engine_gid is None:
            return
        for path, mode in ((self.root, 0o771), (self.programs_dir, 0o750), (self.nodes_dir, 0o750),
                           (self.logs_dir, 0o770)):
            path.chmod(mode)
        if self.set_aside_root.exists():
            self.set_aside_root.chmod(0o750)
        _share(self.data_root, self.engine_gid, 0o2710)
        for data in self.data_root.iterdir():
            if data.is_dir() and not data.is_symlink() and data.stat().st_gid != self.engine_gid:
                _adopt(data, self.engine_gid)

    def make_data_dir(self, node_key: str) -> pathlib.Path:
        """The node's data directory, created if missing, shared with the engine (see above)."""
        path = self.data_dir(node_key)
        path.mkdir(parents=True, exist_ok=True)
        if self.engine_gid is not None:
            _share(path, self.engine_gid, 0o2770)
        return path


def _adopt(path: pathlib.Path, gid: int) -> None:
    """A data directory from before engines ran apart (its files the agent's, or root's): give
    all in it to the engine's group, readable and writable (redis 6 appends to its AOF in place),
    then share it. Links are left as they are."""
    for directory, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            child = os.path.join(directory, name)
            now = os.lstat(child)
            if stat.S_ISLNK(now.st_mode):
                continue
            if now.st_gid != gid:
                os.chown(child, -1, gid, follow_symlinks=False)
            wanted = stat.S_IMODE(now.st_mode) | (0o070 if stat.S_ISDIR(now.st_mode) else 0o060)
            if wanted != stat.S_IMODE(now.st_mode):
                os.chmod(child, wanted & ~stat.S_ISGID)
    _share(path, gid, 0o2770)


def _share(path: pathlib.Path, gid: int, mode: int) -> None:
    """Give directory path to group gid with mode, touching only what differs (the agent,
    a member of the group, may chgrp what it owns; a call that changes nothing is not made)."""
    now = path.stat()
    if now.st_gid != gid:
        os.chown(path, -1, gid)
    if stat.S_IMODE(now.st_mode) != mode or now.st_gid != gid:   # chgrp clears the setgid bit
        path.chmod(mode)


def write_atomic(path: pathlib.Path, text: str, mode: int = 0o600) -> bool:
    """Replace path's content with text in one rename; return whether it changed.

    A reader (supervisord, a restarted agent) never sees a half-written file, and
    an unchanged file is not touched, so reloadConfig sees no change. mode: 0600 for the
    agent's own notes, 0640 for what its group reads (supervisord: its config and programs;
    an engine: the files in its data directory).
    """
    try:
        # a link (an engine may put one in its data directory) is replaced, never read or chmod'ed
        if not path.is_symlink() and path.read_text() == text:
            if stat.S_IMODE(path.stat().st_mode) != mode:     # written before modes mattered
                path.chmod(mode)
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            if mode != 0o600:       # mkstemp's
                os.fchmod(handle.fileno(), mode)
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return True


def tail(path: pathlib.Path, lines: int, max_bytes: int = 4096) -> str:
    """The last distinct non-empty lines of a log file, joined with ' | ' ('' when there is none).

    Distinct: an engine retried by supervisord writes the same error again and again.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - max_bytes))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    kept: list[str] = []
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line and line not in kept:
            kept.insert(0, line)
            if len(kept) == lines:
                break
    return " | ".join(kept)


def open_in_data_dir(path: pathlib.Path, write: bool = False, mode: int = 0o640) -> BinaryIO:
    """Open a file of a data directory the engine can write, never through a link it put there
    (else the agent could be made to overwrite, or upload, a file of its own). write: a new
    file, replacing whatever had the name."""
    if not write:
        return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    os.fchmod(fd, mode)     # not narrowed by the umask: the engine's group must have it
    return os.fdopen(fd, "wb", buffering=0)
