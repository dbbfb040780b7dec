"""Run the simulator under uvicorn: in a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import uvicorn

from simulator.app import build_app
from simulator.config import (
    ACTIVE_FIGURES,
    ANALYTICS_ROUNDINGS,
    CLOCK_KINDS,
    DAYWISE_DATE_FORMS,
    DETAILS_SHAPES,
    INACTIVE_FORMS,
    KEY_COPIES,
    SHAPE_FORMS,
    UNAUTHORIZED_FORMS,
    SimulatorConfig,
)
from simulator.model import SimulatorModel
from simulator.state import API_PREFIX, SimulatorState

HOST = "127.0.0.1"
DEFAULT_PORT = 8787
_STARTUP_TIMEOUT_SECONDS = 10.0


class _QuietCutTransfers(logging.Filter):
    """Drops uvicorn's error line for a response left incomplete: the truncated fault does it on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for 'ASGI callable returned without completing response.'."""
        return not record.getMessage().startswith("ASGI callable returned without completing response")


def _quiet_cut_transfers() -> None:
    """Install the filter on uvicorn's error logger once (uvicorn's logging setup keeps filters)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _QuietCutTransfers) for existing in logger.filters):
        logger.addFilter(_QuietCutTransfers())


def _uvicorn_config(state: SimulatorState, host: str, port: int) -> uvicorn.Config:
    """Quiet uvicorn settings shared by both ways of running."""
    config = uvicorn.Config(
        build_app(state),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        date_header=False,  # the app sends Date on the simulator's own clock
    )
    _quiet_cut_transfers()
    return config


class RunningSimulator:
    """A simulator served from a background thread; see running_simulator()."""

    def __init__(
        self, state: SimulatorState, server: uvicorn.Server, thread: threading.Thread, port: int
    ) -> None:
        """Wrap a started server."""
        self.state = state
        self.port = port
        self.root_url = f"http://{HOST}:{port}"
        self.base_url = f"{self.root_url}{API_PREFIX}"
        self._server = server
        self._thread = thread

    @property
    def config(self) -> SimulatorConfig:
        """The configuration the simulator runs with."""
        return self.state.config

    @property
    def model(self) -> SimulatorModel:
        """The fleet and timelines; pass now() as t to read what the API would answer."""
        return self.state.model

    def now(self) -> float:
        """Simulator time in seconds since the model origin."""
        return self.state.now()

    def now_iso(self) -> str:
        """Simulator time as an ISO timestamp."""
        return self.state.now_iso()

    def advance(self, seconds: float) -> str:
        """Advance the manual clock by seconds and return the new time (ISO)."""
        self.state.advance(seconds)
        return self.state.now_iso()

    def advance_to(self, t: float) -> str:
        """Move the manual clock to t seconds after the origin (never backwards)."""
        return self.advance(max(0.0, t - self.state.now()))

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Change fault knobs as POST /_simulator/faults does; return them all as GET would."""
        return self.state.set_faults(knobs)

    def faults(self) -> dict[str, Any]:
        """The fault knobs as GET /_simulator/faults serves them."""
        with self.state.lock:
            return self.state.faults_json()

    def stop(self) -> None:
        """Stop serving and wait for the thread; safe to call twice."""
        self._server.should_exit = True
        self._thread.join(timeout=_STARTUP_TIMEOUT_SECONDS)


def _wait_for_connection(port: int, deadline: float) -> None:
    """Block until the port accepts TCP connections."""
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"simulator on port {port} does not accept connections") from None
            time.sleep(0.01)


