"""gRPC credentials from credential files, following the files when they are replaced.

Servers: `server_credentials` gives gRPC's dynamic SSL credentials. gRPC asks the fetcher for
the current configuration at every new TLS handshake; the fetcher stats the three files (three
stat calls, microseconds) and rereads them only when one was replaced. A new connection
therefore sees a rotated certificate (or a new CA bundle) at once, while connections already
open keep the session they negotiated: nothing restarts and no call is dropped. Client
certificates are required and checked against ca.crt; `identity.peer_identity` then says who
called.

Channels: gRPC has no such hook for a channel's own certificate, so `ReloadingChannel` holds
one channel per target and, when asked for it after the files changed, builds a new channel
with the new credentials and closes the old one after a grace period (its calls in flight
finish). Callers ask for the channel on every call (`Stub(holder.channel())`; stubs are cheap)
instead of keeping one.

A half-done rotation (new key, old certificate) is refused on both sides and the previous
credentials stay in use until the pair matches again.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import grpc
import structlog

from cachefleet.common.tls.files import CredentialError, CredentialFiles, KeyMaterial

log = structlog.get_logger("cachefleet.tls")

CHANNEL_CLOSE_GRACE = 30.0   # seconds calls on a replaced channel have to finish


class CredentialWatch:
    """The credential files' current contents, reread only when the files change.

    `poll()` returns new KeyMaterial when the files changed into a consistent set since the last
    one taken, else None. Thread-safe: gRPC calls server fetchers from its own threads.
    """

    def __init__(self, files: CredentialFiles) -> None:
        self.files = files
        self._lock = threading.Lock()
        self._taken: tuple[tuple[int, int, int], ...] | None = None
        self._refused: tuple[tuple[int, int, int], ...] | None = None
        self.current = self._load_first()

    def _load_first(self) -> KeyMaterial:
        signature = self.files.signature()
        material = self.files.load()   # at start-up a bad set is an error, not a warning
        self._taken = signature
        return material

    def poll(self) -> KeyMaterial | None:
        with self._lock:
            signature = self.files.signature()
            if signature is None or signature == self._taken or signature == self._refused:
                return None
            try:
                material = self.files.load()
            except CredentialError as exc:
                self._refused = signature   # warn once per state of the files, retry when they change again
                log.warning("tls credentials not reloaded: keeping the previous ones", path=str(self.files.cert),
                            error=str(exc))
                return None
            if self.files.signature() != signature:   # replaced while we read: take it next time
                return None
            self._taken, self.current = signature, material
        log.info("tls credentials reloaded", path=str(self.files.cert), subject=material.cert.subject.rfc4514_string(),
                 serial=f"{material.cert.serial_number:x}", not_after=material.cert.not_valid_after_utc.isoformat())
        return material


def _server_configuration(material: KeyMaterial) -> Any:
    return grpc.ssl_server_certificate_configuration([(material.key_pem, material.cert_pem)],
                                                     root_certificates=material.ca_pem)


def server_credentials(files: CredentialFiles) -> grpc.ServerCredentials:
    """mTLS credentials for `server.add_secure_port`: the server's certificate from files, every
    caller's checked against files.ca, both reread when replaced. CredentialError if the files
    are not a matching set now."""
    watch = CredentialWatch(files)

    def fetch() -> Any:
        try:
            material = watch.poll()
        except Exception as exc:  # noqa: BLE001 - an exception here would end in gRPC's C core
            log.warning("tls credentials not reloaded", path=str(files.cert), error=str(exc))
            return None
        return None if material is None else _server_configuration(material)

    return grpc.dynamic_ssl_server_credentials(_server_configuration(watch.current), fetch,
                                               require_client_authentication=True)


def channel_credentials(material: KeyMaterial) -> grpc.ChannelCredentials:
    """mTLS credentials for a channel: our certificate, servers checked against the CA bundle."""
    return grpc.ssl_channel_credentials(root_certificates=material.ca_pem, private_key=material.key_pem,
                                        certificate_chain=material.cert_pem)


def load_channel_credentials(files: CredentialFiles) -> grpc.ChannelCredentials:
    """channel_credentials from files read now: for a short-lived process such as the CLI."""
    return channel_credentials(files.load())


class ReloadingChannel:
    """A grpc.aio channel to one target whose client certificate follows its files.

    `channel()` returns the current channel, first replacing it when the files changed; the old
    one is closed after `close_grace` seconds. Made and used inside one event loop.
    """

    def __init__(self, target: str, files: CredentialFiles, *,
                 options: Sequence[tuple[str, Any]] = (), close_grace: float = CHANNEL_CLOSE_GRACE) -> None:
        self.target = target
        self._watch = CredentialWatch(files)
        self._options = list(options)
        self._close_grace = close_grace
        self._closing: dict[asyncio.Task[None], grpc.aio.Channel] = {}
        self._channel = self._build(self._watch.current)

    def _build(self, material: KeyMaterial) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(self.target, channel_credentials(material), options=self._options)

    def channel(self) -> grpc.aio.Channel:
        material = self._watch.poll()
        if material is not None:
            old, self._channel = self._channel, self._build(material)
            task = asyncio.get_running_loop().create_task(old.close(grace=self._close_grace))
            self._closing[task] = old
            task.add_done_callback(self._closing.pop)
            log.info("tls channel rebuilt with new credentials", target=self.target)
        return self._channel

    async def close(self, grace: float | None = None) -> None:
        """Close the channel and any replaced one still in its grace period."""
        channels = [self._channel, *self._closing.values()]
        await asyncio.gather(*(channel.close(grace) for channel in channels), return_exceptions=True)
