"""Mutual TLS for the fleet: its CA, the identities its certificates carry, and gRPC credentials
that follow their files.

    identity.py     Identity (host, coordinator, client + Role), SPIFFE URIs, peer_identity(context)
    fleetca.py      CertificateAuthority: create, load, issue; write_issued; verify_certificate
    files.py        CredentialFiles (NAME.crt, NAME.key, ca.crt), atomic private writes
    credentials.py  server_credentials (reloads on every handshake), ReloadingChannel, channel credentials
    expiry.py       expiring(): certificates that expire within 14 days
    layout.py       where a local fleet keeps them under one directory (read without cryptography)
    localfleet.py   the CA and every certificate of a local fleet under one directory (`cachefleet up`)
"""
