"""Run the simulator under uvicorn: in a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, cast

import uvicorn
from cyclopts import Group, Parameter, Token

from simulator.app import build_app
from simulator.config import (
    KEY_COPIES,
    SHAPE_FORMS,
    ActiveFigures,
    AnalyticsRounding,
    ClockKind,
    DaywiseDateForm,
    DetailsShape,
    InactiveForm,
    KeyCopy,
    ShapeForm,
    SimulatorConfig,
    UnauthorizedForm,
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
            raise ValueError("--apps needs at least one app")
        return ("sim-app",) if count == 1 else tuple(f"sim-app-{n}" for n in range(1, count + 1))
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    if not ids:
        raise ValueError("--apps needs a count or comma-separated app ids")
    return ids


def _start_at(text: str) -> datetime:
    """--start-at: an ISO 8601 timestamp with a zone (Z accepted)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z") from None
    if moment.utcoffset() is None:
        raise ValueError("--start-at needs a timezone, e.g. 2026-01-01T00:00:00Z")
    return moment


def _seconds_range(text: str) -> tuple[float, float]:
    """A LOW,HIGH pair of seconds, e.g. 20,90 (a single number means LOW = HIGH)."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise ValueError(f"expected LOW,HIGH seconds, got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"expected LOW,HIGH seconds, got {text!r}") from None
    return low, high


def _selection(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """A parser of comma-separated names from `allowed` (--shape-forms, --stream-key-copies)."""

    def parse(text: str) -> tuple[str, ...]:
        named = {part.strip() for part in text.split(",")} - {""}
        if not named <= set(allowed):
            raise ValueError(f"expected some of {','.join(allowed)}, got {text!r}")
        return tuple(name for name in allowed if name in named)

    return parse


def _one(parse: Callable[[str], Any]) -> Callable[[Any, Sequence[Token]], Any]:
    """A cyclopts converter of an option's one value by `parse` (which raises ValueError saying why)."""

    def convert(hint: Any, tokens: Sequence[Token]) -> Any:
        return parse(tokens[0].value)

    return convert


def _pair(value: tuple[float, float]) -> str:
    return ",".join(f"{part:g}" for part in value)


def _names(value: tuple[str, ...]) -> str:
    return ",".join(value) or "none"


def _all_or_names(allowed: tuple[str, ...]) -> Callable[[tuple[str, ...]], str]:
    return lambda value: "all" if value == allowed else _names(value)


def _option(help: str, group: Group, **options: Any) -> Parameter:
    return Parameter(help=help, group=group, **options)


def _range_option(help: str, group: Group) -> Parameter:
    """A LOW,HIGH pair of seconds drawn from per session."""
    return Parameter(
        help=help + " (LOW,HIGH seconds, drawn per session; one number: always that)",
        group=group,
        converter=_one(_seconds_range),
        metavar="LOW,HIGH",
        n_tokens=1,
        negative="",
        show_default=_pair,
    )


def _selection_option(help: str, group: Group, allowed: tuple[str, ...]) -> Parameter:
    return Parameter(
        help=f"{help} (comma-separated, some of {','.join(allowed)})",
        group=group,
        converter=_one(_selection(allowed)),
        metavar="A,B",
        n_tokens=1,
        negative="",
        show_default=_all_or_names(allowed),
    )


