"""The committed gRPC stubs must match what scripts/gen-proto makes from proto/."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_generated_stubs_match_the_proto_files():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-proto"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
