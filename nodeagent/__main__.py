"""`python -m nodeagent` runs the agent daemon, like the cachefleet-agent script."""
import sys

# The agent logs JSON only: structlog imports `rich` for console tracebacks whenever it is
# installed (a development tool's dependency), ~4 MB of the agent's RSS for nothing.
sys.modules.setdefault("rich", None)  # type: ignore[arg-type]

from nodeagent.main import main  # noqa: E402  (after the line above)

sys.exit(main())
