"""`python -m nodeagent` runs the agent daemon, like the cachefleet-agent script."""
import sys

from nodeagent.main import main

sys.exit(main())
