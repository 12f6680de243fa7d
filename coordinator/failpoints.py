"""The coordinator's crash points: the agent's module (nodeagent/failpoints.py), shared."""
from nodeagent.failpoints import failpoint

__all__ = ["failpoint"]
