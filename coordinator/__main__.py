"""`python -m coordinator` runs the coordinator daemon."""
import sys

from coordinator.main import main

sys.exit(main())
