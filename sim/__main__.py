"""`python -m sim` is the `cascadesim` command."""

import sys

from sim.cli import main

sys.exit(main())
