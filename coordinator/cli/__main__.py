"""`python -m coordinator.cli`: the `cachefleet` command."""
import sys

from coordinator.cli.main import main

sys.exit(main())
