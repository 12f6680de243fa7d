"""Make the source tree importable without installation (cachefleet.v1 lives in proto/),
and the fixtures several test modules share."""
import os
import pathlib
import shutil
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "proto"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

_OWN_BASETEMP = pytest.StashKey[str]()


def pytest_configure(config):
    """As root, agents run engines as cachefleet-engine, which must pass through the temporary
    directories to the data directories under them: pytest's own parent (pytest-of-root) is
    0700 and every pytest session that starts sets it so again, so the session's temporary
    directory is one of its own in /tmp instead, searchable by others (0711, never listable)."""
    if os.geteuid() != 0:
        return
    from cachefleet.common.system_users import ensure_user
    ensure_user()
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="cachefleet-pytest-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp
    pytest.TempPathFactory.mktemp = _searchable_mktemp(pytest.TempPathFactory.mktemp)


def pytest_unconfigure(config):
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


def _searchable_mktemp(mktemp):
    """TempPathFactory.mktemp (tmp_path's source too), whose directories and the basetemp
    above them pytest makes 0700, made 0711: searchable, never listable, by other users."""
    def wrapper(self, basename, numbered=True):
        path = mktemp(self, basename, numbered)
        for directory in (self.getbasetemp(), path):
            directory.chmod(0o711)
        return path
    return wrapper


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


@pytest.fixture(scope="session")
def etcd(tmp_path_factory):
    """A real etcd with client and peer TLS, one for the whole run; each test keeps to a key prefix
    of its own (EtcdServer.store())."""
    from tests.helpers.etcd import EtcdCluster
    server = EtcdCluster(tmp_path_factory.mktemp("etcd"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
