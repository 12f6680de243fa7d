"""How a daemon serves and dials: mutual TLS from the fleet's credential files, or plaintext
only when asked for by name (`--insecure`), and then said loudly at every start.

The three daemons and the CLI take the same options (`--ca-cert`, `--cert`, `--key`,
`--insecure`), each with an environment variable of the program's prefix, so a systemd
environment file or a shell profile can carry them.
"""
from __future__ import annotations

import argparse
import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import structlog

from cachefleet.common.tls.credentials import ReloadingChannel, server_credentials
from cachefleet.common.tls.files import CredentialError, CredentialFiles

log = structlog.get_logger("cachefleet.tls")

INSECURE_WARNING = ("PLAINTEXT: --insecure was given, so this process serves and dials without TLS: "
                    "anyone who reaches its ports can call it as anyone. Use the fleet CA's certificates.")


class ChannelSource(Protocol):
    """Gives the channel to use for the next call (it may change when certificates rotate)."""

    target: str

    def channel(self) -> grpc.aio.Channel: ...

    async def close(self, grace: float | None = None) -> None: ...


class PlaintextChannel:
    """A ChannelSource without TLS, for a process started with --insecure."""

    def __init__(self, target: str, options: Sequence[tuple[str, Any]] = ()) -> None:
        self.target = target
        self._channel = grpc.aio.insecure_channel(target, options=list(options))

    def channel(self) -> grpc.aio.Channel:
        return self._channel

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)


@dataclass(frozen=True)
class Transport:
    """mTLS with `files`, or plaintext when files is None (only ever from --insecure)."""

    files: CredentialFiles | None

    @property
    def secure(self) -> bool:
        return self.files is not None

    def add_port(self, server: grpc.aio.Server, listen: str) -> int:
        if self.files is None:
            return server.add_insecure_port(listen)
        return server.add_secure_port(listen, server_credentials(self.files))

    def dial(self, target: str, options: Sequence[tuple[str, Any]] = ()) -> ChannelSource:
        """A channel source to `target`, inside the running event loop."""
        if self.files is None:
            return PlaintextChannel(target, options)
        return ReloadingChannel(target, self.files, options=options)


def add_arguments(parser: argparse.ArgumentParser, env_prefix: str) -> None:
    """--ca-cert, --cert, --key and --insecure, defaulting to ENV_PREFIX_CA_CERT and so on."""
    env = os.environ.get
    parser.add_argument("--ca-cert", default=env(f"{env_prefix}_CA_CERT") or None, metavar="FILE",
                        help=f"the fleet CA's certificate (bundle) (env {env_prefix}_CA_CERT)")
    parser.add_argument("--cert", default=env(f"{env_prefix}_CERT") or None, metavar="FILE",
                        help=f"this process's certificate, issued by the fleet CA (env {env_prefix}_CERT)")
    parser.add_argument("--key", default=env(f"{env_prefix}_KEY") or None, metavar="FILE",
                        help=f"its private key, mode 0600 (env {env_prefix}_KEY)")
    parser.add_argument("--insecure", action="store_true", default=env(f"{env_prefix}_INSECURE") == "1",
                        help="serve and dial plaintext, without TLS: only for a throwaway machine")


def from_arguments(args: argparse.Namespace, program: str) -> Transport:
    """The transport the options ask for; a missing or unreadable file is a ValueError that says
    what to give. Certificates are checked now (key matches certificate) so that a daemon that
    cannot serve says so at start, not at its first call."""
    if args.insecure:
        if args.ca_cert or args.cert or args.key:
            raise ValueError("--insecure and --ca-cert/--cert/--key do not go together")
        log.warning(INSECURE_WARNING, program=program)
        return Transport(None)
    missing = [flag for flag, value in (("--ca-cert", args.ca_cert), ("--cert", args.cert), ("--key", args.key))
               if not value]
    if missing:
        raise ValueError(f"{', '.join(missing)} missing: give the fleet CA's certificate and this {program}'s "
                         "certificate and key (`cachefleet ca issue`), or --insecure to run without TLS")
    files = CredentialFiles(cert=pathlib.Path(args.cert), key=pathlib.Path(args.key), ca=pathlib.Path(args.ca_cert))
    try:
        files.load()
    except (OSError, CredentialError) as error:
        raise ValueError(f"cannot use the TLS files: {error}") from None
    return Transport(files)
