"""Run the operator CLI: python -m src.cli --help."""

import sys

from src.cli import main

sys.exit(main())
