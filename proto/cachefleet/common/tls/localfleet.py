"""The CA and certificates of one fleet kept under one directory, as `cachefleet up` keeps them.

    ROOT/ca.crt, ROOT/ca.key              the fleet CA (ROOT is <state>/ca for `up`)
    ROOT/coordinator/coordinator.{crt,key}, ca.crt
    ROOT/hosts/<host-id>/<host-id>.{crt,key}, ca.crt
    ROOT/clients/<name>/<name>.{crt,key}, ca.crt     `admin` is the CLI's

`provision` makes what is missing and leaves the rest: started again on the same directory,
a fleet keeps its CA and certificates; a certificate that expires within 14 days, whose CA
changed or whose server names changed is issued again (and the daemons reload it).
"""
from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Mapping, Sequence

from cryptography import x509

from cachefleet.common.tls.expiry import EXPIRY_WARNING
from cachefleet.common.tls.files import CredentialError, CredentialFiles
from cachefleet.common.tls.fleetca import (CertificateAuthority, subject_alt_name, verify_certificate,
                                           write_issued)
from cachefleet.common.tls.identity import Identity, IdentityError, Role
from cachefleet.common.tls.layout import CLI_CLIENT, COORDINATOR_NAME, STATE_SUBDIR, FleetCaLayout

__all__ = ["CLI_CLIENT", "COORDINATOR_NAME", "STATE_SUBDIR", "FleetCaLayout", "provision"]


def provision(root: pathlib.Path | str, *, coordinator_sans: Sequence[str], hosts: Mapping[str, Sequence[str]],
              clients: Sequence[tuple[str, Role]] = ((CLI_CLIENT, Role.ADMIN),),
              now: dt.datetime | None = None) -> list[Identity]:
    """Make the CA under root if it has none, then every certificate that is missing or due.
    hosts: host id → the addresses its agent serves on. Returns the identities issued now."""
    layout = FleetCaLayout(pathlib.Path(root))
    ca = CertificateAuthority.load(layout.root) if layout.has_ca() else None
    if ca is None:
        ca = CertificateAuthority.create(now=now)
        ca.save(layout.root)
    wanted: list[tuple[Identity, Sequence[str], CredentialFiles]] = [
        (Identity.coordinator(COORDINATOR_NAME), coordinator_sans, layout.coordinator()),
        *[(Identity.host(host_id), sans, layout.host(host_id)) for host_id, sans in hosts.items()],
        *[(Identity.client(name, role), (), layout.client(name)) for name, role in clients],
    ]
    issued = []
    for identity, sans, files in wanted:
        if not _current(files, identity, sans, ca, now):
            files.cert.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_issued(ca.issue(identity, sans, now=now), ca, files.cert.parent, files.cert.stem)
            issued.append(identity)
    return issued


def _current(files: CredentialFiles, identity: Identity, sans: Sequence[str], ca: CertificateAuthority,
             now: dt.datetime | None) -> bool:
    """Whether files already hold identity's certificate from this CA, with these server names,
    good for more than EXPIRY_WARNING."""
    try:
        material = files.load()
        if material.ca_pem != ca.bundle_pem:
            return False
        if verify_certificate(material.cert_pem, ca.bundle_pem, now=now) != identity:
            return False
    except (CredentialError, IdentityError):
        return False
    when = now if now is not None else dt.datetime.now(dt.UTC)
    if material.cert.not_valid_after_utc - when < EXPIRY_WARNING:
        return False
    names = material.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {name for name in names if not isinstance(name, x509.UniformResourceIdentifier)}
    return have == {subject_alt_name(value) for value in sans}