SERVER = Group("Server", sort_key=1)
ACCOUNT = Group("Account and budget", sort_key=2)
LIFECYCLE = Group("Livestreams and sessions", sort_key=3)
SHAPES = Group("Answer shapes", sort_key=4)
FAULTS = Group("Faults", sort_key=5)
CLOCK = Group("Clock", sort_key=6)
HOSTILE = Group("Hostile echoes of secrets", sort_key=7)
_D = SimulatorConfig()


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """The options of `python -m simulator serve`: where to listen, and every knob of SimulatorConfig it
    sets (the others keep their defaults; POST /_simulator/faults changes the fault knobs while it runs)."""

    port: Annotated[int, _option("the port on 127.0.0.1 (0 picks a free port)", SERVER)] = DEFAULT_PORT
    host: Annotated[str, _option("the address to listen on", SERVER)] = HOST
    seed: Annotated[int, _option("the seed of the simulated fleet and its sessions", ACCOUNT)] = _D.seed
    livestreams: Annotated[int, _option("simulated livestreams per app", ACCOUNT)] = _D.livestreams
    apps: Annotated[
        tuple[str, ...],
        _option(
            "the apps: a count N (sim-app-1 to sim-app-N) or comma-separated app ids",
            ACCOUNT,
            converter=_one(_app_ids),
            metavar="N|IDS",
            n_tokens=1,
            negative="",
            show_default=_names,
        ),
    ] = _D.app_ids
    token: Annotated[str, _option("the bearer token the API accepts", ACCOUNT)] = _D.token
    account: Annotated[str, _option("the account id in the API's paths", ACCOUNT)] = _D.account_id
    budget: Annotated[
        int, _option("requests admitted per budget window, then 429 with Retry-After", ACCOUNT)
    ] = _D.budget_requests
    budget_window: Annotated[float, _option("the budget window, in seconds", ACCOUNT, metavar="SECONDS")] = (
        _D.budget_window_seconds
    )
    block_seconds: Annotated[
        float, _option("how long a spent budget refuses every request", ACCOUNT, metavar="SECONDS")
    ] = _D.block_seconds
    gap_seconds: Annotated[
        tuple[float, float], _range_option("idle time between a livestream's sessions", LIFECYCLE)
    ] = _D.gap_seconds
    invoked_seconds: Annotated[
        tuple[float, float], _range_option("time in INVOKED before a session goes LIVE", LIFECYCLE)
    ] = _D.invoked_seconds
    live_seconds: Annotated[tuple[float, float], _range_option("time LIVE", LIFECYCLE)] = _D.live_seconds
    created_after_seconds: Annotated[
        tuple[float, float],
        _range_option("the session record appears this long after started_time", LIFECYCLE),
    ] = _D.created_after_seconds
    placeholder_seconds: Annotated[
        tuple[float, float],
        _range_option("both figures read 60 until this long after started_time", LIFECYCLE),
    ] = _D.placeholder_seconds
    final_after_seconds: Annotated[
        tuple[float, float], _range_option("the final figures land this long after stopped_time", LIFECYCLE)
    ] = _D.final_after_seconds
    linger_seconds: Annotated[
        float,
        _option(
            "the active-session endpoint still answers with a session this long after its stop",
            LIFECYCLE,
            metavar="SECONDS",
        ),
    ] = _D.linger_seconds
    report_lag_seconds: Annotated[
        float,
        _option(
            "while live, reported figures trail the truth by this many seconds", LIFECYCLE, metavar="SECONDS"
        ),
    ] = _D.report_lag_seconds
    short_share: Annotated[
        float,
        _option("share 0..1 of sessions LIVE for --short-live-seconds instead", LIFECYCLE, metavar="SHARE"),
    ] = _D.short_share
    short_live_seconds: Annotated[
        tuple[float, float], _range_option("time LIVE of a short session", LIFECYCLE)
    ] = _D.short_live_seconds
    dip_share: Annotated[
        float,
        _option(
            "share 0..1 of 10 s blocks whose figures dip below an earlier reading", LIFECYCLE, metavar="SHARE"
        ),
    ] = _D.dip_share
    inactive_form: Annotated[
        InactiveForm, _option("the answer for a livestream with no active session", SHAPES)
    ] = _D.inactive_form
    active_figures: Annotated[
        ActiveFigures, _option("active-session figures as JSON numbers, strings, or per livestream", SHAPES)
    ] = _D.active_figures
    unauthorized_form: Annotated[
        UnauthorizedForm,
        _option('401 bodies: the v4 envelope, {"message": "Unauthorized"}, or alternating', SHAPES),
    ] = _D.unauthorized_form
    details_shape: Annotated[
        DetailsShape,
        _option(
            "livestream details: sessions with paging on top or inside data, the single session form, mixed",
            SHAPES,
        ),
    ] = _D.details_shape
    daywise_date_form: Annotated[
        DaywiseDateForm,
        _option("analytics daywise date as YYYY-MM-DD, ISO midnight, or alternating by day", SHAPES),
    ] = _D.daywise_date_form
    analytics_rounding: Annotated[
        AnalyticsRounding, _option("how the analytics' integer totals round the fractional figures", SHAPES)
    ] = _D.analytics_rounding
    fault_5xx: Annotated[
        float, _option("share 0..1 of requests answered 500, 502, 503 or 504", FAULTS, metavar="SHARE")
    ] = _D.fault_5xx
    fault_malformed: Annotated[
        float, _option("share 0..1 of 200 answers cut to a prefix of their JSON", FAULTS, metavar="SHARE")
    ] = _D.fault_malformed
    fault_timeout: Annotated[
        float,
        _option(
            "share 0..1 of answers held --fault-timeout-seconds before they are sent", FAULTS, metavar="SHARE"
        ),
    ] = _D.fault_timeout
    fault_timeout_seconds: Annotated[
        float, _option("how long a held answer waits (real seconds)", FAULTS, metavar="SECONDS")
    ] = _D.fault_timeout_seconds
    fault_truncated: Annotated[
        float,
        _option("share 0..1 of 200 answers whose transfer stops halfway", FAULTS, metavar="SHARE"),
    ] = _D.fault_truncated
    fault_shape: Annotated[
        float,
        _option(
            "share 0..1 of 200 answers in an unexpected shape (see --shape-forms)", FAULTS, metavar="SHARE"
        ),
    ] = _D.fault_shape
    shape_forms: Annotated[
        tuple[str, ...],
        _selection_option("the unexpected shapes --fault-shape draws from", FAULTS, SHAPE_FORMS),
    ] = _D.shape_forms
    latency_ms: Annotated[float, _option("added to every answer, in milliseconds", FAULTS, metavar="MS")] = (
        _D.latency_ms
    )
    latency_jitter_ms: Annotated[
        float, _option("up to this much more, drawn per answer, in milliseconds", FAULTS, metavar="MS")
    ] = _D.latency_jitter_ms
    clock: Annotated[
        ClockKind,
        _option('real: wall time; manual: moved by POST /_simulator/clock {"advance_seconds": x}', CLOCK),
    ] = _D.clock
    start_at: Annotated[
        datetime | None,
        _option(
            "the moment of t=0, ISO 8601 with a zone",
            CLOCK,
            converter=_one(_start_at),
            metavar="TIME",
            show_default="now",
        ),
    ] = None
    date_offset_seconds: Annotated[
        float, _option("added to the Date header alone (a skewed API clock)", CLOCK, metavar="SECONDS")
    ] = _D.date_offset_seconds
    stream_key_copies: Annotated[
        tuple[str, ...], _selection_option("copy each stream key into these fields too", HOSTILE, KEY_COPIES)
    ] = _D.stream_key_copies
    stream_key_field: Annotated[
        str, _option("the name of the stream key's own field, e.g. stream-key or streamKey", HOSTILE)
    ] = _D.stream_key_field
    echo_token: Annotated[
        bool, _option("echo the bearer token in every Ratelimit header and JSON body", HOSTILE, negative="")
    ] = _D.echo_token

    def config(self) -> SimulatorConfig:
        """The SimulatorConfig these options describe; a ValueError names a knob out of range."""
        return SimulatorConfig(
            seed=self.seed,
            account_id=self.account,
            app_ids=self.apps,
            token=self.token,
            livestreams=self.livestreams,
            budget_requests=self.budget,
            budget_window_seconds=self.budget_window,
            block_seconds=self.block_seconds,
            fault_5xx=self.fault_5xx,
            fault_malformed=self.fault_malformed,
            fault_timeout=self.fault_timeout,
            fault_timeout_seconds=self.fault_timeout_seconds,
            fault_truncated=self.fault_truncated,
            fault_shape=self.fault_shape,
            shape_forms=cast(tuple[ShapeForm, ...], self.shape_forms),
            latency_ms=self.latency_ms,
            latency_jitter_ms=self.latency_jitter_ms,
            clock=self.clock,
            start_at=self.start_at,
            inactive_form=self.inactive_form,
            active_figures=self.active_figures,
            unauthorized_form=self.unauthorized_form,
            details_shape=self.details_shape,
            daywise_date_form=self.daywise_date_form,
            analytics_rounding=self.analytics_rounding,
            gap_seconds=self.gap_seconds,
            invoked_seconds=self.invoked_seconds,
            live_seconds=self.live_seconds,
            created_after_seconds=self.created_after_seconds,
            placeholder_seconds=self.placeholder_seconds,
            final_after_seconds=self.final_after_seconds,
            linger_seconds=self.linger_seconds,
            report_lag_seconds=self.report_lag_seconds,
            short_share=self.short_share,
            short_live_seconds=self.short_live_seconds,
            dip_share=self.dip_share,
            stream_key_copies=cast(tuple[KeyCopy, ...], self.stream_key_copies),
            stream_key_field=self.stream_key_field,
            echo_token=self.echo_token,
            date_offset_seconds=self.date_offset_seconds,
        )
