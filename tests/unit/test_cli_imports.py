"""What a `cachefleet describe-cache-clusters` loads: grpc, protobuf and the CLI's own modules,
nothing of the server and none of the libraries that made every call cost a third of a second
before it sent anything (structlog's set-up, cryptography, boto3, the generated stubs).

In-process: the CLI's modules are loaded afresh, the heavy ones are hidden (an import of one is
recorded and refused, not performed: cryptography's native module cannot load twice), the call
runs to its end (nothing listens: it fails to connect), and every module is put back as it was.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import socket
import sys
from collections.abc import Iterator

import pytest

from cachefleet.common.tls.localfleet import provision

# Module prefixes the describe path must not import (each, or any module below it).
HEAVY = (
    "structlog", "cryptography", "boto3", "botocore", "aiohttp", "psutil", "jmespath", "yaml", "supervisor",
    "cachefleet.common.tls.credentials", "cachefleet.common.tls.localfleet", "cachefleet.common.tls.fleetca",
    "cachefleet.common.logs", "cachefleet.v1.cache_control_pb2_grpc", "cachefleet.v1.cache_watch_pb2_grpc",
    "cachefleet.v1.node_agent_pb2", "cachefleet.etcd", "nodeagent",
    "coordinator.api", "coordinator.queryapi", "coordinator.reconcile", "coordinator.state", "coordinator.domain",
    "coordinator.dns", "coordinator.metrics", "coordinator.parameters", "coordinator.snapshots",
    "coordinator.notifications", "coordinator.server", "coordinator.main", "coordinator.up",
    "coordinator.cli.top", "coordinator.cli.ca", "coordinator.cli.statestore", "coordinator.cli.follow",
)
FRESH = ("coordinator", "cachefleet.common.tls")   # loaded again for the call, so that their imports run


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class _Refuse(importlib.abc.MetaPathFinder):
    """Records and refuses every heavy import."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(self, name, path=None, target=None):   # noqa: ANN001 - the finder protocol's signature
        if _under(name, HEAVY):
            self.asked.append(name)
            raise ImportError(f"{name} is heavy: the describe path must not import it")
        return None


@contextlib.contextmanager
def fresh_cli() -> Iterator[_Refuse]:
    kept = dict(sys.modules)
    for name in [n for n in sys.modules if _under(n, HEAVY + FRESH)]:
        del sys.modules[name]
    refuse = _Refuse()
    sys.meta_path.insert(0, refuse)
    try:
        yield refuse
    finally:
        sys.meta_path.remove(refuse)
        sys.modules.clear()
        sys.modules.update(kept)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("insecure", [False, True], ids=["mtls", "plaintext"])
def test_a_describe_imports_neither_the_server_nor_the_heavy_libraries(tmp_path, monkeypatch, capsys, insecure):
    provision(tmp_path / "ca", coordinator_sans=["127.0.0.1"], hosts={})   # the admin certificate `up` makes
    for name in ("CACHEFLEET_INSECURE", "CACHEFLEET_CA_CERT", "CACHEFLEET_CERT", "CACHEFLEET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CACHEFLEET_STATE_DIR", str(tmp_path))
    argv = ["describe-cache-clusters", "--cache-cluster-id", "c1", "--show-cache-node-info",
            "--endpoint", f"127.0.0.1:{closed_port()}", "--cli-read-timeout", "5"] + ["--insecure"] * insecure
    with fresh_cli() as refused:
        from coordinator.cli import main as cli
        code = cli.main(argv)
        loaded = set(sys.modules)
    assert refused.asked == []
    assert code == 255 and "Could not connect" in capsys.readouterr().err
    assert {"grpc", "coordinator.cli.main", "cachefleet.common.tls.files"} <= loaded
