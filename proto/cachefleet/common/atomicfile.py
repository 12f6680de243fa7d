"""Replacing a file so that no reader, and no crash, ever leaves half of it."""
from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile


def write_atomically(path: pathlib.Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace path with data: a temporary file in the same directory, given `mode` before
    anything is written (a private key is never readable by others, not even for a moment),
    fsynced, renamed into place, then the directory fsynced so the rename survives a crash."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
