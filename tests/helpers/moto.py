"""moto's standalone S3-compatible server as a child process on loopback, spoken to through
boto3 exactly as S3; killed by PID. The `moto` fixture (one per test module) is in conftest."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid

import boto3

from cachefleet.common.objectstore import make_store
from cachefleet.common.objectstore.s3 import S3Store
from tests.helpers.agent import free_port, port_open

HOST = "127.0.0.1"
CREDS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


class MotoServer:
    """moto's S3-compatible server as a child process; killed by PID."""

    def __init__(self, tmp: pathlib.Path) -> None:
        self.port = free_port(HOST)
        self.log = tmp / "moto.log"
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, deadline_s: float = 20) -> None:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + deadline_s
        while not port_open(HOST, self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto server not listening on {self.port} within {deadline_s}s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")


def s3_store(server: MotoServer, **options) -> tuple[S3Store, str]:
    """An S3Store on a new bucket of its own (prefix snapshots/cluster-1), and the bucket's name."""
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=bucket)
    store = make_store(f"s3://{bucket}/snapshots/cluster-1", endpoint_url=server.endpoint,
                       connect_timeout=1, read_timeout=5, max_attempts=2, **CREDS, **options)
    assert isinstance(store, S3Store)
    return store, bucket


def store_flags(name: str, url: str, endpoint: str, secrets_dir: pathlib.Path) -> list[str]:
    """The flags that give a daemon the S3 store `name` at url on endpoint, its keys in a
    shared-credentials file of its own (0600) as a real host keeps them: never in argv."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    credentials = secrets_dir / f"store-{name}.credentials"
    credentials.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    credentials.chmod(0o600)
    return ["--store", f"{name}={url}", "--store-endpoint", f"{name}={endpoint}",
            "--store-region", f"{name}=us-east-1", "--store-credentials", f"{name}={credentials}"]
