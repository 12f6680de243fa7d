"""Domain errors of the agent; service.py maps them to gRPC status codes.

Each carries an ElastiCache-style error code that leads its message, as the
coordinator's errors do.
"""
from __future__ import annotations


class AgentError(Exception):
    """Base of the errors a caller can act on; never carries a stack trace outward."""

    code = "InternalFailure"

    def __init__(self, detail: str, code: str | None = None) -> None:
        self.code = code or self.code
        self.detail = detail
        super().__init__(f"{self.code}: {detail}")


class InvalidArgument(AgentError):
    """The request itself is wrong; resending it will never work."""

    code = "InvalidParameterValue"


class FailedPrecondition(AgentError):
    """The request is well-formed but this host cannot do it (engine missing, port clash)."""

    code = "InvalidParameterCombination"
