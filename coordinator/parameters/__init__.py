"""Parameter groups: the catalogue of each family, group records, and what nodes run.

- catalog.py   the catalogue files (catalog/<family>.json) and value checks
- knowledge.py what we know of parameters that the engines do not say
- build.py     builds a catalogue from an installed engine (scripts/gen-parameter-catalog)
- groups.py    group records, the reconciler's cache, effective_parameters(), max_memory_mb()
"""
from coordinator.parameters.catalog import Catalog, Param, families, for_engine, load
from coordinator.parameters.groups import (CACHE, ParameterCache, ParameterGroup, ParameterGroupRepo, default_name,
                     effective_parameters, group_of, is_default, max_memory_mb)

__all__ = ["CACHE", "Catalog", "Param", "ParameterCache", "ParameterGroup", "ParameterGroupRepo",
           "default_name", "effective_parameters", "families", "for_engine", "group_of", "is_default",
           "load", "max_memory_mb"]
