"""Build the parameter catalogue of a family from the engine itself.

redis: a throwaway redis-server answers `CONFIG GET *` (every parameter and its default)
and, for each one, whether `CONFIG SET` takes it at runtime (immediate) or not
(requires-reboot). Its type and allowed values come from the binary's own config
checks: `redis-server --port 0 --<name> x-bad-x` fails with "argument must be 'yes' or
'no'", "one of the following: a, b, c", "couldn't be parsed into an integer" (then a
huge negative value gives "between X and Y inclusive"), ...
memcached: `memcached -h` (parsed by cachefleet.common.memcached_help.parse_help, which the
agent uses to render parameters as options) lists every option with its default.
knowledge.py adds what we know and the engines do not (what may change, our defaults).
Used by scripts/gen-parameter-catalog and by the staleness test.
"""
from __future__ import annotations

import concurrent.futures
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any, cast
from collections.abc import Iterable

from cachefleet.common import versions
from coordinator.parameters import knowledge

BAD = "x-bad-x"
HUGE_NEGATIVE = "-99999999999999999"
MAX_LONG = "9223372036854775807"
_ERROR = re.compile(r"^>>> '.*'$")


# -- finding engines ------------------------------------------------------------------------

def engine_version(binary: str) -> tuple[str, str] | None:
    """(engine, version) of a redis-server or memcached binary, None if it is neither."""
    for engine, args, pattern in (("redis", ["--version"], r"Redis server v=(\d+\.\d+\.\d+)"),
                                  ("memcached", ["-V"], r"^memcached (\d+\.\d+\.\d+)")):
        try:
            out = subprocess.run([binary, *args], capture_output=True, text=True, timeout=10,
                                 stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        match = re.search(pattern, (out.stdout + out.stderr).strip())
        if match:
            return engine, match.group(1)
    return None


def find_engines(extra: Iterable[str] = ()) -> dict[str, tuple[str, str, str]]:
    """family -> (engine, version, binary) for the engines installed here: redis-server and
    memcached on PATH, redis-server under /opt/cachefleet/*/ (scripts/setup puts other
    versions there), then the extra binaries. The newest version of a family wins (the
    first binary found among equals)."""
    candidates = [shutil.which("redis-server"), shutil.which("memcached")]
    candidates += sorted(glob.glob("/opt/cachefleet/*/redis-server") + glob.glob("/opt/cachefleet/*/bin/redis-server"))
    candidates += list(extra)
    found: dict[str, tuple[str, str, str]] = {}
    for binary in candidates:
        if not binary or not os.access(binary, os.X_OK):
            continue
        identified = engine_version(binary)
        if identified is None:
            continue
        engine, version = identified
        family = versions.family(engine, version)
        if family not in found or versions.compare(version, found[family][1]) > 0:
            found[family] = (engine, version, os.path.abspath(binary))
    return found


def build(engine: str, version: str, binary: str) -> dict[str, Any]:
    """The catalogue of binary's family, as written to catalog/<family>.json."""
    family = versions.family(engine, version)
    params = build_redis(binary) if engine == "redis" else build_memcached(binary)
    minimum = f"{versions.major(version)}.0"
    for param in params:
        param["minimum_engine_version"] = minimum
    return {"family": family, "engine": engine, "parameters": sorted(params, key=lambda p: p["name"])}


# -- redis ----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _canonical(names: set[str]) -> set[str]:
    """Drop the old spellings redis still answers to (slave* for replica*, ziplist for listpack)."""
    kept = set()
    for name in names:
        if any(old in name and name.replace(old, new) in names
               for old, new in (("slave", "replica"), ("ziplist", "listpack"))):
            continue
        if knowledge.REDIS_ALIASES.get(name) in names:
            continue
        kept.add(name)
    return kept


def _startup_error(binary: str, workdir: str, name: str, value: str) -> str:
    """What redis-server says of `--<name> <value>` while loading its config ('' if it took it)."""
    try:
        out = subprocess.run([binary, "--port", "0", f"--{name}", value], capture_output=True, text=True,
                             timeout=5, cwd=workdir, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ""
    lines = (out.stdout + out.stderr).splitlines()
    for i, line in enumerate(lines):
        if _ERROR.match(line) and i + 1 < len(lines):
            return lines[i + 1].strip()
    return ""


def _type_of(binary: str, workdir: str, name: str, value: str) -> dict[str, str]:
    """data_type and allowed_values (and a pattern for strings) from redis-server's own checks."""
    error = _startup_error(binary, workdir, name, BAD)
    if "must be 'yes' or 'no'" in error:
        return {"data_type": "boolean", "allowed_values": "yes,no"}
    if match := re.search(r"must be one of the following: (.*)$", error):
        return {"data_type": "string", "allowed_values": ",".join(v.strip() for v in match.group(1).split(","))}
    if "parsed into an integer" in error:
        low = _startup_error(binary, workdir, name, HUGE_NEGATIVE)
        if match := re.search(r"between (-?\d+) and (-?\d+) inclusive", low):
            return {"data_type": "integer", "allowed_values": f"{match.group(1)}-{match.group(2)}"}
        return {"data_type": "integer", "allowed_values": ""}
    if "must be a memory value" in error:
        return {"data_type": "integer", "allowed_values": f"0-{MAX_LONG}"}
    if match := re.search(r"Invalid event class character\. Use '(.*)'", error):
        return {"data_type": "string", "allowed_values": f"[{match.group(1)}]*", "chars": match.group(1)}
    return {"data_type": "string", "allowed_values": ""}


def _runtime_settable(client, name: str, value: str) -> bool:
    import redis
    try:
        client.execute_command("CONFIG", "SET", name, value)
        return True
    except redis.exceptions.ResponseError:
        return False


def build_redis(binary: str) -> list[dict[str, Any]]:
    import redis
    workdir = tempfile.mkdtemp(prefix="cachefleet-catalog-")
    port = _free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "no"],
                               cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError as exc:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{binary} did not start") from exc
                time.sleep(0.02)
        config = cast(dict[str, str], client.config_get("*"))
        names = _canonical(set(config))
        immediate = {name: _runtime_settable(client, name, config[name]) for name in sorted(names)
                     if name not in ("replicaof", "unixsocket")}
        probe = sorted(n for n in names if n not in ("unixsocket", "include"))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            types = dict(zip(probe, pool.map(lambda n: _type_of(binary, workdir, n, config[n]), probe)))
        try:
            client.shutdown(nosave=True)
        except redis.exceptions.RedisError:
            pass
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    params: list[dict[str, Any]] = []
    for name in sorted(names):
        kind = types.get(name, {"data_type": "string", "allowed_values": ""})
        engine_default = knowledge.REDIS_DEFAULTS[name] if name in ("port", "bind", "dir") else config[name]
        value = knowledge.REDIS_DEFAULTS.get(name, engine_default)
        typed = kind["data_type"] in ("boolean", "integer") or "," in kind["allowed_values"]
        modifiable = (name not in knowledge.REDIS_NOT_MODIFIABLE
                      and not name.startswith(knowledge.REDIS_NOT_MODIFIABLE_PREFIXES)
                      and (typed or name in knowledge.REDIS_STRING_PATTERNS))
        change_type = "immediate" if immediate.get(name) else "requires-reboot"
        param = {"name": name, "value": value, "engine_default": engine_default,
                 "description": knowledge.REDIS_DESCRIPTIONS.get(name, ""),
                 "data_type": kind["data_type"], "allowed_values": kind["allowed_values"],
                 "modifiable": modifiable, "change_type": change_type,
                 "source": "engine-default" if value == engine_default and modifiable else "system",
                 "applies_to": "engine"}
        if name in knowledge.REDIS_STRING_PATTERNS:
            param["pattern"] = knowledge.REDIS_STRING_PATTERNS[name].format(chars=re.escape(kind.get("chars", "")))
        if modifiable and name in knowledge.REDIS_DEFAULTS and change_type != "immediate":
            raise ValueError(f"knowledge.REDIS_DEFAULTS sets {name}, which only a restart applies: a spec "
                             f"that does not name it would run the engine's default")
        params.append(param)
    params.append(dict(knowledge.RESERVED_MEMORY))
    return params


# -- memcached ------------------------------------------------------------------------------

_META = frozenset({"help", "license", "version", "extended"})
_DEFAULT_PATTERNS = (r"default(?: starts at| pct)?: ([^,)]+)", r"default is ([^\s,(]+)")


def _memcached_default(option, text: str) -> str:
    if option.kind in ("switch", "extended-switch"):
        return "1" if option.negated else "0"
    for pattern in _DEFAULT_PATTERNS:
        if match := re.search(pattern, text):
            value = match.group(1).strip().rstrip(".")
            if value in ("enabled", "disabled", "off"):
                return {"enabled": "1"}.get(value, "0")
            if re.match(r"^-?[0-9][0-9.]*$", value) or re.match(r"^[a-z0-9]+$", value):
                return value
    return ""


def _memcached_type(option, default: str) -> dict[str, str]:
    if option.kind in ("switch", "extended-switch"):
        return {"data_type": "boolean", "allowed_values": "0,1"}
    if re.match(r"^-?\d+$", default) or option.argument in ("<num>", "<bytes>"):
        return {"data_type": "integer", "allowed_values": ""}
    if re.match(r"^-?\d+\.\d+$", default):
        return {"data_type": "float", "allowed_values": ""}
    return {"data_type": "string", "allowed_values": ""}


def build_memcached(binary: str) -> list[dict[str, Any]]:
    from cachefleet.common.memcached_help import parse_help
    out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    options = parse_help(out.stdout)
    missing = sorted(set(knowledge.MEMCACHED_MODIFIABLE) - set(options))
    if missing:
        raise ValueError(f"{binary} has no option for {', '.join(missing)} (knowledge.MEMCACHED_MODIFIABLE)")
    params = []
    for name, option in options.items():
        if name in _META:
            continue
        engine_default = knowledge.MEMCACHED_DEFAULTS.get(name, _memcached_default(option, option.text))
        known = knowledge.MEMCACHED_MODIFIABLE.get(name)
        kind = {k: known[k] for k in ("data_type", "allowed_values")} if known else \
            _memcached_type(option, engine_default)
        value = known.get("value", engine_default) if known else engine_default
        params.append({"name": name, "value": value, "engine_default": engine_default,
                       "description": option.text, **kind, "modifiable": known is not None,
                       "change_type": "requires-reboot",
                       "source": "engine-default" if value == engine_default and known else "system",
                       "applies_to": "engine"})
    return params
