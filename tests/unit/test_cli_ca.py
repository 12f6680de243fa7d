"""`cachefleet ca init` and `cachefleet ca issue`: files, output and exit codes."""
from __future__ import annotations

import json
import os
import stat

import pytest

from cachefleet.common.tls.files import CredentialFiles
from cachefleet.common.tls.fleetca import verify_certificate
from cachefleet.common.tls.identity import Identity
from coordinator.cli import main as cli


def run(capsys, *words: str) -> tuple[int, str, str]:
    code = cli.main(list(words))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_then_issue_a_host_certificate(tmp_path, capsys):
    code, out, _ = run(capsys, "ca", "init", "--dir", str(tmp_path / "ca"))
    assert code == 0
    authority = json.loads(out)["CertificateAuthority"]
    assert authority["Subject"].startswith("CN=cachefleet fleet CA ")
    assert authority["Files"] == {"Certificate": str(tmp_path / "ca" / "ca.crt")}
    code, out, _ = run(capsys, "ca", "issue", "--ca-dir", str(tmp_path / "ca"), "--host", "host1",
                       "--san", "127.0.1.1", "--san", "host1.example.com", "--out", str(tmp_path / "h1"))
    assert code == 0
    issued = json.loads(out)["Certificate"]
    assert (issued["Identity"], issued["Kind"], issued["Name"]) == ("spiffe://cachefleet/host/host1", "host", "host1")
    assert issued["SubjectAlternativeNames"] == ["127.0.1.1", "host1.example.com"]
    assert "Role" not in issued
    files = CredentialFiles.in_dir(tmp_path / "h1", "host1")
    assert issued["Files"] == {"Certificate": str(files.cert), "PrivateKey": str(files.key),
                               "CertificateAuthority": str(files.ca)}
    assert stat.S_IMODE(os.stat(files.key).st_mode) == 0o600
    assert verify_certificate(files.cert.read_bytes(), (tmp_path / "ca" / "ca.crt").read_bytes()) == \
        Identity.host("host1")


def test_issue_a_client_certificate_with_its_role_as_text(tmp_path, capsys):
    assert run(capsys, "ca", "init", "--dir", str(tmp_path / "ca"))[0] == 0
    code, out, _ = run(capsys, "ca", "issue", "--ca-dir", str(tmp_path / "ca"), "--client", "alice",
                       "--role", "operator", "--out", str(tmp_path / "alice"),
                       "--query", "Certificate.[Identity,Role]", "--output", "text")
    assert (code, out) == (0, "spiffe://cachefleet/client/operator/alice\toperator\n")
    assert CredentialFiles.in_dir(tmp_path / "alice", "alice").exists()


@pytest.mark.parametrize("words, message", [
    (["--client", "alice"], "argument --role: required with --client"),
    (["--host", "h1", "--role", "admin"], "argument --role: only a client certificate has a role"),
    (["--client", "alice", "--role", "admin", "--san", "127.0.0.1"], "a client certificate carries no server names"),
    (["--client", "alice", "--role", "root"], "invalid choice: 'root'"),
    (["--host", "h1", "--coordinator", "c"], "not allowed with argument"),
    (["--host", "../etc"], "invalid host name '../etc'"),
    (["--host", "h1", "--san", "bad name"], "invalid subject alternative name 'bad name'"),
    (["--host", "h1", "--days", "0"], "argument --days: must be positive"),
])
def test_a_wrong_issue_is_a_usage_error(tmp_path, capsys, words, message):
    assert run(capsys, "ca", "init", "--dir", str(tmp_path / "ca"))[0] == 0
    code, out, err = run(capsys, "ca", "issue", "--ca-dir", str(tmp_path / "ca"), "--out", str(tmp_path / "o"), *words)
    assert (code, out) == (252, "")
    assert message in err
    assert not (tmp_path / "o").exists()


def test_a_second_init_and_a_missing_ca_fail_without_a_trace(tmp_path, capsys):
    assert run(capsys, "ca", "init", "--dir", str(tmp_path))[0] == 0
    code, out, err = run(capsys, "ca", "init", "--dir", str(tmp_path))
    assert (code, out) == (255, "")
    assert "already holds a fleet CA" in err and "Traceback" not in err
    code, out, err = run(capsys, "ca", "issue", "--ca-dir", str(tmp_path / "nowhere"), "--host", "h1",
                         "--out", str(tmp_path / "o"))
    assert (code, out) == (255, "")
    assert "no fleet CA in" in err and "cachefleet ca init --dir DIR" in err


def test_a_certificate_never_overwrites_the_cas_own_files(tmp_path, capsys):
    assert run(capsys, "ca", "init", "--dir", str(tmp_path))[0] == 0
    before = (tmp_path / "ca.key").read_bytes()
    code, out, err = run(capsys, "ca", "issue", "--ca-dir", str(tmp_path), "--host", "ca", "--out", str(tmp_path))
    assert (code, out) == (255, "")
    assert "cannot write a certificate named 'ca'" in err
    assert (tmp_path / "ca.key").read_bytes() == before
