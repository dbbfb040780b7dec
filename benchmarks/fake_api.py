"""A fast fake of the RealtimeKit API for timing the client: the simulator's answers, served from memory.

The simulator (Starlette under uvicorn) spends about a millisecond of its own per answer, as much as the
client it is meant to time. The fake asks it once for each request target (path and query), keeps the
status, the body and the rate-limit headers, and from then on answers that target from memory on a raw
asyncio protocol (HTTP/1.1, keep-alive), with a Date header of the current second. A poll's answers are
thus the simulator's (its shapes, its stream keys, its paging), frozen at the moment the fake first saw
them; a warm-up poll fills the cache. The simulator's control paths (/_simulator/...: its ground truth) are
passed through, never kept, and GET /_fake/stats answers the API requests the fake has served, as
/_simulator/stats does (requests_total), with its hits and misses: the simulator's counter sees misses only.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http.client
import json
import multiprocessing
import socket
import time
from collections.abc import Iterator
from typing import Any

from simulator import SimulatorConfig, running_simulator

# The simulator's headers the fake keeps: the client reads Ratelimit and Content-Type.
KEPT_HEADERS = ("content-type", "ratelimit", "ratelimit-policy", "retry-after")
CONTROL = b"/_simulator/"  # the simulator's own paths: asked every time, not counted
STATS = b"/_fake/stats"


class _Cache:
    """The head (without Date) and body of each request target seen, asked of the simulator on a miss."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = http.client.HTTPConnection(host, port)
        self._answers: dict[bytes, tuple[bytes, bytes]] = {}
        self.misses = 0
        self.hits = 0

    def answer(self, target: bytes, authorization: str) -> tuple[bytes, bytes]:
        if target == STATS:
            return self._stats()
        if target.startswith(CONTROL):
            return self._upstream_answer(target, authorization)
        found = self._answers.get(target)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        found = self._upstream_answer(target, authorization)
        if found[0].startswith(b"HTTP/1.1 200 "):  # an error answer (a fault, a 404) is not kept
            self._answers[target] = found
        return found

    def _stats(self) -> tuple[bytes, bytes]:
        """The API requests served so far (kept answers and misses), as JSON."""
        counts = {"requests_total": self.hits + self.misses, "hits": self.hits, "misses": self.misses}
        body = json.dumps(counts).encode()
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: {len(body)}\r\n"
        return head.encode("latin-1"), body

    def _upstream_answer(self, target: bytes, authorization: str) -> tuple[bytes, bytes]:
        """The simulator's answer to `target`: its status line, kept headers and body."""
        # A blocking call on the fake's loop: misses happen in the warm-up poll only. uvicorn closes a
        # connection idle for 5 s, which shows on the next request: that one is sent again, once.
        headers = {"Authorization": authorization}
        try:
            self._upstream.request("GET", target.decode("latin-1"), headers=headers)
            response = self._upstream.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            self._upstream.close()
            self._upstream.request("GET", target.decode("latin-1"), headers=headers)
            response = self._upstream.getresponse()
        body = response.read()
        lines = [f"HTTP/1.1 {response.status} {response.reason}"]
        lines += [f"{name}: {value}" for name, value in response.getheaders() if name.lower() in KEPT_HEADERS]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n").encode("latin-1"), body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: each request's head is read whole, then its kept answer written."""

    def __init__(self, cache: _Cache) -> None:
        self._cache = cache
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
            request_line, _, rest = head.partition(b"\r\n")
            target = request_line.split(b" ")[1]
            authorization = ""
            for line in rest.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.lower() == b"authorization":
                    authorization = value.strip().decode("latin-1")
            start, body = self._cache.answer(target, authorization)
            assert self._transport is not None
            self._transport.write(b"".join((start, _date_line(), b"\r\n", body)))


_DATE: list[Any] = [0, b""]


def _date_line() -> bytes:
    """The Date header of the current second (formatted once a second)."""
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = [now, f"Date: {email.utils.formatdate(now, usegmt=True)}\r\n".encode()]
    line: bytes = _DATE[1]
    return line


def serve(config: SimulatorConfig, port: int) -> None:
    """Serve the fake on 127.0.0.1:port in front of a simulator of `config` (run in its own process)."""
    with running_simulator(config) as sim:
        cache = _Cache("127.0.0.1", sim.port)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(lambda: _Connection(cache), "127.0.0.1", port)
            async with server:
                await server.serve_forever()

        asyncio.run(main())


@contextlib.contextmanager
def fake_api(config: SimulatorConfig, startup_seconds: float = 30.0) -> Iterator[str]:
    """Serve the fake of `config` from its own process; yield its root URL (no /client/v4)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(config, port), daemon=True)
    server.start()
    deadline = time.monotonic() + startup_seconds
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or not server.is_alive():
                    raise RuntimeError(f"the fake API did not start on port {port}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.join()
