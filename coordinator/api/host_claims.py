"""What a host's heartbeat may claim beyond its own name (access.check_host_caller checks that).

- Its agent endpoint must be an address its certificate names. The coordinator sends
  EnsureNode and RemoveNode for the host's nodes to that endpoint, so a host that claimed
  another host's endpoint, and reported that host's nodes as its own, would have the
  coordinator remove them there as orphans. An agent serves with the same certificate it
  calls with, and the coordinator checks the agent's certificate against the address it
  dials, so a working host never claims an endpoint outside its certificate.
- Each node it reports must be one node: its spec names the same node key, and the cluster
  and node id that key is made of. An agent reports the specs the coordinator sent it.

A host may still report nodes that are not placed on it, and must: an engine it runs for a
node placed elsewhere (re-created while the host was away, moved by a scale, its cluster
deleted meanwhile) is how the coordinator learns there is an old copy to remove or set aside.
Such a report only ever leads to calls on the reporting host itself (the orphan sweep);
what the coordinator believes of a node is read from the report of the host it is placed on.
"""
from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from cachefleet.common.tls.authz import CALLER
from cachefleet.v1 import node_agent_pb2 as agent_pb
from cryptography import x509

from coordinator.domain.errors import ApiError


def check_endpoint(agent_endpoint: str, certificate_pem: bytes | None) -> None:
    """The endpoint's host is among the DNS names and addresses of the caller's certificate.
    Nothing is checked without a caller (plaintext mode, --insecure)."""
    caller = CALLER.get()
    if caller is None:
        return
    host = _endpoint_host(agent_endpoint)
    names = _server_names(certificate_pem) if certificate_pem else frozenset()
    if not any(_matches(host, name) for name in names):
        raise ApiError("AccessDenied", f"{caller} may not announce agent endpoint {agent_endpoint!r}: "
                       f"{host!r} is not a name or address its certificate carries.")


def check_nodes(nodes: Iterable[agent_pb.NodeState]) -> None:
    """Every reported node's spec is of that node (its key, its cluster and node id)."""
    caller = CALLER.get()
    for node in nodes:
        spec = node.spec
        claimed = f"{spec.cache_cluster_id}-{spec.cache_node_id}"
        if (spec.node_key and spec.node_key != node.node_key) or \
                (spec.cache_cluster_id and spec.cache_node_id and claimed != node.node_key):
            raise ApiError("AccessDenied", f"{caller or 'the host'} reports node {node.node_key!r} with the spec of "
                           f"{spec.node_key or claimed!r}: a node is reported under its own key only.")


def _endpoint_host(endpoint: str) -> str:
    host = endpoint.rsplit(":", 1)[0] if ":" in endpoint else endpoint
    return host.strip("[]").lower().rstrip(".")


def _matches(host: str, name: str) -> bool:
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(name)
    except ValueError:
        pass
    if name.startswith("*."):
        return host.partition(".")[2] == name[2:] and "." in host
    return host == name


# Every host heartbeats with its certificate several times a second: the cache holds a fleet's
# (an LRU smaller than the fleet would miss on every heartbeat, and parse X.509 each time).
CERTIFICATES_CACHED = 16384


@functools.lru_cache(maxsize=CERTIFICATES_CACHED)
def _server_names(pem: bytes) -> frozenset[str]:
    """The DNS names and IP addresses (as text) of a certificate; cached, heartbeats repeat it."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return frozenset()
    addresses = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return frozenset(addresses | {n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)})
