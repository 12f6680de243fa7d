"""NodeSpec rules: what a valid spec is on this host, and when two specs differ.

Validation is pure and runs before anything is touched, so a rejected request
changes nothing.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from cachefleet.v1 import cache_control_pb2, node_agent_pb2

from cachefleet.common import parameter_catalog
from nodeagent import acl
from nodeagent.engines import ENGINES, Engine, Role, select_install
from nodeagent.errors import FailedPrecondition, InvalidArgument

NODE_KEY = re.compile(r"[a-z][a-z0-9-]{0,80}")
PORTS = range(1024, 65536)
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")  # an IP address or a DNS name
ROLE_FIELDS = ("role", "primary_address", "primary_port", "write_fenced")


def check_node_key(node_key: str) -> None:
    """node_key names files and a supervisord program: nothing else may get through."""
    if not NODE_KEY.fullmatch(node_key):
        raise InvalidArgument(f"node_key {node_key!r} must match {NODE_KEY.pattern}")


def bind_address(spec: node_agent_pb2.NodeSpec, main_address: str) -> str:
    """The address the node listens on: its own, or the host's main address when it names none."""
    return spec.bind_address or main_address


def validate(spec: node_agent_pb2.NodeSpec,
             installs: Sequence[cache_control_pb2.EngineInstall],
             addresses: Sequence[str]) -> tuple[Engine, cache_control_pb2.EngineInstall]:
    """The engine adapter and the installed binary for spec, or InvalidArgument/FailedPrecondition.

    addresses: the host's own, main first; a spec may bind only to one of them.
    """
    check_node_key(spec.node_key)
    engine = ENGINES.get(spec.engine)
    if engine is None:
        raise InvalidArgument(f"engine {spec.engine!r} is not one of {', '.join(sorted(ENGINES))}")
    if spec.port not in PORTS:
        raise InvalidArgument(f"port {spec.port} is outside {PORTS.start}-{PORTS.stop - 1}")
    if spec.max_memory_mb <= 0:
        raise InvalidArgument(f"max_memory_mb must be positive, not {spec.max_memory_mb}")
    if spec.reboot_generation < 0:
        raise InvalidArgument(f"reboot_generation must not be negative, not {spec.reboot_generation}")
    if spec.bind_address and spec.bind_address not in addresses:
        raise FailedPrecondition(f"bind_address {spec.bind_address} is not an address of this host "
                                 f"({', '.join(addresses)})", code="AddressNotOnHost")
    check_role(spec, engine, bind_address(spec, addresses[0]))
    engine.check_parameters(spec.parameters)
    unknown = sorted(set(spec.immediate_parameters) - set(spec.parameters))
    if unknown:
        raise InvalidArgument(f"immediate_parameters names parameters the spec does not set: {', '.join(unknown)}")
    install = select_install(installs, spec.engine, spec.engine_version)
    if install is None:
        have = ", ".join(f"{i.engine} {i.version}" for i in installs) or "none"
        raise FailedPrecondition(
            f"{spec.engine} {spec.engine_version or '(any version)'} is not installed on this "
            f"host (installed: {have})", code="EngineNotInstalled")
    if spec.transit_encryption.mode and not install.tls:
        raise FailedPrecondition(f"{spec.engine} {install.version} ({install.path}) is built without TLS: "
                                 "transit encryption needs a build with it")
    check_allowed(spec, install)
    acl.check(spec, install.version)
    engine.check_parameters(spec.parameters, install.path)  # what this binary takes
    return engine, install


def check_allowed(spec: node_agent_pb2.NodeSpec, install: cache_control_pb2.EngineInstall) -> None:
    """A spec sets only what the parameter catalogue lets operators change for the binary's
    family: an allow-list, never a deny-list, so nothing unreviewed (`loadmodule`, `dir`,
    `aclfile`, a parameter a newer engine adds) reaches the engine's configuration. Where a
    node listens, its data directory, role, fence and memory are the agent's own settings,
    never a spec's parameters. A family without a catalogue takes no parameters at all."""
    family = parameter_catalog.family_of(spec.engine, install.version) or f"{spec.engine} {install.version}"
    refused = sorted(set(spec.parameters) - parameter_catalog.modifiable(family))
    if refused:
        raise InvalidArgument(f"parameter(s) {', '.join(map(repr, refused))} may not be set on {family}: "
                              f"a node spec carries only the parameters the {family} catalogue lists as modifiable")
    not_live = sorted(set(spec.immediate_parameters) - parameter_catalog.immediate(family))
    if not_live:
        raise InvalidArgument(f"immediate_parameters names parameter(s) {family} does not apply live: "
                              f"{', '.join(map(repr, not_live))}")


def check_role(spec: node_agent_pb2.NodeSpec, engine: Engine, address: str) -> None:
    """role, and the primary a replica follows (it ends up in a config file: nothing else gets in).

    primary_* and write_fenced mean nothing outside their role and are ignored there.
    """
    try:
        role = Role.of(spec.role)
    except ValueError:
        known = ", ".join(node_agent_pb2.Role.keys())
        raise InvalidArgument(f"role {spec.role} is not one of {known}") from None
    if role and not engine.has_roles:
        raise InvalidArgument(f"{engine.name} nodes have no role; role must be ROLE_UNSPECIFIED")
    if role is Role.REPLICA and not (spec.primary_address and spec.primary_port):
        raise InvalidArgument("a replica needs primary_address and primary_port")
    if spec.primary_address and not HOST.fullmatch(spec.primary_address):
        raise InvalidArgument(f"primary_address {spec.primary_address!r} is not an address or name")
    if spec.primary_port and spec.primary_port not in PORTS:
        raise InvalidArgument(f"primary_port {spec.primary_port} is outside {PORTS.start}-{PORTS.stop - 1}")
    if role is Role.REPLICA and (spec.primary_address, spec.primary_port) == (address, spec.port):
        raise InvalidArgument(f"a replica cannot follow itself ({address}:{spec.port})")


def program_fields(spec: node_agent_pb2.NodeSpec) -> node_agent_pb2.NodeSpec:
    """spec without reboot_generation, the role fields, which the engine takes live, and the
    fields its engine reads only when it starts (parameters; redis: max_memory_mb too).

    Two specs that differ in nothing else are the same program: a role or parameter change
    never touches the program file, even one an older agent rendered.
    """
    copy = node_agent_pb2.NodeSpec()
    copy.CopyFrom(spec)
    engine = ENGINES.get(spec.engine)
    for name in ("reboot_generation", *ROLE_FIELDS, *(engine.start_time_fields if engine else ())):
        copy.ClearField(name)
    # A new certificate or CA bundle is taken live (CONFIG SET, refresh_certs); so is a redis's
    # mode (its listeners: nodeagent/listeners.py), not a memcached's.
    copy.transit_encryption.ClearField("cert_pem")
    copy.transit_encryption.ClearField("ca_pem")
    # ACL users (AUTH tokens) and the replication password are applied live too (nodeagent/acl.py).
    copy.ClearField("acl_users")
    copy.ClearField("replication_password")
    if spec.engine == "redis":
        copy.ClearField("transit_encryption")
    return copy