@contextmanager
def running_simulator(config: SimulatorConfig, port: int = 0) -> Iterator[RunningSimulator]:
    """Serve config on 127.0.0.1 (port 0 picks a free port) for the duration of the block."""
    state = SimulatorState(config)
    server = uvicorn.Server(_uvicorn_config(state, HOST, port))
    thread = threading.Thread(target=server.run, name="streamledger-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"simulator failed to start on {HOST}:{port}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("simulator did not start in time")
        time.sleep(0.005)
    bound_port = int(server.servers[0].sockets[0].getsockname()[1])
    running = RunningSimulator(state, server, thread, bound_port)
    try:
        _wait_for_connection(bound_port, deadline)
        yield running
    finally:
        running.stop()


def serve_forever(config: SimulatorConfig, port: int, host: str = HOST) -> None:
    """Serve config until interrupted (Ctrl-C), announcing the base URL on stderr."""
    state = SimulatorState(config)
    uv_config = _uvicorn_config(state, host, port)
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets, and without it every
    # response waits ~40 ms for a delayed ACK.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    print(
        f"RealtimeKit simulator: base URL http://{host}:{bound_port}{API_PREFIX} "
        f"account={config.account_id} apps={','.join(config.app_ids)} token={config.token} "
        f"clock={config.clock} (ground truth at http://{host}:{bound_port}/_simulator/sessions)",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(uv_config).run(sockets=[sock])


def _app_ids(text: str) -> tuple[str, ...]:
    """--apps: a count N (sim-app-1..N) or comma-separated app ids."""
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise argparse.ArgumentTypeError("--apps needs at least one app")
        return ("sim-app",) if count == 1 else tuple(f"sim-app-{n}" for n in range(1, count + 1))
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    if not ids:
        raise argparse.ArgumentTypeError("--apps needs a count or comma-separated app ids")
    return ids


def _start_at(text: str) -> datetime:
    """--start-at: an ISO 8601 timestamp with a zone (Z accepted)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError("--start-at needs a timezone, e.g. 2026-01-01T00:00:00Z")
    return moment


def _seconds_range(text: str) -> tuple[float, float]:
    """A LOW,HIGH pair of seconds, e.g. 20,90 (a single number means LOW = HIGH)."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH seconds, got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH seconds, got {text!r}") from None
    return low, high


