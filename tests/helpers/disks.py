"""Small file systems a test can fill: 1 MiB tmpfs mounts (root only), unmounted afterwards.
The `tiny_disk` fixture (conftest) hands out `TinyDisks.mount`."""
from __future__ import annotations

import pathlib
import subprocess

import pytest


class TinyDisks:
    def __init__(self, size: str = "1m") -> None:
        self.size = size
        self.mounted: list[str] = []

    def mount(self, path: pathlib.Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(path)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        self.mounted.append(str(path))

    def unmount_all(self) -> None:
        for path in reversed(self.mounted):
            subprocess.run(["umount", "-l", path], check=False)
        self.mounted.clear()
