"""The CLI's channel to the coordinator: mutual TLS with a client certificate, found without
flags when `cachefleet up` made it.

Where the certificate comes from, first found wins: --ca-cert/--cert/--key; the environment
(CACHEFLEET_CA_CERT, CACHEFLEET_CERT, CACHEFLEET_KEY); the admin client certificate of the local
fleet, `<state>/ca/clients/admin/` (state: CACHEFLEET_STATE_DIR, else ./state, where `cachefleet
up` keeps it). --insecure (or CACHEFLEET_INSECURE=1) dials plaintext, and says so on stderr.

Several coordinators (on one etcd, one of them leading) are given as one comma-separated
--endpoint or CACHEFLEET_ENDPOINT: the CLI talks to the first that accepts a connection. A
follower answers reads itself and names the leader for the rest; the CLI then asks the leader
(main.Client).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

import grpc

# Light modules only: cryptography and structlog would double the CLI's start-up (read_checked
# checks the files with the ssl module that grpc loads anyway).
from cachefleet.common.tls.files import CredentialError, CredentialFiles
from cachefleet.common.tls.layout import FleetCaLayout


def add_options(group: argparse._ArgumentGroup, default: object) -> None:
    group.add_argument("--ca-cert", default=default, metavar="FILE",
                       help="the fleet CA's certificate (env CACHEFLEET_CA_CERT; default: the local fleet's)")
    group.add_argument("--cert", default=default, metavar="FILE",
                       help="your client certificate (env CACHEFLEET_CERT)")
    group.add_argument("--key", default=default, metavar="FILE", help="its key (env CACHEFLEET_KEY)")
    group.add_argument("--insecure", action="store_true", default=default if default is not None else False,
                       help="talk plaintext to a coordinator started with --insecure")


def client_files(args: argparse.Namespace) -> CredentialFiles | None:
    """The client's credential files, None for --insecure; ValueError says what is missing."""
    if getattr(args, "insecure", False) or os.environ.get("CACHEFLEET_INSECURE") == "1":
        return None
    given = {name: getattr(args, name, None) or os.environ.get(env) or None
             for name, env in (("ca_cert", "CACHEFLEET_CA_CERT"), ("cert", "CACHEFLEET_CERT"),
                               ("key", "CACHEFLEET_KEY"))}
    if all(given.values()):
        return CredentialFiles(cert=pathlib.Path(given["cert"]), key=pathlib.Path(given["key"]),   # type: ignore[arg-type]
                               ca=pathlib.Path(given["ca_cert"]))                                   # type: ignore[arg-type]
    if any(given.values()):
        missing = [f"--{name.replace('_', '-')}" for name, value in given.items() if not value]
        raise ValueError(f"{', '.join(missing)} missing: --ca-cert, --cert and --key go together")
    local = FleetCaLayout.of_state_dir(os.environ.get("CACHEFLEET_STATE_DIR") or "state").client()
    if local.exists():
        return local
    raise ValueError("no client certificate: give --ca-cert, --cert and --key (or CACHEFLEET_CA_CERT, "
                     "CACHEFLEET_CERT, CACHEFLEET_KEY), run where `cachefleet up` keeps its state "
                     "(or set CACHEFLEET_STATE_DIR), or --insecure for a coordinator without TLS")


def open_channel(args: argparse.Namespace, endpoint: str) -> grpc.Channel:
    files = client_files(args)
    if files is None:
        if getattr(args, "insecure", False):   # CACHEFLEET_INSECURE=1 is a setting made once, on purpose
            print("cachefleet: --insecure: talking plaintext, without TLS", file=sys.stderr)
        return grpc.insecure_channel(endpoint)
    try:
        cert_pem, key_pem, ca_pem = files.read_checked()
    except CredentialError as error:
        raise ValueError(f"cannot use the client certificate: {error}") from None
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key_pem,
                                               certificate_chain=cert_pem)
    return grpc.secure_channel(endpoint, credentials)


CONNECT_TIMEOUT = 2.0   # seconds to wait for one of several coordinators to accept a connection


def open_any(args: argparse.Namespace, endpoints: str) -> tuple[str, grpc.Channel]:
    """(endpoint, channel) to the first of the comma-separated endpoints that accepts a
    connection; one endpoint is dialled as it is (its errors come with the first call). When
    none accepts, the last one's channel, whose first call says it could not connect."""
    names = [name.strip() for name in endpoints.split(",") if name.strip()] or [endpoints]
    for name in names[:-1]:
        channel = open_channel(args, name)
        try:
            grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
            return name, channel
        except grpc.FutureTimeoutError:
            channel.close()
    return (names[0] if len(names) == 1 else endpoints), open_channel(args, names[-1])
