"""python -m simulator: the simulated API, the demo and `streamledger serve` on it (see simulator.cli)."""

import sys

from simulator.cli import main

sys.exit(main())
