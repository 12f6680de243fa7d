"""Engine versions: parsing, ordering, families, and what counts as a major change.

The FAQ's rule: in X.Y.Z a change of X or Y is a major version change, of Z a minor
one. A family (what a parameter group is for) is the engine and X.Y: `redis6.0`,
`redis7.0`, `memcached1.6`. A version as asked for may be a prefix (`7`, `7.0`) that
stands for the newest installed version under it; a full version matches only itself.

Pure functions over strings, shared by the coordinator (validation, placement,
DescribeCacheEngineVersions, patching) and the agent (which binary runs a spec).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["ENGINE_DESCRIPTIONS", "compare", "family", "is_downgrade", "is_major_change",
           "is_upgrade", "key", "major", "matches", "newest", "parse", "resolve", "valid"]

_VERSION = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?([-+~][0-9A-Za-z.+~-]*)?")

ENGINE_DESCRIPTIONS = {"redis": "Redis", "memcached": "memcached"}


def valid(version: str) -> bool:
    """Whether version looks like X, X.Y or X.Y.Z (with an optional -suffix)."""
    return bool(_VERSION.fullmatch(version or ""))


def parse(version: str) -> tuple[int, ...]:
    """(X, Y, Z) of X.Y.Z as ints; missing parts of a prefix are left out. ValueError if malformed."""
    match = _VERSION.fullmatch(version or "")
    if not match:
        raise ValueError(f"not an engine version: {version!r}")
    return tuple(int(part) for part in match.groups()[:3] if part is not None)


def key(version: str) -> tuple:
    """A sort key: numeric parts in order, a release after its pre-releases (7.0.0-rc1 < 7.0.0).

    Unparseable strings sort before every version, so they are never the newest.
    """
    match = _VERSION.fullmatch(version or "")
    if not match:
        return ((-1,), 0, version or "")
    numbers = tuple(int(part) if part is not None else 0 for part in match.groups()[:3])
    suffix = match.group(4) or ""
    return (numbers, 0 if suffix.startswith("-") else 1, suffix)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as a is older than, the same as, or newer than b."""
    ka, kb = key(a), key(b)
    return (ka > kb) - (ka < kb)


def newest(versions: Iterable[str]) -> str | None:
    """The newest of versions, None when there are none."""
    versions = list(versions)
    return max(versions, key=key) if versions else None


def major(version: str) -> str:
    """X.Y of X.Y.Z: what a major version is (and a family's number)."""
    parts = parse(version)
    return f"{parts[0]}.{parts[1] if len(parts) > 1 else 0}"


def family(engine: str, version: str) -> str:
    """The parameter group family of engine at version: `redis6.0`, `redis7.0`, `memcached1.6`."""
    return f"{engine}{major(version)}"


def is_major_change(a: str, b: str) -> bool:
    """Whether going from a to b changes X or Y of X.Y.Z (either way)."""
    return major(a) != major(b)


def is_upgrade(current: str, target: str) -> bool:
    return compare(target, current) > 0


def is_downgrade(current: str, target: str) -> bool:
    return compare(target, current) < 0


def matches(wanted: str, version: str) -> bool:
    """'' matches any version; '7.0' and '7' match '7.0.15'; '7.0.1' does not match '7.0.15'."""
    return not wanted or version == wanted or version.startswith(wanted + ".")


def resolve(wanted: str, available: Iterable[str]) -> str | None:
    """The version wanted stands for: itself if available, else the newest available under it
    as a prefix ('' = the newest of all); None when nothing matches."""
    available = set(available)
    if wanted in available:
        return wanted
    return newest(v for v in available if matches(wanted, v))
