"""A real one-member etcd (Debian's etcd-server) on loopback for the tests: client and peer TLS
from a fleet CA made for it, free ports, its data in a temporary directory (in memory where
/dev/shm exists: etcd fsyncs every write), killed by PID at the end."""
from __future__ import annotations

import asyncio
import pathlib
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field

from cachefleet.common.tls import fleetca
from cachefleet.common.tls.files import CredentialFiles
from cachefleet.common.tls.identity import Identity
from coordinator.state.store.etcd import EtcdStore
from coordinator.state.store.etcdclient import EtcdClient
from tests.helpers.fleet import free_port, kill_pid, wait_for

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


@dataclass
class EtcdServer:
    root: pathlib.Path
    tls: CredentialFiles = field(init=False)      # a coordinator's certificate: etcd's and its clients'
    endpoint: str = ""
    peer_port: int = 0
    _process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ca = fleetca.init_ca(self.root / "ca")
        self.tls = fleetca.write_issued(ca.issue(Identity.coordinator("c1"), ["127.0.0.1"]), ca, self.root / "c1")
        client_port, self.peer_port = free_port(), free_port()
        self.endpoint = f"127.0.0.1:{client_port}"
        memory = pathlib.Path("/dev/shm")
        data = pathlib.Path(tempfile.mkdtemp(prefix="cachefleet-etcd-", dir=memory if memory.is_dir() else self.root))
        self._data = data
        peer = f"https://127.0.0.1:{self.peer_port}"
        tls = [str(self.tls.cert), str(self.tls.key), str(self.tls.ca)]
        argv = [ETCD, "--name", "e0", "--data-dir", str(data / "e0"),
                "--listen-client-urls", f"https://{self.endpoint}", "--advertise-client-urls", f"https://{self.endpoint}",
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"e0={peer}", "--initial-cluster-state", "new",
                "--cert-file", tls[0], "--key-file", tls[1], "--trusted-ca-file", tls[2], "--client-cert-auth",
                "--peer-cert-file", tls[0], "--peer-key-file", tls[1], "--peer-trusted-ca-file", tls[2],
                "--peer-client-cert-auth", "--logger", "zap", "--log-level", "warn"]
        log = (self.root / "etcd.log").open("ab")
        self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.ready, 15, interval=0.05, what=f"etcd on {self.endpoint} (log: {self.root / 'etcd.log'})")

    def ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise AssertionError(f"etcd exited {self._process.returncode}: {(self.root / 'etcd.log').read_text()}")
        return asyncio.run(self._answers())

    async def _answers(self) -> bool:
        store = self.store()
        try:
            await store.get("ready")
            return True
        finally:
            await store.close()

    def client(self, timeout: float = 5.0) -> EtcdClient:
        """A client with the fleet certificate; made inside the event loop that uses it."""
        return EtcdClient([self.endpoint], tls=self.tls, timeout=timeout)

    def store(self, prefix: str | None = None) -> EtcdStore:
        """A store under its own prefix (a new one when not given): tests never see each other's keys."""
        return EtcdStore(self.client(), prefix=prefix or f"/test/{uuid.uuid4().hex}/")

    def stop(self) -> None:
        if self._process is not None:
            kill_pid(self._process.pid)
            self._process.wait(timeout=10)
            self._process = None
        shutil.rmtree(self._data, ignore_errors=True)
