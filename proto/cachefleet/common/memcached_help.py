"""memcached's options as parameters, read from its own `memcached -h`.

Shared by the agent (which renders exactly what the installed binary understands) and
the coordinator's parameter catalogue generator, so both name and spell options alike.
Parameter names are ElastiCache's where it has one (`max_item_size` for -I), else the long
option with `_` for `-` (`disable_dumping`), or the extended `-o` option's own name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# ElastiCache's memcached parameter names -> the long option they set.
ELASTICACHE_NAMES = {
    "max_simultaneous_connections": "conn-limit",
    "max_item_size": "max-item-size",
    "chunk_size": "slab-min-size",
    "chunk_size_growth_factor": "slab-growth-factor",
    "backlog_queue_limit": "listen-backlog",
    "cas_disabled": "disable-cas",
    "error_on_memory_exhausted": "disable-evictions",
    "lock_down_paged_memory": "lock-memory",
    "large_memory_pages": "enable-largepages",
    "disable_flush_all": "disable-flush-all",
    "binding_protocol": "protocol",
    "num_threads": "threads",
    "max_requests_per_event": "max-reqs-per-event",
    "memory_limit": "memory-limit",
}
_NAME_OF_LONG = {long: name for name, long in ELASTICACHE_NAMES.items()}
_LONG = re.compile(r"^-(?P<short>\w), --(?P<long>[a-z][a-z0-9_-]*)(?:=<(?P<arg>[a-z]+)>)?\s+(?P<text>.*)$")
_EXTENDED = re.compile(r"^\s+- (?P<name>[a-z][a-z0-9_]*):\s*(?P<text>.*)$")
_CONTINUED = re.compile(r"^\s{10,}(?P<text>\S.*)$")
_SWITCH_TEXT = re.compile(r"^enable|\(default: (?:enabled|disabled)\)")
_NUMBER_DEFAULT = re.compile(r"\(default: \d")


@dataclass(frozen=True)
class Option:
    """One memcached option as a parameter: how to spell it and what `-h` says of it."""

    name: str            # the parameter name
    flag: str            # "--conn-limit" or "-o hot_lru_pct"
    kind: str            # value | switch | extended | extended-switch
    argument: str        # <num>, <bytes>, <name>, ... ('' for switches)
    text: str            # the help text, continuation lines joined
    negated: bool = False  # extended-switch listed as no_X: on by default, "0" renders no_X

    def render(self, value: str) -> list[str]:
        """argv words that set this option to value ([] when the engine's default is asked for)."""
        if self.kind == "value":
            return [f"{self.flag}={value}"]
        if self.kind == "switch":
            return [self.flag] if value == "1" else []
        option = self.flag.split()[1]
        if self.kind == "extended":
            return ["-o", f"{option}={value}"]
        if self.negated:
            return ["-o", f"no_{option}"] if value == "0" else []
        return ["-o", option] if value == "1" else []


def parse_help(text: str) -> dict[str, Option]:
    """Every option `memcached -h` lists, by parameter name (the help's order kept)."""
    options: dict[str, Option] = {}
    entries: list[list] = []  # [kind, name, flag, argument, text]
    for line in text.splitlines():
        if match := _LONG.match(line):
            long, arg = match["long"], match["arg"] or ""
            entries.append(["value" if arg else "switch", long, f"--{long}", f"<{arg}>" if arg else "",
                            match["text"]])
        elif match := _EXTENDED.match(line):
            entries.append(["extended", match["name"], match["name"], "", match["text"]])
        elif (match := _CONTINUED.match(line)) and entries:
            entries[-1][4] += " " + match["text"]
        elif not line.startswith(" "):
            entries.append(["ignored", "", "", "", ""])  # -vv, -D <char>, -W, ...: not parameters
    paired = {e[1][3:] for e in entries if e[0] == "extended" and e[1].startswith("no_")}
    for kind, long, flag, argument, help_text in entries:
        help_text = " ".join(help_text.split())
        if kind == "ignored":
            continue
        if kind == "extended":
            base = long[3:] if long.startswith("no_") else long
            if base in options:
                continue  # `modern` and `no_modern`: one parameter
            switch = base in paired or bool(_SWITCH_TEXT.search(help_text))
            negated = base in paired or "(default: enabled)" in help_text
            options[base] = Option(base, f"-o {base}", "extended-switch" if switch else "extended", "",
                                   help_text, negated)
        else:
            if kind == "switch" and _NUMBER_DEFAULT.search(help_text):
                kind, argument = "value", "<num>"  # `-R, --max-reqs-per-event` takes a number
            name = _NAME_OF_LONG.get(long, long.replace("-", "_"))
            options[name] = Option(name, flag, kind, argument, help_text)
    return options
