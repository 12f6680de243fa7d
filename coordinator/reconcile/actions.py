"""What a decision may answer when it has nothing to do: shared by every decide_* module.

A decision returns an action value; the reconciler carries it out. Every action has a
`reason` (why it was chosen, for tests and debugging) and a `sentence` (what the cycle
logs; "" when the cycle does nothing a user would see).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Action(Protocol):
    """What every action value of a decide_* module offers its reconciler."""

    @property
    def reason(self) -> str: ...

    @property
    def sentence(self) -> str: ...

    @property
    def events(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class NoAction:
    """Nothing to do: the observed state is what is wanted, or the decision is not ours."""
    reason: str = ""

    @property
    def sentence(self) -> str:
        return ""

    @property
    def events(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class Wait:
    """Something is to be done, but not yet: the cycle looks again next time."""
    reason: str

    @property
    def sentence(self) -> str:
        return ""

    @property
    def events(self) -> tuple[str, ...]:
        return ()


class OneEvent:
    """A mixin for an action whose whole effect is its `message`: the cycle's sentence (after
    the group or cluster id) and its one event."""
    group_id: str

    @property
    def message(self) -> str:
        raise NotImplementedError

    @property
    def sentence(self) -> str:
        return f"{self.group_id}: {self.message}"

    @property
    def events(self) -> tuple[str, ...]:
        return (self.message,)
