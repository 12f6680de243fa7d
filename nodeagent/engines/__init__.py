"""Cache engines the agent can run: the registry of adapters and discovery of installed binaries.

An Engine (base.py) turns a NodeSpec into a foreground command line and says how
to probe a running node; everything engine-specific lives in its own module.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence

import structlog
from cachefleet.v1 import cache_control_pb2

from cachefleet.common import versions
from nodeagent.engines.base import Engine, ProbeResult, Session, check_values
from nodeagent.engines.memcached import Memcached
from nodeagent.engines.redis import Redis
from nodeagent.enums import Role

__all__ = ["ENGINES", "Engine", "ProbeResult", "Role", "Session", "check_values", "discover",
           "select_install", "version_matches"]

log = structlog.get_logger("nodeagent.engines")

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (Memcached(), Redis())}


def version_of(engine: Engine, path: str) -> str | None:
    """Run the binary's version command; None when it is not this engine or does not run."""
    try:
        result = subprocess.run([path, *engine.version_args], capture_output=True, text=True,
                                timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return engine.parse_version(result.stdout + result.stderr)


def discover(extra_paths: Iterable[str] = ()) -> list[cache_control_pb2.EngineInstall]:
    """Installed engines: the binaries on PATH, then the extra paths (files or directories)."""
    candidates: list[tuple[Engine | None, str]] = []
    engine: Engine | None
    for engine in ENGINES.values():
        found = shutil.which(engine.binary)
        if found:
            candidates.append((engine, found))
    for extra in extra_paths:
        if os.path.isdir(extra):
            candidates += [(engine, os.path.join(extra, engine.binary)) for engine in ENGINES.values()
                           if os.access(os.path.join(extra, engine.binary), os.X_OK)]
        else:
            candidates.append((None, extra))
    installs: list[cache_control_pb2.EngineInstall] = []
    seen: set[str] = set()
    for engine, path in candidates:
        real = os.path.realpath(path)
        if real in seen:
            continue
        install = _identify(engine, path)
        if install is None:
            log.warning("not a cache engine binary", path=path)
            continue
        seen.add(real)
        installs.append(install)
    log.info("engines discovered",
             engines=[f"{i.engine} {i.version} {i.path}" for i in installs])
    return installs


def _identify(engine: Engine | None, path: str) -> cache_control_pb2.EngineInstall | None:
    # An extra path is tried first as the engine its name suggests, then as any engine.
    order = [engine] if engine else sorted(
        ENGINES.values(), key=lambda e: e.binary not in os.path.basename(path))
    for candidate in order:
        version = version_of(candidate, path)
        if version:
            return cache_control_pb2.EngineInstall(engine=candidate.name, version=version,
                                                   path=os.path.abspath(path), tls=candidate.supports_tls(path))
    return None


def version_matches(wanted: str, installed: str) -> bool:
    """'' matches any version; '7.0' matches '7.0.15'; '7.0.1' does not match '7.0.15'."""
    return versions.matches(wanted, installed)


def select_install(installs: Sequence[cache_control_pb2.EngineInstall], engine: str,
                   version: str) -> cache_control_pb2.EngineInstall | None:
    """The install of engine that `version` names: that exact version, else the newest under it
    as a prefix ('' = the newest); among installs of one version, the first discovered (PATH first)."""
    candidates = [i for i in installs if i.engine == engine]
    chosen = versions.resolve(version, [i.version for i in candidates])
    return next((i for i in candidates if i.version == chosen), None)
