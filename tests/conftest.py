"""Make the source tree importable without installation (cachefleet.v1 lives in proto/),
and the fixtures several test modules share."""
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "proto"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto's S3 server, one per test module that asks for it."""
    from tests.helpers.moto import MotoServer
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def tiny_disk():
    """Mount 1 MiB tmpfs file systems (root only): call it with a directory; unmounted afterwards."""
    from tests.helpers.disks import TinyDisks
    disks = TinyDisks()
    yield disks.mount
    disks.unmount_all()