def _selection(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """A parser of comma-separated names from `allowed` (--shape-forms, --stream-key-copies)."""

    def parse(text: str) -> tuple[str, ...]:
        named = {part.strip() for part in text.split(",")}
        if not named or not named <= set(allowed):
            raise argparse.ArgumentTypeError(f"expected some of {','.join(allowed)}, got {text!r}")
        return tuple(name for name in allowed if name in named)

    return parse


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulate options; every dest starts with sim_ to avoid clashes with other options."""
    d = SimulatorConfig()
    parser.add_argument("--port", dest="sim_port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--host", dest="sim_host", default=HOST)
    parser.add_argument("--seed", dest="sim_seed", type=int, default=d.seed)
    parser.add_argument(
        "--livestreams", dest="sim_livestreams", type=int, default=d.livestreams, help="per app"
    )
    parser.add_argument(
        "--apps", dest="sim_apps", type=_app_ids, default=d.app_ids, help="a count or comma-separated app ids"
    )
    parser.add_argument("--token", dest="sim_token", default=d.token)
    parser.add_argument("--account", dest="sim_account", default=d.account_id)
    parser.add_argument(
        "--budget", dest="sim_budget", type=int, default=d.budget_requests, help="requests/window"
    )
    parser.add_argument(
        "--budget-window", dest="sim_budget_window", type=float, default=d.budget_window_seconds
    )
    parser.add_argument("--block-seconds", dest="sim_block_seconds", type=float, default=d.block_seconds)
    parser.add_argument(
        "--fault-5xx", dest="sim_fault_5xx", type=float, default=d.fault_5xx, help="share 0..1"
    )
    parser.add_argument(
        "--fault-malformed",
        dest="sim_fault_malformed",
        type=float,
        default=d.fault_malformed,
        help="share 0..1",
    )
    parser.add_argument(
        "--fault-timeout",
        dest="sim_fault_timeout",
        type=float,
        default=d.fault_timeout,
        help="share 0..1 of answers held --fault-timeout-seconds",
    )
    parser.add_argument(
        "--fault-timeout-seconds",
        dest="sim_fault_timeout_seconds",
        type=float,
        default=d.fault_timeout_seconds,
    )
    parser.add_argument(
        "--fault-truncated",
        dest="sim_fault_truncated",
        type=float,
        default=d.fault_truncated,
        help="share 0..1 of 200 answers whose transfer stops halfway",
    )
    parser.add_argument(
        "--fault-shape",
        dest="sim_fault_shape",
        type=float,
        default=d.fault_shape,
        help="share 0..1 of 200 answers in an unexpected shape",
    )
    parser.add_argument(
        "--shape-forms",
        dest="sim_shape_forms",
        type=_selection(SHAPE_FORMS),
        default=d.shape_forms,
        metavar=",".join(SHAPE_FORMS),
    )
    parser.add_argument("--latency-ms", dest="sim_latency_ms", type=float, default=d.latency_ms)
    parser.add_argument(
        "--latency-jitter-ms", dest="sim_latency_jitter_ms", type=float, default=d.latency_jitter_ms
    )
    parser.add_argument("--clock", dest="sim_clock", choices=CLOCK_KINDS, default=d.clock)
    parser.add_argument(
        "--start-at", dest="sim_start_at", type=_start_at, default=None, help="ISO time of t=0"
    )
    parser.add_argument(
        "--inactive-form", dest="sim_inactive_form", choices=INACTIVE_FORMS, default=d.inactive_form
    )
    parser.add_argument(
        "--active-figures",
        dest="sim_active_figures",
        choices=ACTIVE_FIGURES,
        default=d.active_figures,
        help="active-session figures as JSON numbers, strings, or per livestream",
    )
    parser.add_argument(
        "--unauthorized-form",
        dest="sim_unauthorized_form",
        choices=UNAUTHORIZED_FORMS,
        default=d.unauthorized_form,
        help='401 bodies: the v4 envelope, {"message": "Unauthorized"}, or alternating',
    )
    parser.add_argument(
        "--details-shape",
        dest="sim_details_shape",
        choices=DETAILS_SHAPES,
        default=d.details_shape,
        help="livestream details: sessions with paging on top or inside data, the single session form, mixed",
    )
    parser.add_argument(
        "--daywise-date-form",
        dest="sim_daywise_date_form",
        choices=DAYWISE_DATE_FORMS,
        default=d.daywise_date_form,
        help="analytics daywise date as YYYY-MM-DD, ISO midnight, or alternating by day",
    )
    parser.add_argument(
        "--analytics-rounding",
        dest="sim_analytics_rounding",
        choices=ANALYTICS_ROUNDINGS,
        default=d.analytics_rounding,
        help="how the analytics' integer totals round the fractional figures",
    )
    pair = "LOW,HIGH"
    parser.add_argument(
        "--gap-seconds", dest="sim_gap_seconds", type=_seconds_range, default=d.gap_seconds, metavar=pair
    )
    parser.add_argument(
        "--invoked-seconds",
        dest="sim_invoked_seconds",
        type=_seconds_range,
        default=d.invoked_seconds,
        metavar=pair,
    )
    parser.add_argument(
        "--live-seconds", dest="sim_live_seconds", type=_seconds_range, default=d.live_seconds, metavar=pair
    )
    parser.add_argument(
        "--created-after-seconds",
        dest="sim_created_after_seconds",
        type=_seconds_range,
        default=d.created_after_seconds,
        metavar=pair,
        help="the session record appears this long after started_time",
    )
    parser.add_argument(
        "--placeholder-seconds",
        dest="sim_placeholder_seconds",
        type=_seconds_range,
        default=d.placeholder_seconds,
        metavar=pair,
        help="both figures read 60 until this long after started_time",
    )
    parser.add_argument(
        "--final-after-seconds",
        dest="sim_final_after_seconds",
        type=_seconds_range,
        default=d.final_after_seconds,
        metavar=pair,
        help="the final figures land this long after stopped_time",
    )
    parser.add_argument("--linger-seconds", dest="sim_linger_seconds", type=float, default=d.linger_seconds)
    parser.add_argument(
        "--report-lag-seconds",
        dest="sim_report_lag_seconds",
        type=float,
        default=d.report_lag_seconds,
        help="while live, reported figures trail the truth by this many seconds",
    )
    parser.add_argument(
        "--short-share", dest="sim_short_share", type=float, default=d.short_share, help="share 0..1"
    )
    parser.add_argument(
        "--short-live-seconds",
        dest="sim_short_live_seconds",
        type=_seconds_range,
        default=d.short_live_seconds,
        metavar=pair,
    )
    parser.add_argument(
        "--dip-share", dest="sim_dip_share", type=float, default=d.dip_share, help="share 0..1"
    )
    parser.add_argument(
        "--stream-key-copies",
        dest="sim_stream_key_copies",
        type=_selection(KEY_COPIES),
        default=d.stream_key_copies,
        metavar=",".join(KEY_COPIES),
        help="copy each stream key into these fields too (hostile)",
    )
    parser.add_argument(
        "--stream-key-field",
        dest="sim_stream_key_field",
        default=d.stream_key_field,
        help="the name of the stream key's own field (hostile: stream-key, streamKey)",
    )
    parser.add_argument(
        "--echo-token",
        dest="sim_echo_token",
        action="store_true",
        help="echo the bearer token in every Ratelimit header and JSON body (hostile)",
    )
    parser.add_argument(
        "--date-offset-seconds",
        dest="sim_date_offset_seconds",
        type=float,
        default=d.date_offset_seconds,
        help="add this to the Date header alone (a skewed API clock)",
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The SimulatorConfig described by options added with add_simulator_arguments()."""
    return SimulatorConfig(
        seed=args.sim_seed,
        account_id=args.sim_account,
        app_ids=tuple(args.sim_apps),
        token=args.sim_token,
        livestreams=args.sim_livestreams,
        budget_requests=args.sim_budget,
        budget_window_seconds=args.sim_budget_window,
        block_seconds=args.sim_block_seconds,
        fault_5xx=args.sim_fault_5xx,
        fault_malformed=args.sim_fault_malformed,
        fault_timeout=args.sim_fault_timeout,
        fault_timeout_seconds=args.sim_fault_timeout_seconds,
        fault_truncated=args.sim_fault_truncated,
        fault_shape=args.sim_fault_shape,
        shape_forms=args.sim_shape_forms,
        latency_ms=args.sim_latency_ms,
        latency_jitter_ms=args.sim_latency_jitter_ms,
        clock=args.sim_clock,
        start_at=args.sim_start_at,
        inactive_form=args.sim_inactive_form,
        active_figures=args.sim_active_figures,
        unauthorized_form=args.sim_unauthorized_form,
        details_shape=args.sim_details_shape,
        daywise_date_form=args.sim_daywise_date_form,
        analytics_rounding=args.sim_analytics_rounding,
        gap_seconds=args.sim_gap_seconds,
        invoked_seconds=args.sim_invoked_seconds,
        live_seconds=args.sim_live_seconds,
        created_after_seconds=args.sim_created_after_seconds,
        placeholder_seconds=args.sim_placeholder_seconds,
        final_after_seconds=args.sim_final_after_seconds,
        linger_seconds=args.sim_linger_seconds,
        report_lag_seconds=args.sim_report_lag_seconds,
        short_share=args.sim_short_share,
        short_live_seconds=args.sim_short_live_seconds,
        dip_share=args.sim_dip_share,
        stream_key_copies=args.sim_stream_key_copies,
        stream_key_field=args.sim_stream_key_field,
        echo_token=args.sim_echo_token,
        date_offset_seconds=args.sim_date_offset_seconds,
    )
