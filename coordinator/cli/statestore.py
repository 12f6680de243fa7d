"""`cachefleet state-store copy SRC DST`: move a fleet's desired state between state stores.

    cachefleet state-store copy sqlite:state/coordinator/coordinator.db etcd://10.0.0.1:2379,10.0.0.2:2379
    cachefleet state-store copy etcd://10.0.0.1:2379/fleet-a sqlite:/backup/fleet-a.db --force

SRC and DST are what the coordinator's --state-store takes. Run it with the fleet's coordinators
stopped. It works on the stores themselves, not through a coordinator: etcd is reached with the
fleet certificate given by --ca-cert/--cert/--key (or CACHEFLEET_STATE_STORE_CA_CERT, ..._CERT,
..._KEY; a coordinator's certificate will do).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
from typing import Any

from coordinator.cli.usage import UsageError

SUMMARY = "Copy a fleet's state between state stores (sqlite:PATH, etcd://HOST:PORT,...), coordinators stopped."
COPY_SUMMARY = ("Copy every key of SRC into DST (refused when DST holds keys, unless --force: then DST ends "
                "holding exactly SRC's keys) and print how many were copied.")


class StoreFailure(Exception):
    """A store could not be opened, read or written (exit 255)."""


def add_arguments(parser: argparse.ArgumentParser, output_options: Any) -> None:
    verbs = parser.add_subparsers(dest="state_store_verb", metavar="VERB", required=True)
    copy = verbs.add_parser("copy", help=COPY_SUMMARY, description=COPY_SUMMARY)
    copy.add_argument("source", metavar="SRC", help="sqlite:PATH or etcd://HOST:PORT[,HOST:PORT...][/PREFIX]")
    copy.add_argument("destination", metavar="DST", help="the same forms as SRC")
    copy.add_argument("--force", action="store_true", help="replace what DST holds (its other keys are deleted)")
    env = os.environ.get
    for flag, name, what in (("--ca-cert", "CA_CERT", "the CA of etcd's members"),
                             ("--cert", "CERT", "a fleet certificate to show etcd"), ("--key", "KEY", "its key")):
        copy.add_argument(flag, default=env(f"CACHEFLEET_STATE_STORE_{name}") or None, metavar="FILE",
                          help=f"etcd: {what} (env CACHEFLEET_STATE_STORE_{name})")
    copy.add_argument("--insecure", action="store_true", help="etcd: plaintext, no certificate")
    output_options(copy)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cachefleet.common.tls.files import CredentialError, CredentialFiles
    from coordinator.state.store import spec
    try:
        source, destination = spec.parse(args.source), spec.parse(args.destination)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if str(source) == str(destination):
        raise UsageError("SRC and DST are the same store")
    tls = None
    if "etcd" in (source.kind, destination.kind) and not args.insecure:
        given = [args.ca_cert, args.cert, args.key]
        if not all(given):
            raise UsageError("etcd needs --ca-cert, --cert and --key (a fleet certificate), or --insecure")
        tls = CredentialFiles(cert=pathlib.Path(args.cert), key=pathlib.Path(args.key), ca=pathlib.Path(args.ca_cert))
        try:
            tls.load()
        except CredentialError as exc:
            raise UsageError(str(exc)) from None
    copied = asyncio.run(_copy(source, destination, tls, args.force))
    return {"Copied": copied, "Source": str(source), "Destination": str(destination)}


async def _copy(source: Any, destination: Any, tls: Any, force: bool) -> int:
    from coordinator.state.store.base import StoreError
    from coordinator.state.store.copy import copy_state
    from coordinator.state.store.spec import open_store
    stores = []
    try:
        stores = [open_store(source, tls), open_store(destination, tls)]
        return await copy_state(*stores, force=force)
    except StoreError as exc:
        raise StoreFailure(str(exc)) from None
    finally:
        for store in stores:
            await store.close()
