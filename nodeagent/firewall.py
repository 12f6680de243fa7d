"""Cache security groups, the agent's half: this host's engine ports behind nftables.

The coordinator sends the whole host's rules (SetFirewall): each guarded port (a node's
address and port) with the CIDR ranges its security groups authorize, and the fleet's own
hosts. The agent writes them as one table of its own (`inet cachefleet` unless
`--firewall-table` says otherwise), replaced whole in one `nft -j -f -` transaction: the
table is added, deleted and written again in one batch, so there is never a moment with
half the rules or none. Per port, one rule drops every packet whose source is neither
authorized nor a fleet host; other traffic is not this table's business (policy accept).
Dropping packets, not just new connections, stops an open connection from a revoked range at
once; its sockets are then destroyed too (`ss -K`, SOCK_DESTROY: the engine frees them and the
client gets a reset) so neither side waits for a timeout. The table is in the kernel, so it
outlives agent restarts; a request without ports deletes it (the last node is gone). The last
request taken is also kept in the state directory (`firewall.json`) and written again when the
agent starts, before it starts any engine: after a reboot the ports are shut before they open.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pathlib

import structlog
from cachefleet.v1 import node_agent_pb2
from google.protobuf import json_format

from nodeagent.errors import FailedPrecondition, InvalidArgument
from nodeagent.layout import write_atomic

log = structlog.get_logger("nodeagent.firewall")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_TABLE = "cachefleet"
TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
PRIORITY = -5          # before a distribution's own filter (0): an accept there cannot let a client past
COMMAND_TIMEOUT_S = 10.0
KILLS_PER_CALL = 64    # socket tuples per `ss -K` filter expression


class FirewallUnavailable(FailedPrecondition):
    """This host cannot enforce cache security groups (no nft, not root, no CAP_NET_ADMIN)."""

    code = "FirewallUnavailable"


@dataclass(frozen=True)
class Guard:
    """One guarded port and every source range it takes (authorized ones and the fleet's)."""
    address: Address
    port: int
    allowed: tuple[Network, ...]

    def admits(self, peer: Address) -> bool:
        return any(peer in network for network in self.allowed)


def _network(value: str, what: str) -> Network:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise InvalidArgument(f"{what} {value!r} is not a CIDR range") from None


def guards(request: node_agent_pb2.SetFirewallRequest) -> list[Guard]:
    """The request checked and made into guards (InvalidArgument for anything malformed)."""
    fleet = [_network(s, "fleet source") for s in request.fleet_sources]
    found = []
    for port in request.ports:
        try:
            address = ipaddress.ip_address(port.address)
        except ValueError:
            raise InvalidArgument(f"firewall port address {port.address!r} is not an address") from None
        if not 0 < port.port < 65536:
            raise InvalidArgument(f"firewall port {port.port} of {port.address} is out of range")
        ranges = [_network(c, "CIDR") for c in port.cidrs] + fleet
        same_family = [r for r in ranges if r.version == address.version]
        collapsed = tuple(ipaddress.collapse_addresses(same_family))  # type: ignore[type-var]
        found.append(Guard(address, port.port, collapsed))
    return found


def _prefix(network: Network) -> dict[str, object]:
    return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}


