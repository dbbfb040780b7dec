"""python -m simulator: the development side of streamledger, outside the product.

python -m simulator serve [options]    the simulated RealtimeKit API on 127.0.0.1 until interrupted
python -m simulator demo [options]     the simulator, a minute of real snapshot flow runs, the reports
python -m simulator serve-product      `streamledger serve`, polling a simulator instead of Cloudflare
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.config import SimulatorConfig
from simulator.server import add_simulator_arguments, config_from_args, running_simulator, serve_forever


def main(argv: Sequence[str] | None = None) -> int:
    """Run one of the simulator's commands; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the simulated API on 127.0.0.1 until interrupted")
    add_simulator_arguments(serve)
    demo = commands.add_parser(
        "demo", help="simulator + a minute of snapshot flow runs + reports, no credentials"
    )
    demo.add_argument("--seconds", type=float, default=60.0, help="how long to keep polling (default 60)")
    demo.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")
    demo.add_argument("--livestreams", type=int, default=12, help="simulated livestreams (default 12)")
    demo.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    demo.add_argument(
        "--database",
        type=Path,
        default=Path("data/demo.duckdb"),
        help="recreated on each run (default %(default)s)",
    )
    commands.add_parser(
        "serve-product", help="streamledger serve, its deployments polling a simulator on 127.0.0.1"
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            config = config_from_args(args)
        except ValueError as error:
            parser.error(str(error))
        with contextlib.suppress(KeyboardInterrupt):
            serve_forever(config, args.sim_port, args.sim_host)
        return 0
    if args.command == "demo":
        from simulator.demo import run_demo

        return run_demo(
            seconds=args.seconds,
            interval=args.interval,
            livestreams=args.livestreams,
            seed=args.seed,
            database=args.database,
        )
    return serve_product()


def serve_product() -> int:
    """Start a simulator, point the product's settings at it, then run `streamledger serve` in-process."""
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


if __name__ == "__main__":
    sys.exit(main())
