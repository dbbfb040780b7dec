"""The commands of `python -m simulator`: the development side of streamledger, outside the product.

python -m simulator serve [options]    the simulated RealtimeKit API on 127.0.0.1 until interrupted
python -m simulator demo [options]     the simulator, a minute of real snapshot flow runs, the reports
python -m simulator serve-product      `streamledger serve`, polling a simulator instead of Cloudflare
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from cyclopts import App, CycloptsError, Group, Parameter

from simulator.config import SimulatorConfig
from simulator.server import ServeOptions, running_simulator, serve_forever
from streamledger.cli import HelpConsole, usage_error

PROG = "python -m simulator"
DEMO_DATABASE = Path("data/demo.duckdb")

app = App(
    name=PROG,
    help="The development side of streamledger: a simulated RealtimeKit API, the demo, serve on it.",
    version_flags=(),
    result_action="return_value",
    suppress_keyboard_interrupt=False,
    group_commands=Group("Develop"),
    group_parameters=Group("Options"),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one of the simulator's commands; a usage error is one line and exit status 2."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(tokens, console=HelpConsole(), exit_on_error=False, print_error=False)
        return int(result or 0)  # --help returns None
    except CycloptsError as exc:
        print(f"{PROG}: error: {usage_error(exc, PROG)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a knob out of range, named by SimulatorConfig
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


def parse_serve(argv: Sequence[str]) -> ServeOptions:
    """The options of `serve` given on a command line (a CycloptsError when they cannot be parsed)."""
    _, bound, _ = app.parse_args(["serve", *argv], exit_on_error=False, print_error=False)
    options = bound.arguments.get("options", ServeOptions())
    assert isinstance(options, ServeOptions)
    return options


@app.command
def serve(options: Annotated[ServeOptions, Parameter(name="*")] = ServeOptions()) -> int:  # noqa: B008
    """Serve the simulated API on 127.0.0.1 until interrupted; its base URL is printed on stderr."""
    config = options.config()
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(config, options.port, options.host)
    return 0


@app.command
def demo(
    *,
    seconds: Annotated[float, Parameter(help="how long to keep polling", metavar="SECONDS")] = 60.0,
    interval: Annotated[float, Parameter(help="seconds between polls", metavar="SECONDS")] = 5.0,
    livestreams: Annotated[int, Parameter(help="simulated livestreams")] = 12,
    seed: Annotated[int, Parameter(help="the simulator's seed")] = 7,
    database: Annotated[
        Path, Parameter(help="the demo's DuckDB file, recreated on each run", metavar="PATH")
    ] = DEMO_DATABASE,
) -> int:
    """The simulator, a minute of real snapshot flow runs, the reports and an export; no credentials."""
    from simulator.demo import run_demo

    return run_demo(seconds=seconds, interval=interval, livestreams=livestreams, seed=seed, database=database)


@app.command(name="serve-product")
def serve_product() -> int:
    """`streamledger serve`, its deployments polling a simulator on 127.0.0.1 instead of Cloudflare."""
    from streamledger.cli import main as streamledger

    config = SimulatorConfig()
    with running_simulator(config) as sim:
        os.environ.update(
            {
                "CLOUDFLARE_API_TOKEN": config.token,
                "CLOUDFLARE_ACCOUNT_ID": config.account_id,
                "REALTIMEKIT_APP_ID": ",".join(config.app_ids),
                "CLOUDFLARE_BASE_URL": sim.base_url,
            }
        )
        os.environ.setdefault("STREAMLEDGER_DATABASE", "data/simulated.duckdb")
        print(
            f"simulator: {sim.base_url} ({config.livestreams} livestreams); database: "
            f"{os.environ['STREAMLEDGER_DATABASE']}",
            flush=True,
        )
        return streamledger(["serve"])
