"""`cachefleet ca`: the fleet's certificate authority, made and used from the command line.

    cachefleet ca init --dir DIR
    cachefleet ca issue --ca-dir DIR --host HOST_ID --san 10.0.0.7 --out DIR
    cachefleet ca issue --ca-dir DIR --coordinator NAME --san coord.example.com --out DIR
    cachefleet ca issue --ca-dir DIR --client NAME --role operator --out DIR

`issue` writes NAME.crt, NAME.key (mode 0600) and ca.crt into --out; issuing again into the
same place is how a certificate is rotated (the daemons reload it). What a certificate says
and how it is checked: cachefleet/common/tls/. Neither verb talks to the coordinator.
"""
from __future__ import annotations

import argparse
import pathlib
from typing import Any

from coordinator.cli.usage import UsageError

SUMMARY = "The fleet's certificate authority: `ca init` makes one, `ca issue` signs a certificate."
INIT_SUMMARY = "Make a fleet CA (ca.crt, ca.key) in a new directory."
ISSUE_SUMMARY = "Sign a certificate for a host, a coordinator or a client: NAME.crt, NAME.key and ca.crt in --out."


class CaFailure(Exception):
    """The CA could not do it (exit 255): no CA there, one already there, files unwritable."""


def add_arguments(parser: argparse.ArgumentParser, output_options: Any) -> None:
    """`ca`'s own verbs; output_options(parser) adds --output and --query after them."""
    verbs = parser.add_subparsers(dest="ca_verb", metavar="VERB", required=True)
    init = verbs.add_parser("init", help=INIT_SUMMARY, description=INIT_SUMMARY)
    init.add_argument("--dir", required=True, metavar="DIR", help="where the CA is kept (made 0700 if new)")
    init.add_argument("--days", type=int, default=3650, metavar="N", help="validity of the CA (default 3650)")
    output_options(init)
    issue = verbs.add_parser("issue", help=ISSUE_SUMMARY, description=ISSUE_SUMMARY)
    issue.add_argument("--ca-dir", required=True, metavar="DIR", help="the CA (`ca init --dir`)")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--host", metavar="HOST_ID", help="a host's certificate: its agent's --host-id")
    who.add_argument("--coordinator", metavar="NAME", help="a coordinator's certificate")
    who.add_argument("--client", metavar="NAME", help="a client's certificate (with --role)")
    issue.add_argument("--role", choices=("readonly", "operator", "admin"),
                       help="what the client may do on CacheControl (clients only)")
    issue.add_argument("--san", action="append", default=[], metavar="NAME_OR_IP",
                       help="a DNS name or IP address the host or coordinator serves on (repeat for more)")
    issue.add_argument("--out", required=True, metavar="DIR", help="where NAME.crt, NAME.key and ca.crt go")
    issue.add_argument("--days", type=int, default=365, metavar="N",
                       help="validity (default 365; never past the CA's own)")
    output_options(issue)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The verb's result, shaped for the CLI's output (json, table or text)."""
    from cachefleet.common.tls import fleetca
    from cachefleet.common.tls.identity import IdentityError
    if args.days <= 0:
        raise UsageError(f"argument --days: must be positive, got {args.days}")
    try:
        if args.ca_verb == "init":
            ca = fleetca.init_ca(args.dir, days=args.days)
            return {"CertificateAuthority": _describe(ca.cert, {"Certificate": pathlib.Path(args.dir) / "ca.crt"})}
        identity = _identity(args)
        ca = fleetca.CertificateAuthority.load(args.ca_dir)
        issued = ca.issue(identity, args.san, days=args.days)
        files = fleetca.write_issued(issued, ca, args.out)
    except (IdentityError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    except fleetca.CaError as exc:
        raise CaFailure(str(exc)) from None
    except OSError as exc:
        raise CaFailure(f"{exc.strerror}: {exc.filename}") from None
    described = _describe(issued.cert, {"Certificate": files.cert, "PrivateKey": files.key,
                                        "CertificateAuthority": files.ca})
    return {"Certificate": {"Identity": identity.uri, "Kind": identity.kind.value, "Name": identity.name,
                            **({"Role": identity.role.value} if identity.role else {}), **described}}


def _identity(args: argparse.Namespace) -> Any:
    from cachefleet.common.tls.identity import Identity
    if args.client is not None:
        if args.role is None:
            raise UsageError("argument --role: required with --client")
        if args.san:
            raise UsageError("argument --san: a client certificate carries no server names")
        return Identity.client(args.client, args.role)
    if args.role is not None:
        raise UsageError("argument --role: only a client certificate has a role")
    return Identity.host(args.host) if args.host is not None else Identity.coordinator(args.coordinator)


def _describe(cert: Any, files: dict[str, pathlib.Path]) -> dict[str, Any]:
    from cryptography import x509

    from cachefleet.common.tls.fleetca import fingerprint
    try:
        names = [str(value.value) for value in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                 .value if not isinstance(value, x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        names = []
    return {
        "Subject": cert.subject.rfc4514_string(),
        "Issuer": cert.issuer.rfc4514_string(),
        "SerialNumber": f"{cert.serial_number:x}",
        **({"SubjectAlternativeNames": names} if names else {}),
        "NotBefore": cert.not_valid_before_utc.isoformat(),
        "NotAfter": cert.not_valid_after_utc.isoformat(),
        "Fingerprint": fingerprint(cert),
        "Files": {key: str(path.absolute()) for key, path in files.items()},
    }
