"""The parameter catalogue of each family, as scripts/gen-parameter-catalog wrote it.

One JSON file per family (cachefleet.common's catalog/redis7.0.json, ...: the agent reads
them too, to know which parameters a node spec may carry): every parameter the engine has,
its default as cachefleet runs it, type, allowed values, whether operators may change
it and whether a change is applied at once (immediate) or at the next reboot. Values
given by operators are checked here, before anything is recorded.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from cachefleet.common import parameter_catalog
from coordinator.domain.errors import invalid

CATALOG_DIR = parameter_catalog.CATALOG_DIR
_INTEGER = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+(?:\.\d+)?")
_RANGE = re.compile(r"(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f;#\"'\\]")  # values end up in config files and command lines


@dataclass(frozen=True)
class Param:
    name: str
    value: str                  # the default, as cachefleet runs it
    engine_default: str         # what the engine itself defaults to
    description: str
    data_type: str              # integer | float | boolean | string
    allowed_values: str         # "a,b,c", "lo-hi", a pattern, or ""
    modifiable: bool
    change_type: str            # immediate | requires-reboot
    source: str                 # engine-default | system: where the default comes from
    applies_to: str             # engine | coordinator (reserved-memory: the coordinator applies it)
    minimum_engine_version: str
    pattern: str = ""

    @property
    def immediate(self) -> bool:
        return self.change_type == "immediate"

    def check(self, value: str) -> str:
        """value in canonical form, or InvalidParameterValue."""
        if not self.modifiable:
            raise invalid(f"Parameter {self.name} is not modifiable.")
        if _UNSAFE.search(value):
            raise invalid(f"Invalid value for parameter {self.name}: {value!r} (no quotes, control "
                          f"characters, ';' or '#').")
        wrong = invalid(f"Invalid value {value!r} for parameter {self.name}: it takes "
                        f"{self.data_type} values{' ' + self.allowed_values if self.allowed_values else ''}.")
        if self.data_type == "boolean":
            choices = self.allowed_values.split(",")
            if value.lower() not in choices:
                raise wrong
            return value.lower()
        if self.data_type in ("integer", "float"):
            if not (_INTEGER if self.data_type == "integer" else _FLOAT).fullmatch(value):
                raise wrong
            number = int(value) if self.data_type == "integer" else float(value)
            if match := _RANGE.fullmatch(self.allowed_values):
                low, high = (int(g) if self.data_type == "integer" else float(g) for g in match.groups())
                if not low <= number <= high:
                    raise wrong
            return str(number) if self.data_type == "integer" else value
        if self.pattern:
            if not re.fullmatch(self.pattern, value):
                raise wrong
            return value
        if "," in self.allowed_values:
            if value not in self.allowed_values.split(","):
                raise wrong
            return value
        raise wrong


@dataclass(frozen=True)
class Catalog:
    family: str
    engine: str
    params: dict[str, Param]

    def param(self, name: str) -> Param:
        found = self.params.get(name)
        if found is None:
            raise invalid(f"Parameter {name} is not a parameter of family {self.family}.")
        return found

    def defaults(self) -> dict[str, str]:
        return {name: p.value for name, p in self.params.items()}


def render(data: dict[str, Any]) -> str:
    """The catalogue as written to its file (stable: the staleness test compares text)."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@functools.cache
def load(family: str) -> Catalog | None:
    data = parameter_catalog.load(family)
    if data is None:
        return None
    params = {}
    for entry in data["parameters"]:
        entry = {k: v for k, v in entry.items() if k in Param.__dataclass_fields__}
        params[entry["name"]] = Param(**entry)
    return Catalog(data["family"], data["engine"], params)


def families() -> list[str]:
    return parameter_catalog.families()


def for_engine(engine: str, version: str) -> Catalog | None:
    """The catalogue of the family engine at version belongs to (None: no catalogue for it)."""
    family = parameter_catalog.family_of(engine, version)
    return load(family) if family else None
