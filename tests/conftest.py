"""Make the source tree importable without installation (cachefleet.v1 lives in proto/)."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "proto"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
