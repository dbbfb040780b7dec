"""A local `prefect server` for `streamledger serve` without PREFECT_API_URL: started, then stopped."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx

from streamledger.errors import ConfigError

PREFERRED_PORT = 4200
STARTUP_SECONDS = 120.0
STOP_SECONDS = 20.0
PR_SET_PDEATHSIG = 1


@contextmanager
def local_prefect_server(home: Path, *, port: int | None = None) -> Iterator[str]:
    """Run `prefect server start` on 127.0.0.1 with its state in `home`; yield its API URL; stop it after.

    The server runs in its own process group, which is terminated (then killed) on the way out, and it
    is told to stop if this process dies without cleaning up (Linux's parent-death signal).
    """
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port(PREFERRED_PORT)
    env = os.environ | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("ab")
    prefect = Path(sys.executable).parent / "prefect"
    command = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    try:
        api_url = f"http://127.0.0.1:{port}/api"
        _wait_until_healthy(server, api_url, home / "server.log")
        yield api_url
    finally:
        _stop(server)
        log.close()


def free_port(preferred: int) -> int:
    """Return `preferred` if nothing listens on it on 127.0.0.1, else a free port the system picks."""
    for candidate in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise ConfigError("no free port on 127.0.0.1 for a local Prefect server")


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so that `serve` cleans up (stops its server) as on Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_until_healthy(server: subprocess.Popen[bytes], api_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ConfigError(f"the local Prefect server exited with status {server.returncode}; see {log}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ConfigError(f"the local Prefect server did not answer within {STARTUP_SECONDS:g} s; see {log}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    # Whatever the server started and left behind in its group goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
