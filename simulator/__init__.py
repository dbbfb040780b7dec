"""A local HTTP simulator of the Cloudflare RealtimeKit livestream API, faults included."""

from simulator.app import build_app, create_app
from simulator.config import SimulatorConfig
from simulator.model import DayTotals, Figures, Livestream, Session, SimulatorModel
from simulator.server import (
    RunningSimulator,
    ServeOptions,
    running_simulator,
    serve_forever,
)
from simulator.state import SimulatorState

__all__ = [
    "DayTotals",
    "Figures",
    "Livestream",
    "RunningSimulator",
    "ServeOptions",
    "Session",
    "SimulatorConfig",
    "SimulatorModel",
    "SimulatorState",
    "build_app",
    "create_app",
    "running_simulator",
    "serve_forever",
]
