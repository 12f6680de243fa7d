"""The interface every engine adapter implements, and checks they share."""
from __future__ import annotations

import pathlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Mapping

from cachefleet.v1 import node_agent_pb2

from nodeagent.errors import InvalidArgument

_CONTROL = re.compile(r"[\x00-\x1f\x7f;#]")


@dataclass(frozen=True)
class ProbeResult:
    """One health probe: ok means the engine serves; answered means something replied at all."""

    ok: bool
    answered: bool
    detail: str = ""


class Engine(ABC):
    """One engine kind (memcached, redis)."""

    name: str                    # as in EngineInstall.engine and NodeSpec.engine
    binary: str                  # the name looked up on PATH
    version_args: tuple[str, ...]

    @abstractmethod
    def parse_version(self, output: str) -> str | None:
        """The version from the output of `binary *version_args`, None if it is not this engine."""

    @abstractmethod
    def command(self, binary: str, spec: node_agent_pb2.NodeSpec, address: str,
                data_dir: pathlib.Path) -> list[str]:
        """argv that runs the node in the foreground, bound to address:spec.port."""

    @abstractmethod
    def check_parameters(self, parameters: Mapping[str, str]) -> None:
        """Raise InvalidArgument for a parameter this engine cannot take."""

    @abstractmethod
    def probe(self, spec: node_agent_pb2.NodeSpec) -> tuple[bytes, int]:
        """The bytes to send and how many reply lines to read."""

    @abstractmethod
    def judge(self, lines: list[str]) -> ProbeResult:
        """Whether the reply lines mean the node serves."""


def check_values(parameters: Mapping[str, str]) -> None:
    """Values end up in a supervisord program file: no control characters or comment marks."""
    for name, value in parameters.items():
        if _CONTROL.search(value):
            raise InvalidArgument(
                f"parameter {name!r} has a value with a control character, ';' or '#'")
