"""TLS in transit for one node: its key, the files its engine reads, and the agent's TLS client.

The node's key is made here, in its data directory (0640: the engine's group reads it), the
first time the coordinator asks for a signing request (RequestNodeCertificate), and is never
sent anywhere. The certificate and CA bundle come in the spec. An engine is never started
with a certificate that is not for its key: EnsureNode refuses such a spec.

File names: memcached reads fixed names from its command line and rereads them on
`refresh_certs`; redis takes a new certificate with `CONFIG SET tls-cert-file`, which does
nothing when the value is the same string, so its files are named by their content's
fingerprint (`tls.conf`, included by its command line, names the current ones).
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import ssl
import tempfile

from cachefleet.v1 import node_agent_pb2

from nodeagent.errors import InvalidArgument
from nodeagent.layout import open_in_data_dir, write_atomic

KEY_FILE = "tls.key"
CERT_FILE = "tls.crt"
CA_FILE = "tls-ca.crt"
PREFERRED = node_agent_pb2.TRANSIT_ENCRYPTION_MODE_PREFERRED
REQUIRED = node_agent_pb2.TRANSIT_ENCRYPTION_MODE_REQUIRED
PORTS = range(1024, 65536)


def enabled(spec: node_agent_pb2.NodeSpec) -> bool:
    return spec.transit_encryption.mode in (PREFERRED, REQUIRED)


def plaintext_port(spec: node_agent_pb2.NodeSpec) -> int:
    """Where the engine also serves plaintext: its port without TLS, the plaintext port in
    PREFERRED, none (0) in REQUIRED."""
    if not enabled(spec):
        return spec.port
    return spec.transit_encryption.plaintext_port if spec.transit_encryption.mode == PREFERRED else 0


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cert_name(spec: node_agent_pb2.NodeSpec) -> str:
    return f"tls-{_fingerprint(spec.transit_encryption.cert_pem)}.crt"


def ca_name(spec: node_agent_pb2.NodeSpec) -> str:
    return f"tls-ca-{_fingerprint(spec.transit_encryption.ca_pem)}.crt"


def files_in_use(spec: node_agent_pb2.NodeSpec) -> dict[str, str]:
    """What a started engine reads (kept in running.json): a new certificate differs here."""
    return {"cert": cert_name(spec), "ca": ca_name(spec)} if enabled(spec) else {}


def read_key(data_dir: pathlib.Path) -> bytes | None:
    """The node's key, or None before RequestNodeCertificate made one (never through a link)."""
    try:
        with open_in_data_dir(data_dir / KEY_FILE) as file:
            return file.read()
    except FileNotFoundError:
        return None


def signing_request(data_dir: pathlib.Path, node_key: str) -> str:
    """A CSR for the node's key, made now if it has none (data_dir must exist)."""
    from cachefleet.common.tls import nodecerts   # cryptography (~8 MB): only for TLS nodes
    key = read_key(data_dir)
    if key is None:
        key = nodecerts.new_key_pem()
        write_atomic(data_dir / KEY_FILE, key.decode(), mode=0o640)
    return nodecerts.csr_pem(key, node_key)


def check(spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path) -> None:
    """InvalidArgument unless a TLS spec can start: a plaintext port of its own in PREFERRED, a
    CA bundle, and a certificate for the key this host made for the node."""
    if not enabled(spec):
        if spec.transit_encryption.mode:
            raise InvalidArgument(f"transit_encryption.mode {spec.transit_encryption.mode} is unknown")
        return
    tls = spec.transit_encryption
    if tls.mode == PREFERRED and (tls.plaintext_port not in PORTS or tls.plaintext_port == spec.port):
        raise InvalidArgument("transit encryption PREFERRED needs a plaintext_port of its own "
                              f"({PORTS.start}-{PORTS.stop - 1}, not the TLS port {spec.port})")
    if not tls.ca_pem.strip():
        raise InvalidArgument("transit encryption needs the CA bundle (ca_pem)")
    key = read_key(data_dir) if data_dir.is_dir() else None
    if key is None:
        raise InvalidArgument(f"node {spec.node_key} has no TLS key on this host yet: "
                              "call RequestNodeCertificate and sign what it returns")
    from cachefleet.common.tls import nodecerts   # cryptography (~8 MB): only for TLS nodes
    if not nodecerts.matches_key(tls.cert_pem, key):
        raise InvalidArgument(f"the certificate of node {spec.node_key} is not for the key this host "
                              "made for it: call RequestNodeCertificate and sign what it returns")


def write_files(spec: node_agent_pb2.NodeSpec, data_dir: pathlib.Path) -> None:
    """The certificate and CA bundle under both names; older fingerprint-named ones go."""
    if not enabled(spec):
        return
    tls = spec.transit_encryption
    keep = {cert_name(spec), ca_name(spec)}
    for name, text in ((cert_name(spec), tls.cert_pem), (CERT_FILE, tls.cert_pem),
                       (ca_name(spec), tls.ca_pem), (CA_FILE, tls.ca_pem)):
        write_atomic(data_dir / name, text, mode=0o640)
    for old in data_dir.glob("tls-*.crt"):
        if old.name not in keep and old.name != CA_FILE:
            old.unlink(missing_ok=True)


def client_context(spec: node_agent_pb2.NodeSpec) -> ssl.SSLContext | None:
    """The agent's TLS client for the node's engine (or another node of its cluster): the
    fleet's nodes CA decides; the name is not checked, since the agent dials an address the
    spec gives, not a name a client could be sent to by DNS."""
    if not enabled(spec):
        return None
    context = ssl.create_default_context(cadata=spec.transit_encryption.ca_pem)
    context.check_hostname = False
    return context


class ServerCredentials:
    """A TLS server context for the agent's own listeners of a TLS cluster (the memcached
    configuration endpoint), made from one node's certificate and key, and loaded again into
    the same context when the node's certificate was renewed (`refresh`, at each connection:
    the one after a renewal is served with the new certificate)."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._loaded = b""
        self.refresh()

    def refresh(self) -> None:
        """Load the node's files again if its certificate changed; ssl.SSLError or OSError when
        they cannot be loaded (the previous ones stay in use)."""
        with open_in_data_dir(self.data_dir / CERT_FILE) as file:
            cert = file.read()
        if cert == self._loaded:
            return
        key = read_key(self.data_dir)
        if key is None:
            raise FileNotFoundError(f"no {KEY_FILE} in {self.data_dir}")
        # ssl loads a key from a file only: a private copy that lives for the call alone
        # (read without following a link: the data directory is the engine's too)
        handle, path = tempfile.mkstemp(prefix=".tls-", suffix=".pem")
        try:
            with os.fdopen(handle, "wb") as copy:
                copy.write(cert + b"\n" + key)
            self.context.load_cert_chain(path)
        finally:
            os.unlink(path)
        self._loaded = cert
