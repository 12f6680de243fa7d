"""A real etcd (Debian's etcd-server) of one or more members on loopback for the tests: client
and peer TLS from a fleet CA made for it, free ports, data in a temporary directory (in memory
where /dev/shm exists: etcd fsyncs every write), every member killed by PID at the end."""
from __future__ import annotations

import asyncio
import pathlib
import shutil
import subprocess
import tempfile
import uuid

from cachefleet.common.tls import fleetca
from cachefleet.common.tls.files import CredentialFiles
from cachefleet.common.tls.identity import Identity
from cachefleet.etcd import rpc_pb2
from coordinator.state.store.etcd import EtcdStore
from coordinator.state.store.etcdclient import EtcdClient
from tests.helpers.fleet import free_port, kill_pid, wait_for

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class EtcdCluster:
    def __init__(self, root: pathlib.Path, size: int = 1) -> None:
        self.root = root
        self.size = size
        self.endpoints: list[str] = []
        self.processes: list[subprocess.Popen[bytes] | None] = []
        self.tls: CredentialFiles | None = None   # a coordinator's certificate: the members' and the clients'
        memory = pathlib.Path("/dev/shm")
        self._data = pathlib.Path(tempfile.mkdtemp(prefix="cachefleet-etcd-",
                                                   dir=memory if memory.is_dir() else root))

    @property
    def endpoint(self) -> str:
        return self.endpoints[0]

    def start(self) -> None:
        ca = fleetca.init_ca(self.root / "ca")
        self.tls = fleetca.write_issued(ca.issue(Identity.coordinator("c1"), ["127.0.0.1"]), ca, self.root / "c1")
        ports = [(free_port(), free_port()) for _ in range(self.size)]
        self.endpoints = [f"127.0.0.1:{client}" for client, _ in ports]
        members = ",".join(f"e{i}=https://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
        cert, key, trusted = str(self.tls.cert), str(self.tls.key), str(self.tls.ca)
        for i, (client, peer) in enumerate(ports):
            argv = [ETCD, "--name", f"e{i}", "--data-dir", str(self._data / f"e{i}"),
                    "--listen-client-urls", f"https://127.0.0.1:{client}",
                    "--advertise-client-urls", f"https://127.0.0.1:{client}",
                    "--listen-peer-urls", f"https://127.0.0.1:{peer}",
                    "--initial-advertise-peer-urls", f"https://127.0.0.1:{peer}",
                    "--initial-cluster", members, "--initial-cluster-state", "new",
                    "--cert-file", cert, "--key-file", key, "--trusted-ca-file", trusted, "--client-cert-auth",
                    "--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", trusted,
                    "--peer-client-cert-auth", "--logger", "zap", "--log-level", "warn"]
            log = (self.root / f"e{i}.log").open("ab")
            self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        for i in range(self.size):
            wait_for(lambda: self._answers(i), 15, interval=0.05,
                     what=f"etcd member e{i} on {self.endpoints[i]} (log: {self.root / f'e{i}.log'})")

    def _answers(self, i: int) -> bool:
        process = self.processes[i]
        if process is not None and process.poll() is not None:
            raise AssertionError(f"etcd e{i} exited {process.returncode}: {(self.root / f'e{i}.log').read_text()}")
        return asyncio.run(self.status(i)) is not None

    async def status(self, i: int) -> rpc_pb2.StatusResponse:
        """Member i's own view (its id in the header, the raft leader's id)."""
        client = EtcdClient([self.endpoints[i]], tls=self.tls, timeout=2)
        try:
            await client.call("KV", "Range", rpc_pb2.RangeRequest(key=b"ready"), read=True)   # has a quorum
            return await client.call("Maintenance", "Status", rpc_pb2.StatusRequest(), read=True)
        finally:
            await client.close()

    def client(self, endpoints: list[str] | None = None, timeout: float = 5.0) -> EtcdClient:
        """A client with the fleet certificate; made inside the event loop that uses it."""
        return EtcdClient(endpoints or self.endpoints, tls=self.tls, timeout=timeout)

    def store(self, prefix: str | None = None) -> EtcdStore:
        """A store under its own prefix (a new one when not given): tests never see each other's keys."""
        return EtcdStore(self.client(), prefix=prefix or f"/test/{uuid.uuid4().hex}/")

    def kill(self, i: int) -> None:
        """SIGKILL member i (by its PID)."""
        process = self.processes[i]
        if process is not None:
            kill_pid(process.pid)
            process.wait(timeout=10)
            self.processes[i] = None

    def stop(self) -> None:
        for i in range(len(self.processes)):
            self.kill(i)
        shutil.rmtree(self._data, ignore_errors=True)
