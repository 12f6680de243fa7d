"""TLS in transit, decided without an engine: node certificates, the agent's checks and commands."""
from __future__ import annotations

import datetime as dt
import pathlib

import pytest
from cachefleet.v1 import cache_control_pb2, node_agent_pb2 as pb
from cryptography import x509

from cachefleet.common.tls import nodecerts
from cachefleet.common.tls.fleetca import CaError, CertificateAuthority
from cachefleet.common.tls.identity import IdentityError, identity_of
from nodeagent import transit
from nodeagent.engines import ENGINES
from nodeagent.errors import FailedPrecondition, InvalidArgument
from nodeagent.parameters import describe, live_commands, running_values
from nodeagent.specs import check_allowed, program_fields, validate

CA = CertificateAuthority.create()
KEY = nodecerts.new_key_pem()
NAMES = ["c-0001.cachefleet.internal", "127.0.1.1"]
CERT = nodecerts.sign_node(CA, nodecerts.csr_pem(KEY, "c-0001"), "c-0001", NAMES)


def spec(mode=pb.TRANSIT_ENCRYPTION_MODE_REQUIRED, cert: str = CERT, plaintext_port: int = 0, **fields) -> pb.NodeSpec:
    return pb.NodeSpec(node_key="c-0001", engine=fields.pop("engine", "redis"), port=6400, max_memory_mb=64,
                       transit_encryption=pb.TransitEncryption(mode=mode, cert_pem=cert, ca_pem=CA.bundle_pem.decode(),
                                                               plaintext_port=plaintext_port), **fields)


def test_a_node_certificate_names_what_the_signer_says_and_nobody_to_the_fleet():
    cert = x509.load_pem_x509_certificate(CERT.encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(map(str, names.get_values_for_type(x509.DNSName))) == ["c-0001.cachefleet.internal"]
    assert not names.get_values_for_type(x509.UniformResourceIdentifier)
    with pytest.raises(IdentityError):
        identity_of(cert)            # an engine's key cannot call an agent or the coordinator


def test_a_signing_request_that_is_not_a_csr_is_refused():
    with pytest.raises(CaError):
        nodecerts.sign_node(CA, "not a csr", "c-0001", NAMES)


def test_a_certificate_is_due_when_near_its_end_or_naming_other_names():
    assert not nodecerts.due(CERT, NAMES)
    assert nodecerts.due(CERT, NAMES, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=61))
    assert nodecerts.due(CERT, ["other.cachefleet.internal"])
    assert nodecerts.due("", NAMES)


def test_the_agent_starts_tls_only_with_a_certificate_for_its_own_key(tmp_path: pathlib.Path):
    with pytest.raises(InvalidArgument, match="no TLS key"):
        transit.check(spec(), tmp_path)
    (tmp_path / transit.KEY_FILE).write_bytes(KEY)
    transit.check(spec(), tmp_path)
    other = nodecerts.sign_node(CA, nodecerts.csr_pem(nodecerts.new_key_pem(), "x"), "x", NAMES)
    with pytest.raises(InvalidArgument, match="not for the key"):
        transit.check(spec(cert=other), tmp_path)
    with pytest.raises(InvalidArgument, match="plaintext_port"):
        transit.check(spec(pb.TRANSIT_ENCRYPTION_MODE_PREFERRED), tmp_path)


def test_signing_request_keeps_the_key_made_the_first_time(tmp_path: pathlib.Path):
    first = transit.signing_request(tmp_path, "c-0001")
    key = (tmp_path / transit.KEY_FILE).read_bytes()
    transit.signing_request(tmp_path, "c-0001")
    assert (tmp_path / transit.KEY_FILE).read_bytes() == key and "CERTIFICATE REQUEST" in first
    assert (tmp_path / transit.KEY_FILE).stat().st_mode & 0o777 == 0o640


def test_redis_listens_tls_on_its_port_and_plaintext_only_where_the_mode_says():
    redis, data = ENGINES["redis"], pathlib.Path("/d")

    def listen(node: pb.NodeSpec) -> list[str]:
        return redis.data_files(node, data)["listen.conf"].splitlines()[1:]
    assert listen(spec())[:2] == ["port 0", "tls-port 6400"] and "tls-replication yes" in listen(spec())
    assert listen(spec(pb.TRANSIT_ENCRYPTION_MODE_PREFERRED, plaintext_port=6401))[:2] == ["port 6401", "tls-port 6400"]
    assert listen(pb.NodeSpec(node_key="c-0001", engine="redis", port=6400)) == ["port 6400"]
    argv = redis.command("/usr/bin/redis-server", spec(), "127.0.1.1", data)
    assert argv == redis.command("/usr/bin/redis-server", pb.NodeSpec(node_key="c-0001", engine="redis", port=6400),
                                 "127.0.1.1", data)      # the mode is not on the command line


def test_a_new_certificate_is_the_same_program_and_is_applied_live():
    renewed = nodecerts.sign_node(CA, nodecerts.csr_pem(KEY, "c-0001"), "c-0001", NAMES)
    assert program_fields(spec()) == program_fields(spec(cert=renewed))
    # a redis's mode is moved live too (nodeagent/listeners.py); a memcached's is a new program
    assert program_fields(spec()) == program_fields(spec(pb.TRANSIT_ENCRYPTION_MODE_PREFERRED, plaintext_port=6401))
    assert program_fields(spec(engine="memcached")) != program_fields(
        spec(pb.TRANSIT_ENCRYPTION_MODE_PREFERRED, plaintext_port=6401, engine="memcached"))
    running = running_values(spec(), {})
    assert live_commands(spec(), running) == []
    commands = live_commands(spec(cert=renewed), running)
    assert commands == [("CONFIG", "SET", "tls-cert-file", transit.cert_name(spec(cert=renewed)),
                         "tls-ca-cert-file", transit.ca_name(spec()))]
    assert "BEGIN" not in describe(commands)
    assert live_commands(spec(cert=renewed, engine="memcached"), running, redis=False) == [("refresh_certs",)]


def test_tls_on_a_build_without_it_is_refused_before_anything_is_touched():
    installs = [cache_control_pb2.EngineInstall(engine="redis", version="6.0.9", path="/opt/redis-server", tls=False)]
    with pytest.raises(FailedPrecondition) as refused:
        validate(spec(), installs, ["127.0.1.1"])
    assert str(refused.value).startswith("InvalidParameterCombination:")
    check_allowed(spec(), installs[0])      # nothing TLS reaches the parameter allow-list


def test_the_agents_own_tls_listener_takes_a_renewed_certificate(tmp_path: pathlib.Path):
    (tmp_path / transit.KEY_FILE).write_bytes(KEY)
    transit.write_files(spec(), tmp_path)
    credentials = transit.ServerCredentials(tmp_path)
    renewed = nodecerts.sign_node(CA, nodecerts.csr_pem(KEY, "c-0001"), "c-0001", NAMES)
    transit.write_files(spec(cert=renewed), tmp_path)
    credentials.refresh()
    assert credentials._loaded == renewed.encode()
    assert sorted(p.name for p in tmp_path.glob("tls-*.crt")) == sorted(
        {transit.CA_FILE, transit.cert_name(spec(cert=renewed)), transit.ca_name(spec())})
