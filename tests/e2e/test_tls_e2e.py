"""Mutual TLS with the fleet CA on a real grpc.aio server: who gets in, and rotation without restart.

The server is gRPC's health service behind `server_credentials`, answering as whom it was
called (peer_identity); a stdlib TLS client shows which certificate the server presents to a
new connection. Everything runs in this process, on a free loopback port.
"""
from __future__ import annotations

import asyncio
import pathlib
import socket
import ssl
from collections.abc import Awaitable, Callable

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from cachefleet.common.tls.credentials import ReloadingChannel, channel_credentials, server_credentials
from cachefleet.common.tls.files import CredentialFiles
from cachefleet.common.tls.fleetca import CertificateAuthority, write_issued
from cachefleet.common.tls.identity import Identity, IdentityError, peer_identity

CALL_TIMEOUT = 5.0


class WhoCalls(health.HealthServicer):
    """Health checks that remember each caller's identity and connection."""

    def __init__(self) -> None:
        super().__init__()
        self.callers: list[tuple[Identity, str]] = []

    async def Check(self, request, context):   # noqa: N802 - gRPC's name
        try:
            self.callers.append((peer_identity(context), context.peer()))
        except IdentityError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


class Pki:
    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.ca = CertificateAuthority.create()
        self.ca.save(root / "ca")

    def issue(self, identity: Identity, where: str, sans=(), ca: CertificateAuthority | None = None) -> CredentialFiles:
        ca = ca or self.ca
        return write_issued(ca.issue(identity, sans), ca, self.root / where)


@pytest.fixture()
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


def serve(files: CredentialFiles, test: Callable[[int, WhoCalls], Awaitable[None]]) -> None:
    """Run test(port, servicer) against a real mTLS grpc.aio server on 127.0.0.1."""
    async def go() -> None:
        servicer = WhoCalls()
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_secure_port("127.0.0.1:0", server_credentials(files))
        await server.start()
        try:
            await test(port, servicer)
        finally:
            await server.stop(None)
    asyncio.run(go())


async def check(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    return response.status


def secure(port: int, files: CredentialFiles) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", channel_credentials(files.load()))


def presented_certificate(port: int, files: CredentialFiles) -> x509.Certificate:
    """The certificate the server shows a brand-new TLS connection (a stdlib client, ALPN h2 as gRPC)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(files.ca)
    context.load_cert_chain(files.cert, files.key)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=CALL_TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_a_caller_with_a_fleet_certificate_is_served_and_named(pki):
    server = pki.issue(Identity.host("host1"), "host1", ["127.0.0.1"])
    coordinator = pki.issue(Identity.coordinator("c1"), "c1")
    operator = pki.issue(Identity.client("alice", "operator"), "alice")

    async def test(port, servicer):
        for files in (coordinator, operator):
            async with secure(port, files) as channel:
                assert await check(channel) == health_pb2.HealthCheckResponse.SERVING
        assert [who for who, _ in servicer.callers] == [Identity.coordinator("c1"), Identity.client("alice", "operator")]
    serve(server, test)


def test_callers_with_a_certificate_of_another_ca_or_none_are_refused_at_the_handshake(pki):
    server = pki.issue(Identity.host("host1"), "host1", ["127.0.0.1"])
    stranger = pki.issue(Identity.client("mallory", "admin"), "mallory", ca=CertificateAuthority.create())
    # mallory trusts our CA (so she would accept the server) but her own certificate is not ours.
    (pki.root / "mallory" / "ca.crt").write_bytes(pki.ca.bundle_pem)

    async def test(port, servicer):
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", channel_credentials(stranger.load())) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await check(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        no_cert = grpc.ssl_channel_credentials(root_certificates=pki.ca.bundle_pem)
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", no_cert) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await check(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await check(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert servicer.callers == []
    serve(server, test)


def test_a_caller_refuses_a_server_without_a_fleet_certificate_for_the_address_it_dialled(pki):
    impostor = pki.issue(Identity.host("host1"), "impostor", ["127.0.0.1"], ca=CertificateAuthority.create())
    (pki.root / "impostor" / "ca.crt").write_bytes(pki.ca.bundle_pem)   # it would accept our callers
    coordinator = pki.issue(Identity.coordinator("c1"), "c1")

    async def test(port, servicer):
        async with secure(port, coordinator) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await check(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    serve(impostor, test)
    elsewhere = pki.issue(Identity.host("host2"), "host2", ["127.0.0.2"])   # ours, but for another address
    serve(elsewhere, test)


def test_a_rotated_server_certificate_reaches_new_connections_while_an_open_channel_keeps_working(pki):
    server = pki.issue(Identity.host("host1"), "host1", ["127.0.0.1"])
    coordinator = pki.issue(Identity.coordinator("c1"), "c1")
    first = x509.load_pem_x509_certificate(server.cert.read_bytes())

    async def test(port, servicer):
        async with secure(port, coordinator) as open_channel:
            assert await check(open_channel) == health_pb2.HealthCheckResponse.SERVING
            shown = await asyncio.to_thread(presented_certificate, port, coordinator)
            assert shown.serial_number == first.serial_number
            rotated = pki.issue(Identity.host("host1"), "host1", ["127.0.0.1", "localhost"])   # same files
            second = x509.load_pem_x509_certificate(rotated.cert.read_bytes())
            shown = await asyncio.to_thread(presented_certificate, port, coordinator)
            assert shown.serial_number == second.serial_number != first.serial_number
            async with secure(port, coordinator) as new_channel:
                assert await check(new_channel) == health_pb2.HealthCheckResponse.SERVING
            assert await check(open_channel) == health_pb2.HealthCheckResponse.SERVING
            # The open channel's calls came over the connection it had before the rotation.
            peers = [peer for _, peer in servicer.callers]
            assert peers[0] == peers[2] != peers[1]
    serve(server, test)


def test_a_server_trusts_a_new_ca_once_its_bundle_names_it_without_a_restart(pki):
    server = pki.issue(Identity.host("host1"), "host1", ["127.0.0.1"])
    new_ca = CertificateAuthority.create()
    newcomer = pki.issue(Identity.coordinator("c2"), "c2", ca=new_ca)
    (pki.root / "c2" / "ca.crt").write_bytes(pki.ca.bundle_pem)

    async def test(port, servicer):
        async with secure(port, newcomer) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await check(channel)
        server.ca.write_bytes(pki.ca.bundle_pem + new_ca.bundle_pem)
        async with secure(port, newcomer) as channel:
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING
        assert [who for who, _ in servicer.callers] == [Identity.coordinator("c2")]
    serve(server, test)


def test_a_reloading_channel_presents_its_rotated_certificate(pki):
    server = pki.issue(Identity.host("host1"), "host1", ["127.0.0.1"])
    alice = pki.issue(Identity.client("alice", "readonly"), "alice")

    async def test(port, servicer):
        holder = ReloadingChannel(f"127.0.0.1:{port}", alice, close_grace=1.0)
        try:
            before = holder.channel()
            assert await check(before) == health_pb2.HealthCheckResponse.SERVING
            assert holder.channel() is before                       # unchanged files: the same channel
            pki.issue(Identity.client("alice", "admin"), "alice")   # promoted: a new certificate
            after = holder.channel()
            assert after is not before
            assert await check(after) == health_pb2.HealthCheckResponse.SERVING
            assert [who.role.value for who, _ in servicer.callers] == ["readonly", "admin"]
        finally:
            await holder.close()
    serve(server, test)
