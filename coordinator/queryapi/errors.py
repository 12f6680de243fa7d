"""A Query API refusal: an ElastiCache (or AWS protocol) error code and its message."""
from __future__ import annotations


class QueryError(Exception):
    """Refused before or instead of a servicer call; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def invalid(message: str) -> QueryError:
    return QueryError("InvalidParameterValue", message)
