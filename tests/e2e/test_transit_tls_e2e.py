"""TLS in transit on a real agent: redis 7 and memcached serve TLS with node certificates from
a real fleet CA, a redis replica follows its primary over TLS, a renewed certificate is taken
without restarting the engine, and a request the host cannot honour changes nothing.

One agent serves the module (the 6.0.x build is among its engines); the test signs what the
agent's RequestNodeCertificate returns, as the coordinator does.
"""
from __future__ import annotations

import socket
import ssl

import grpc
import pytest
import redis
from cachefleet.v1 import node_agent_pb2 as pb
from cryptography import x509

from cachefleet.common.tls import nodecerts
from cachefleet.common.tls.fleetca import CertificateAuthority
from tests.helpers.agent import (AgentProcess, FakeCoordinator, free_port, loopback_address, plaintext_answers,
                                 shared_port, wait_until)

ADDRESS = loopback_address("127.0.83")
EXTRA_ADDRESS = loopback_address("127.0.84")
REDIS6 = "/opt/cachefleet/redis-6.0.9/redis-server"
REQUIRED, PREFERRED = pb.TRANSIT_ENCRYPTION_MODE_REQUIRED, pb.TRANSIT_ENCRYPTION_MODE_PREFERRED


@pytest.fixture(scope="module")
def coordinator():
    with FakeCoordinator(lease_ms=60_000) as fake:
        yield fake


@pytest.fixture(scope="module")
def agent(tmp_path_factory, coordinator):
    with AgentProcess(ADDRESS, tmp_path_factory.mktemp("agent"), coordinator.endpoint,
                      extra_addresses=[EXTRA_ADDRESS], engine_paths=[REDIS6]).start() as running:
        yield running


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()




def signed(agent: AgentProcess, ca: CertificateAuthority, node_key: str, address: str) -> str:
    """The coordinator's part: a certificate for the key the agent made, naming the node."""
    request = agent.stub().RequestNodeCertificate(pb.RequestNodeCertificateRequest(node_key=node_key), timeout=10)
    return nodecerts.sign_node(ca, request.csr_pem, node_key, [f"{node_key}.cachefleet.internal", address])


def tls_spec(node_key: str, engine: str, port: int, ca: CertificateAuthority, cert: str, address: str = ADDRESS,
             mode: pb.TransitEncryptionMode.ValueType = REQUIRED, plaintext_port: int = 0, **fields) -> pb.NodeSpec:
    cluster, node = node_key.rsplit("-", 1)
    return pb.NodeSpec(node_key=node_key, cache_cluster_id=cluster, cache_node_id=node, engine=engine,
                       port=port, max_memory_mb=64, bind_address=address,
                       transit_encryption=pb.TransitEncryption(mode=mode, cert_pem=cert, ca_pem=ca.bundle_pem.decode(),
                                                               plaintext_port=plaintext_port), **fields)


def ensure(agent: AgentProcess, spec: pb.NodeSpec) -> pb.NodeState:
    return agent.stub().EnsureNode(pb.EnsureNodeRequest(spec=spec), timeout=15)


def tls_client(ca: CertificateAuthority, address: str, port: int) -> redis.Redis:
    return redis.Redis(host=address, port=port, ssl=True, ssl_ca_data=ca.bundle_pem.decode(),
                       ssl_check_hostname=False, socket_timeout=1, retry=None)


def served_serial(ca: CertificateAuthority, address: str, port: int) -> int:
    """The serial number of the certificate a new TLS handshake on address:port is shown."""
    context = ssl.create_default_context(cadata=ca.bundle_pem.decode())
    context.check_hostname = False
    with socket.create_connection((address, port), timeout=1) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def serial_of(cert: str) -> int:
    return x509.load_pem_x509_certificate(cert.encode()).serial_number


