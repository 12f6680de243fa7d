"""A real BIND ``named`` for tests: one primary zone that accepts TSIG-signed updates.

Everything named writes (config, zone, journal, pid, session key, managed keys, lock)
lives in one private directory, so the tests run the same on a fresh Debian box where
``apt-get install bind9`` just ran (the packaged service need not run, and we never
touch /etc/bind or /var/cache/bind). The one exception is AppArmor: Debian's profile
for /usr/sbin/named denies it every path outside /etc/bind, /var/lib/bind and
/var/cache/bind, so when that profile is enforced the directory is made under
/var/cache/bind instead of the pytest temp dir (and removed afterwards).

named runs in the foreground (``-g``, log to stderr captured in ``named.log``), is
stopped by its PID at teardown, and its log is shown when it fails to start.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import pathlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

NAMED = "/usr/sbin/named"
ZONE = "cachefleet.test"
KEY_NAME = "cachefleet-test-key"
ALGORITHM = "hmac-sha256"
START_DEADLINE_S = 15.0
STOP_DEADLINE_S = 5.0
APPARMOR_PROFILES = pathlib.Path("/sys/kernel/security/apparmor/profiles")
APPARMOR_ALLOWED_DIR = pathlib.Path("/var/cache/bind")


@dataclasses.dataclass(frozen=True)
class NamedServer:
    """Where a running test named listens and the TSIG key that may update its zone."""

    host: str
    port: int
    zone: str
    key_name: str
    secret: str
    algorithm: str
    pid: int
    directory: pathlib.Path

    def rfc2136_options(self, **overrides: object) -> dict[str, object]:
        """Keyword arguments for ``make_backend("rfc2136", ...)`` aimed at this server."""
        options: dict[str, object] = {
            "server": self.host,
            "port": self.port,
            "zone": self.zone,
            "key_name": self.key_name,
            "secret": self.secret,
            "algorithm": self.algorithm,
        }
        options.update(overrides)
        return options

    @property
    def log(self) -> str:
        """What named has written to stderr so far (for failure messages)."""
        return _read_log(self.directory)


def _read_log(directory: pathlib.Path) -> str:
    try:
        return (directory / "named.log").read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"


def _apparmor_confines_named() -> bool:
    """True when the kernel enforces an AppArmor profile for named (Debian ships one)."""
    try:
        profiles = APPARMOR_PROFILES.read_text()
    except OSError:
        return False
    return any(
        line.startswith(("named ", "/usr/sbin/named ")) and "(enforce)" in line
        for line in profiles.splitlines()
    )


def _free_port(host: str) -> int:
    """A port free for both TCP and UDP right now (named needs both on the same number)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both TCP and UDP on " + host)


def _named_conf(directory: pathlib.Path, host: str, port: int, secret: str, allow_transfer: bool,
                zone: str, key_name: str) -> str:
    transfer = f"key {key_name};" if allow_transfer else "none;"
    return f"""\
// Written by tests/helpers/bind.py for one test run.
options {{
    directory "{directory}";
    pid-file "{directory}/named.pid";
    lock-file "{directory}/named.lock";
    session-keyfile "{directory}/session.key";
    managed-keys-directory "{directory}";
    dump-file "{directory}/named_dump.db";
    statistics-file "{directory}/named.stats";
    listen-on port {port} {{ {host}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-query {{ any; }};
}};

// No rndc control channel: the default one would bind 127.0.0.1:953 and clash.
controls {{ }};

key "{key_name}" {{
    algorithm {ALGORITHM};
    secret "{secret}";
}};

zone "{zone}" {{
    type primary;
    file "{directory}/{zone}.db";
    update-policy {{ grant {key_name} zonesub ANY; }};
    allow-transfer {{ {transfer} }};
}};
"""


def _zone_file(host: str, zone: str) -> str:
    # SOA minimum 5 s: negative answers are cached no longer than our A records.
    return f"""\
$TTL 300
@   IN SOA ns.{zone}. hostmaster.{zone}. ( 1 3600 600 86400 5 )
@   IN NS  ns.{zone}.
ns  IN A   {host}
"""


def _answers_soa(host: str, port: int, zone: str) -> bool:
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    try:
        response = dns.query.udp(query, host, port=port, timeout=0.25)
    except (dns.exception.DNSException, OSError):
        return False
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)


def _start(directory: pathlib.Path, host: str, allow_transfer: bool, zone: str, key_name: str,
           port: int | None) -> tuple[subprocess.Popen[bytes], int, str]:
    """Start named once; return the process, its port and secret, or raise with its log."""
    port = port or _free_port(host)
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    conf = directory / "named.conf"
    conf.write_text(_named_conf(directory, host, port, secret, allow_transfer, zone, key_name))
    (directory / f"{zone}.db").write_text(_zone_file(host, zone))
    with open(directory / "named.log", "wb") as log:
        # -g: foreground, log to stderr. -4: no IPv6 sockets. -n 1: one worker, quick start.
        # Running as root is fine for a test server, so no -u.
        proc = subprocess.Popen(
            [NAMED, "-g", "-4", "-n", "1", "-c", str(conf), "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _answers_soa(host, port, zone):
            return proc, port, secret
        time.sleep(0.05)
    _stop(proc)
    raise RuntimeError(
        f"named did not answer SOA {zone} on {host}:{port} "
        f"(exit code {proc.returncode}); its log:\n{_read_log(directory)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop this one named by its PID: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def run_named(directory: pathlib.Path, host: str = "127.0.0.1", allow_transfer: bool = True, zone: str = ZONE,
              key_name: str = KEY_NAME, port: int | None = None) -> Iterator[NamedServer]:
    """Run named for ``zone`` (default ``cachefleet.test``) from ``directory`` until the block exits.

    ``port`` (default: a free one) is for a named alone in a network namespace, on 53.

    ``allow_transfer=False`` makes the zone refuse AXFR even to the key, for the
    backend's fallback path. A port race with another process is retried.
    """
    own_dir: pathlib.Path | None = None
    if _apparmor_confines_named():
        own_dir = pathlib.Path(tempfile.mkdtemp(prefix="cachefleet-test-", dir=APPARMOR_ALLOWED_DIR))
        directory = own_dir
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        for attempt in range(3):
            try:
                proc, bound, secret = _start(directory, host, allow_transfer, zone, key_name, port)
                break
            except RuntimeError as exc:
                if attempt == 2 or "address in use" not in str(exc):
                    print(exc)
                    raise
        try:
            yield NamedServer(
                host=host,
                port=bound,
                zone=zone,
                key_name=key_name,
                secret=secret,
                algorithm=ALGORITHM,
                pid=proc.pid,
                directory=directory,
            )
        finally:
            _stop(proc)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


@pytest.fixture
def named_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamedServer]:
    """A fresh named and zone for each test (it starts in about 0.3 s), so tests never
    see each other's names. Import it into a test module to use it."""
    with run_named(tmp_path_factory.mktemp("named")) as server:
        yield server
