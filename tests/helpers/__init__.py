"""Test harness pieces: real processes started by the tests, killed by PID."""
