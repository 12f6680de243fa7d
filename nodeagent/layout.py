"""Where everything the agent owns lives under its state directory.

One place names every path so that the agent, supervisord's config and the
test harness (and `cachefleet up`) agree on them.
"""
from __future__ import annotations

import os
import pathlib
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class StateDir:
    """The agent's state directory; paths only, creates nothing until ensure()."""

    root: pathlib.Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> StateDir:
        return cls(pathlib.Path(path).resolve())

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

    def program_conf(self, node_key: str) -> pathlib.Path:
        return self.programs_dir / f"{node_key}.conf"

    def engine_log(self, node_key: str) -> pathlib.Path:
        return self.logs_dir / f"{node_key}.log"

    def data_dir(self, node_key: str) -> pathlib.Path:
        return self.data_root / node_key

    def spec_file(self, node_key: str) -> pathlib.Path:
        return self.nodes_dir / f"{node_key}.json"

    def ensure(self) -> None:
        """Create the directories (idempotent)."""
        for path in (self.root, self.programs_dir, self.logs_dir, self.data_root, self.nodes_dir):
            path.mkdir(parents=True, exist_ok=True)


def write_atomic(path: pathlib.Path, text: str) -> bool:
    """Replace path's content with text in one rename; return whether it changed.

    A reader (supervisord, a restarted agent) never sees a half-written file, and
    an unchanged file is not touched, so reloadConfig sees no change.
    """
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
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
