"""The parameter catalogue of each engine family, as both daemons read it.

scripts/gen-parameter-catalog writes one JSON file per family (`catalog/redis7.0.json`,
...) from the engines themselves plus the coordinator's own knowledge: every parameter,
its default, type, allowed values, whether operators may change it and how a change is
applied. The coordinator builds parameter groups on it (coordinator/parameters); the
agent takes from a NodeSpec only the parameters it lists as modifiable for the engine
(`modifiable`): an allow-list, so a parameter nobody reviewed (`loadmodule`, `dir`,
`aclfile`, one a newer engine adds) never reaches an engine's configuration.
"""
from __future__ import annotations

import functools
import json
import pathlib
import re
from typing import Any

from cachefleet.common import versions

CATALOG_DIR = pathlib.Path(__file__).resolve().parent / "catalog"
_FAMILY = re.compile(r"[a-z]+[0-9]+\.[0-9]+")


def families() -> list[str]:
    """Every family that has a catalogue."""
    return sorted(p.stem for p in CATALOG_DIR.glob("*.json"))


@functools.cache
def load(family: str) -> dict[str, Any] | None:
    """The catalogue file of family as written (`family`, `engine`, `parameters`), None if there is none."""
    path = CATALOG_DIR / f"{family}.json"
    if not _FAMILY.fullmatch(family) or not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def family_of(engine: str, version: str) -> str | None:
    """The family of engine at version (`redis`, `7.0.15` -> `redis7.0`), None when version is malformed."""
    try:
        return versions.family(engine, version)
    except ValueError:
        return None


@functools.cache
def modifiable(family: str) -> frozenset[str]:
    """The engine parameters operators may set in family: all a node spec may carry.

    A family without a catalogue has none. Parameters the coordinator applies itself
    (`reserved-memory`) are not engine parameters and are not among them."""
    data = load(family)
    if data is None:
        return frozenset()
    return frozenset(p["name"] for p in data["parameters"] if p["modifiable"] and p["applies_to"] == "engine")


@functools.cache
def immediate(family: str) -> frozenset[str]:
    """The modifiable engine parameters of family a running engine takes at once (CONFIG SET)."""
    data = load(family)
    if data is None:
        return frozenset()
    return frozenset(p["name"] for p in data["parameters"] if p["name"] in modifiable(family)
                     and p["change_type"] == "immediate")
