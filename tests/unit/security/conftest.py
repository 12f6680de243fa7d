"""One in-process coordinator and agent API, with mTLS, for the whole security package."""
from __future__ import annotations

import pytest

from tests.helpers.inprocess import SecureServers


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory):
    started = SecureServers(tmp_path_factory.mktemp("secure")).start()
    yield started
    started.stop()
