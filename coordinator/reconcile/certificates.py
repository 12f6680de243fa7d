"""Node certificates for TLS in transit: which names a node's certificate carries, whether the
one it runs will do, and the signing of a new one for the key its agent made.

The coordinator keeps no certificate: the one a node runs comes back in its agent's reports
(NodeState.spec), and is kept in the spec sent while it is good for more than 30 days
(nodecerts.RENEW_BEFORE) and names what the node is now; otherwise the agent is asked for a
signing request and the new certificate goes out in the next EnsureNode, taken without a
restart. The CA is read from --node-ca-dir (for `cachefleet up`, the fleet's own CA); the
coordinator takes only the public key from a request, never a name.
"""
from __future__ import annotations

import pathlib

from cachefleet.v1 import node_agent_pb2 as agent_pb

from cachefleet.common.tls import nodecerts
from cachefleet.common.tls.fleetca import CertificateAuthority
from coordinator.domain.dnsnames import configuration_name, node_name, primary_name, reader_name
from coordinator.domain.model import Cluster, Node

MODES = {"preferred": agent_pb.TRANSIT_ENCRYPTION_MODE_PREFERRED,
         "required": agent_pb.TRANSIT_ENCRYPTION_MODE_REQUIRED}


def node_names(cluster: Cluster, node: Node, zone: str) -> list[str]:
    """The node's DNS name and address, and the endpoints of its cluster that can lead to it."""
    names = [node_name(cluster.cluster_id, node.node_id, zone)]
    if cluster.engine == "memcached":
        names.append(configuration_name(cluster.cluster_id, zone))
    if cluster.replication_group_id:
        names += [primary_name(cluster.replication_group_id, zone), reader_name(cluster.replication_group_id, zone)]
    if node.address:
        names.append(node.address)
    return names


def kept_certificate(reported: agent_pb.NodeState | None, names: list[str]) -> str:
    """The certificate the node runs, while it will do; "" when a new one is needed."""
    held = reported.spec.transit_encryption.cert_pem if reported is not None else ""
    return held if held and not nodecerts.due(held, names) else ""


class NodeSigner:
    """The nodes' CA, read again when its certificate file changes (a CA added to the bundle)."""

    def __init__(self, ca_dir: pathlib.Path | str) -> None:
        self.ca_dir = pathlib.Path(ca_dir)
        self._ca = CertificateAuthority.load(self.ca_dir)
        self._stamp = self._mtime()

    def _mtime(self) -> int:
        return (self.ca_dir / "ca.crt").stat().st_mtime_ns

    def _current(self) -> CertificateAuthority:
        if self._mtime() != self._stamp:
            self._ca, self._stamp = CertificateAuthority.load(self.ca_dir), self._mtime()
        return self._ca

    @property
    def bundle_pem(self) -> str:
        return self._current().bundle_pem.decode()

    def sign(self, request_pem: str, node_key: str, names: list[str]) -> str:
        return nodecerts.sign_node(self._current(), request_pem, node_key, names)

    def __repr__(self) -> str:
        return f"NodeSigner({str(self.ca_dir)!r})"


def with_transit(spec: agent_pb.NodeSpec, cluster: Cluster, signer: NodeSigner | None) -> agent_pb.NodeSpec:
    """spec with the cluster's TLS mode and the CA bundle (the certificate is filled in apart).
    Without a signer the CA bundle is empty, and the agent refuses the spec, which says why."""
    mode = MODES.get(cluster.transit_encryption_mode)
    if mode is not None:
        spec.transit_encryption.CopyFrom(agent_pb.TransitEncryption(
            mode=mode, ca_pem=signer.bundle_pem if signer is not None else "", plaintext_port=cluster.plaintext_port))
    return spec