def _rule(table: str, guard: Guard) -> dict[str, object]:
    family = "ip" if guard.address.version == 4 else "ip6"
    expr: list[dict[str, object]] = [
        {"match": {"op": "==", "left": {"payload": {"protocol": family, "field": "daddr"}},
                   "right": str(guard.address)}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": guard.port}},
    ]
    if guard.allowed:
        expr.append({"match": {"op": "!=", "left": {"payload": {"protocol": family, "field": "saddr"}},
                               "right": {"set": [_prefix(n) for n in guard.allowed]}}})
    expr.append({"drop": None})
    return {"add": {"rule": {"family": "inet", "table": table, "chain": "input", "expr": expr}}}


def ruleset(table: str, found: Sequence[Guard]) -> dict[str, object]:
    """The whole table as one nft JSON batch: (re)created with exactly these rules."""
    ident = {"family": "inet", "name": table}
    commands: list[dict[str, object]] = [
        {"add": {"table": ident}}, {"delete": {"table": ident}}, {"add": {"table": ident}},
        {"add": {"chain": {"family": "inet", "table": table, "name": "input", "type": "filter", "hook": "input",
                           "prio": PRIORITY, "policy": "accept"}}},
    ]
    commands += [_rule(table, g) for g in found]
    return {"nftables": commands}


def _endpoint(text: str) -> tuple[Address, int] | None:
    host, _, port = text.rpartition(":")
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address, int(port)
    except ValueError:
        return None


def refused_connections(ss_output: str, found: Iterable[Guard]) -> list[tuple[str, str]]:
    """(local, peer) of every established connection to a guarded port from a source it no
    longer takes, as `ss -Htn state established` printed them."""
    by_port = {(g.address, g.port): g for g in found}
    refused = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local, peer = _endpoint(fields[2]), _endpoint(fields[3])
        if local is None or peer is None:
            continue
        guard = by_port.get(local)
        if guard is not None and not guard.admits(peer[0]):
            refused.append((fields[2], fields[3]))
    return refused


class HostFirewall:
    def __init__(self, table: str = DEFAULT_TABLE, nft: str = "nft", ss: str = "ss",
                 state_file: pathlib.Path | None = None) -> None:
        self.table = table
        self.nft = nft
        self.ss = ss
        self.state_file = state_file   # the last request taken (None: not kept)

    async def restore(self) -> None:
        """At start, before any engine: write again the rules last taken (an unreadable file,
        or an nft that refuses, is logged; the coordinator's next push decides)."""
        if self.state_file is None:
            return
        try:
            request = json_format.Parse(self.state_file.read_text(), node_agent_pb2.SetFirewallRequest())
            await self.set(request)
        except FileNotFoundError:
            return
        except (OSError, json_format.ParseError, FailedPrecondition, InvalidArgument) as error:
            log.error("firewall rules not restored", path=str(self.state_file), error=str(error))
            return
        log.info("firewall rules restored", ports=len(request.ports))

    async def _run(self, argv: Sequence[str], stdin: bytes = b"") -> tuple[int, str, str]:
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise FirewallUnavailable(f"cannot run {argv[0]}: {exc}") from None
        out, err = await asyncio.wait_for(proc.communicate(stdin), COMMAND_TIMEOUT_S)
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace").strip()

    async def check(self) -> bool:
        """Whether nft answers here; said loudly at start when it does not (the coordinator
        hears it again, as a host event, at its first SetFirewall)."""
        try:
            code, _, err = await self._run([self.nft, "list", "tables"])
        except FirewallUnavailable as exc:
            code, err = 1, exc.detail
        if code != 0:
            log.error("cache security groups cannot be enforced on this host: nft does not answer "
                      "(the agent needs root or CAP_NET_ADMIN, and Debian's nftables)", error=err)
        return code == 0

    async def set(self, request: node_agent_pb2.SetFirewallRequest) -> node_agent_pb2.SetFirewallResponse:
        found = guards(request)
        started = time.monotonic()
        if not found:
            await self.remove()
            self._keep(request)
            return node_agent_pb2.SetFirewallResponse()
        code, _, err = await self._run([self.nft, "-j", "-f", "-"], json.dumps(ruleset(self.table, found)).encode())
        if code != 0:
            log.error("cache security groups NOT enforced: nft refused the rules", table=self.table, error=err)
            raise FirewallUnavailable(f"nft could not write table inet {self.table}: {err}")
        self._keep(request)
        cut = await self._cut(found)
        log.info("firewall set", table=self.table, ports=len(found), connections_cut=cut,
                 ms=round((time.monotonic() - started) * 1000, 1))
        return node_agent_pb2.SetFirewallResponse(connections_cut=cut)

    def _keep(self, request: node_agent_pb2.SetFirewallRequest) -> None:
        if self.state_file is not None:
            write_atomic(self.state_file, json_format.MessageToJson(request) + "\n")

    async def remove(self) -> None:
        """Delete the table (the host has no node left); nothing to delete is fine."""
        code, _, err = await self._run([self.nft, "delete", "table", "inet", self.table])
        if code != 0 and "No such file" not in err:
            log.error("firewall table not removed", table=self.table, error=err)
            raise FirewallUnavailable(f"nft could not delete table inet {self.table}: {err}")
        if code == 0:
            log.info("firewall removed", table=self.table)

    async def _cut(self, found: Sequence[Guard]) -> int:
        """Destroy the established connections the new rules no longer take."""
        code, out, err = await self._run([self.ss, "-Htn", "state", "established"])
        if code != 0:
            log.error("established connections not listed; none cut", error=err)
            return 0
        refused = refused_connections(out, found)
        for start in range(0, len(refused), KILLS_PER_CALL):
            chunk = refused[start:start + KILLS_PER_CALL]
            expression = " or ".join(f"( src {local} and dst {peer} )" for local, peer in chunk)
            code, _, err = await self._run([self.ss, "-K", "-tn", "state", "established", expression])
            if code != 0:
                log.error("connections from revoked sources not cut", error=err, connections=len(chunk))
        return len(refused)
