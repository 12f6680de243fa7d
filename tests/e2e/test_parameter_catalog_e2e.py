"""The committed parameter catalogue is what the installed engines say (it runs them)."""
from __future__ import annotations

import pytest

from coordinator.parameters import build, catalog
from coordinator.parameters.catalog import render

INSTALLED = build.find_engines()


@pytest.mark.parametrize("family", catalog.families())
def test_the_committed_catalogue_is_what_the_installed_engine_says(family):
    if family not in INSTALLED:
        pytest.skip(f"no engine of family {family} is installed here (looked on PATH and under "
                    f"/opt/cachefleet/*/), so its catalogue cannot be checked")
    engine, version, binary = INSTALLED[family]
    committed = (catalog.CATALOG_DIR / f"{family}.json").read_text()
    assert render(build.build(engine, version, binary)) == committed, \
        f"catalog/{family}.json is stale against {binary} ({version}): run scripts/gen-parameter-catalog"


def test_every_installed_family_has_a_catalogue():
    assert set(INSTALLED) <= set(catalog.families())
