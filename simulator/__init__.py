"""A local HTTP simulator of the Cloudflare RealtimeKit livestream API, faults included."""

from simulator.app import build_app, create_app
from simulator.config import SimulatorConfig
from simulator.model import DayTotals, Figures, Livestream, Session, SimulatorModel
from simulator.server import (
    RunningSimulator,
    add_simulator_arguments,
    config_from_args,
    running_simulator,
    serve_forever,
)
from simulator.state import SimulatorState

__all__ = [
    "DayTotals",
    "Figures",
    "Livestream",
    "RunningSimulator",
    "Session",
    "SimulatorConfig",
    "SimulatorModel",
    "SimulatorState",
    "add_simulator_arguments",
    "build_app",
    "config_from_args",
    "create_app",
    "running_simulator",
    "serve_forever",
]
