"""`python -m coordinator` runs the coordinator daemon."""
import sys

from .main import main

sys.exit(main())
