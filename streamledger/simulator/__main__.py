"""python -m streamledger.simulator: serve the simulator until interrupted."""

import sys

from streamledger.simulator.server import main

sys.exit(main())
