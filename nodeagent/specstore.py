"""The specs this agent runs, one JSON file per node, so a restarted agent knows what runs."""
from __future__ import annotations

import json
from typing import Any

import structlog
from cachefleet.v1 import node_agent_pb2
from google.protobuf import json_format

from nodeagent.enums import Role
from nodeagent.layout import StateDir, write_atomic
from nodeagent.specs import NODE_KEY

log = structlog.get_logger("nodeagent.specstore")


class SpecStore:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    def save(self, spec: node_agent_pb2.NodeSpec) -> None:
        text = json_format.MessageToJson(spec, preserving_proto_field_name=True, sort_keys=True)
        write_atomic(self.state.spec_file(spec.node_key), text + "\n")

    def delete(self, node_key: str) -> None:
        self.state.spec_file(node_key).unlink(missing_ok=True)

    def load_all(self) -> dict[str, node_agent_pb2.NodeSpec]:
        """Every saved spec; an unreadable file is logged and skipped, never fatal."""
        specs: dict[str, node_agent_pb2.NodeSpec] = {}
        for path in sorted(self.state.nodes_dir.glob("*.json")):
            try:
                spec = json_format.ParseDict(with_role_name(json.loads(path.read_text())),
                                             node_agent_pb2.NodeSpec())
            except (OSError, ValueError, json_format.ParseError) as error:
                log.error("unreadable node spec skipped", path=str(path), error=str(error))
                continue
            if spec.node_key != path.stem or not NODE_KEY.fullmatch(spec.node_key):
                log.error("node spec does not match its file name; skipped", path=str(path))
                continue
            specs[spec.node_key] = spec
        return specs


def with_role_name(data: Any) -> Any:
    """A saved spec with its role as the protocol's enum name. Agents before the Role enum
    saved "primary" / "replica"; an upgraded agent must still know its running primaries."""
    if isinstance(data, dict) and data.get("role") in {role.value for role in Role}:
        return {**data, "role": node_agent_pb2.Role.Name(Role(data["role"]).proto)}
    return data
