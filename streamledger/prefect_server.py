"""A local `prefect server` for `streamledger serve` without PREFECT_API_URL: started, then stopped.

While it runs, its API URL is in a file in its home, so that a one-shot `streamledger snapshot` runs on it
instead of starting a temporary server of its own (about 10 s).
"""

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
from streamledger.files import write_atomically

PREFERRED_PORT = 4200
STARTUP_SECONDS = 120.0
STOP_SECONDS = 20.0
API_URL_FILE = "api-url"  # in the server's home while it runs
ANSWER_SECONDS = 1.0  # how long a one-shot command waits for a recorded server to say it is healthy
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
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_until_healthy(server, api_url, home / "server.log")
        write_atomically(home / API_URL_FILE, f"{api_url}\n".encode())
        yield api_url
    finally:
        if _recorded(home) == api_url:
            (home / API_URL_FILE).unlink(missing_ok=True)
        _stop(server)
        log.close()


def running_server(home: Path) -> str | None:
    """Return the API URL of the local server whose state is in `home` (the one `serve` started), if it
    runs and answers its health check within ANSWER_SECONDS; else None."""
    api_url = _recorded(home)
    if api_url is None:
        return None
    try:
        answer = httpx.get(f"{api_url}/health", timeout=ANSWER_SECONDS)
    except httpx.HTTPError:
        return None
    return api_url if answer.status_code == 200 and answer.text.strip() == "true" else None


def _recorded(home: Path) -> str | None:
    try:
        api_url = (home / API_URL_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return api_url if api_url.startswith("http://127.0.0.1:") else None


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