def test_a_tls_redis_replica_follows_its_primary_over_tls_and_plaintext_is_refused(agent, coordinator, ca):
    port = shared_port(ADDRESS, EXTRA_ADDRESS)
    primary, replica = "tlsg-0001", "tlsg-0002"
    coordinator.writable_primaries.add(primary)
    ensure(agent, tls_spec(primary, "redis", port, ca, signed(agent, ca, primary, ADDRESS), role=pb.ROLE_PRIMARY))
    ensure(agent, tls_spec(replica, "redis", port, ca, signed(agent, ca, replica, EXTRA_ADDRESS), EXTRA_ADDRESS,
                           role=pb.ROLE_REPLICA, primary_address=ADDRESS, primary_port=port))
    coordinator.wait_for_node(primary, pb.NODE_STATUS_AVAILABLE, timeout=5)   # the agent's probe speaks TLS
    state = coordinator.wait_for_node(
        replica, pb.NODE_STATUS_AVAILABLE, timeout=5,
        where=lambda n: (n.replication.link_status, n.replication.primary_sight)
        == (pb.LINK_STATE_UP, pb.PRIMARY_SIGHT_SEEN))
    assert state.replication.primary_host == ADDRESS
    wait_until(lambda: tls_client(ca, ADDRESS, port).set("k", "over tls"), timeout=3, message="primary writable")
    wait_until(lambda: tls_client(ca, EXTRA_ADDRESS, port).get("k") == b"over tls", timeout=3,
               message="replica has the write")
    assert b"PONG" not in plaintext_answers(ADDRESS, port, b"PING\r\n")


def test_a_renewed_certificate_is_served_without_restarting_redis(agent, coordinator, ca):
    port = free_port(ADDRESS)
    key = "tlsr-0001"
    ensure(agent, tls_spec(key, "redis", port, ca, signed(agent, ca, key, ADDRESS)))
    coordinator.wait_for_node(key, pb.NODE_STATUS_AVAILABLE, timeout=5)
    pid = agent.engine_pids()[key]
    renewed = signed(agent, ca, key, ADDRESS)
    ensure(agent, tls_spec(key, "redis", port, ca, renewed))
    wait_until(lambda: served_serial(ca, ADDRESS, port) == serial_of(renewed), timeout=3,
               message="the renewed certificate served")
    assert agent.engine_pids()[key] == pid


def test_memcached_preferred_serves_tls_and_plaintext_and_renews_without_restart(agent, coordinator, ca):
    port, plaintext = free_port(ADDRESS), free_port(ADDRESS)
    key = "tlsm-0001"
    ensure(agent, tls_spec(key, "memcached", port, ca, signed(agent, ca, key, ADDRESS), mode=PREFERRED,
                           plaintext_port=plaintext))
    coordinator.wait_for_node(key, pb.NODE_STATUS_AVAILABLE, timeout=5)
    assert plaintext_answers(ADDRESS, plaintext, b"version\r\n").startswith(b"VERSION")
    pid = agent.engine_pids()[key]
    first = served_serial(ca, ADDRESS, port)
    renewed = signed(agent, ca, key, ADDRESS)
    ensure(agent, tls_spec(key, "memcached", port, ca, renewed, mode=PREFERRED, plaintext_port=plaintext))
    wait_until(lambda: served_serial(ca, ADDRESS, port) == serial_of(renewed), timeout=3,
               message="the renewed certificate served")
    assert first != serial_of(renewed) and agent.engine_pids()[key] == pid


def test_tls_on_a_redis_built_without_it_or_with_a_certificate_for_another_key_changes_nothing(agent, ca):
    port = free_port(ADDRESS)
    cert = signed(agent, ca, "tlsx-0001", ADDRESS)
    old = tls_spec("tlsx-0001", "redis", port, ca, cert, engine_version="6.0.9")
    stranger = tls_spec("tlsx-0001", "redis", port, ca, nodecerts.sign_node(
        ca, nodecerts.csr_pem(nodecerts.new_key_pem(), "x"), "x", [ADDRESS]))
    for spec, code, words in ((old, grpc.StatusCode.FAILED_PRECONDITION, "built without TLS"),
                              (stranger, grpc.StatusCode.INVALID_ARGUMENT, "not for the key")):
        with pytest.raises(grpc.RpcError) as refused:
            ensure(agent, spec)
        assert refused.value.code() == code and words in refused.value.details()
        assert refused.value.details().startswith(("InvalidParameterCombination:", "InvalidParameterValue:"))
    nodes = agent.stub().ListNodes(pb.ListNodesRequest(), timeout=5).nodes
    assert "tlsx-0001" not in {n.node_key for n in nodes}
