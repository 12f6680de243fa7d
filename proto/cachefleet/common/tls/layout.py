"""Where a fleet keeps its CA and certificates under one directory (`cachefleet up`'s layout).

Apart from localfleet.py, which makes them, so that a reader of the layout (the CLI looking
for its client certificate) does not load cryptography.
"""
from __future__ import annotations

import dataclasses
import pathlib

from cachefleet.common.tls.files import CA_CERT, CA_KEY, CredentialFiles

STATE_SUBDIR = "ca"        # <state>/ca/ of a `cachefleet up` state directory
COORDINATOR_NAME = "coordinator"
CLI_CLIENT = "admin"      # the client certificate the CLI finds without flags


@dataclasses.dataclass(frozen=True)
class FleetCaLayout:
    root: pathlib.Path

    @classmethod
    def of_state_dir(cls, state_dir: pathlib.Path | str) -> FleetCaLayout:
        return cls(pathlib.Path(state_dir) / STATE_SUBDIR)

    def coordinator(self, name: str = COORDINATOR_NAME) -> CredentialFiles:
        return CredentialFiles.in_dir(self.root / "coordinator", name)

    def host(self, host_id: str) -> CredentialFiles:
        return CredentialFiles.in_dir(self.root / "hosts" / host_id, host_id)

    def client(self, name: str = CLI_CLIENT) -> CredentialFiles:
        return CredentialFiles.in_dir(self.root / "clients" / name, name)

    def has_ca(self) -> bool:
        return (self.root / CA_KEY).is_file() and (self.root / CA_CERT).is_file()
