"""Hostile API servers over real sockets on 127.0.0.1: trickled, compressed, endless and redirecting bodies,
and endless paging. tests/poll/test_hostile.py polls them; benchmarks/hostile.py measures the same polls.

Each server speaks just enough HTTP/1.1, written by hand on an asyncio stream (no framework that would
refuse to misbehave), and closes every connection after one answer. A `Route` decides what each request
gets; the behaviours below are its building blocks.
"""

from __future__ import annotations

import asyncio
import functools
import struct
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import orjson

KIT = "/client/v4/accounts/acc/realtime/kit"
MIB = 2**20
PIECE = 64 * 1024  # what an endless body writes at a time


@dataclass(frozen=True)
class Request:
    """One request as the server read it: its path under the account's kit, and its query."""

    target: str
    path: str
    query: dict[str, str]

    @property
    def page(self) -> int:
        return int(self.query.get("page_no", "1"))


Writer = asyncio.StreamWriter
Behaviour = Callable[[Request, Writer], Awaitable[None]]
Route = Callable[[Request], Behaviour]


@dataclass
class HostileServer:
    """A running server: where it listens, and the request targets it was sent, in order."""

    root_url: str
    requests: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The CLOUDFLARE_BASE_URL that points at it."""
        return f"{self.root_url}/client/v4"


@contextmanager
def serving(route: Route) -> Iterator[HostileServer]:
    """A HostileServer answering by `route`, in a thread with its own event loop, for the block."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: list[HostileServer] = []
    server_box: list[asyncio.Server] = []

    async def handle(reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            holder[0].requests.append(target)
            url = urlsplit(target)
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            request = Request(target, url.path.removeprefix(KIT), query)
            await route(request)(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up: what a bounded client does to a hostile server
        except asyncio.CancelledError:
            pass  # the server stops (asyncio's stream callback would report a cancelled handler as an error)
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def start() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        server_box.append(server)
        port = server.sockets[0].getsockname()[1]
        holder.append(HostileServer(f"http://127.0.0.1:{port}"))
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        server_box[0].close()
        loop.run_until_complete(server_box[0].wait_closed())
        loop.close()

    thread = threading.Thread(target=run, name="hostile-server", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield holder[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# --- writing answers -------------------------------------------------------------------------------------


async def head(writer: Writer, status: int, headers: dict[str, str]) -> None:
    """Write a status line and headers (Connection: close, JSON unless told otherwise)."""
    lines = [f"HTTP/1.1 {status} Hostile", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in ({"Content-Type": "application/json"} | headers).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()


async def answer(
    writer: Writer, body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> None:
    """Write a whole, well-formed answer."""
    await head(writer, status, {"Content-Length": str(len(body)), **(headers or {})})
    writer.write(body)
    await writer.drain()


def json_answer(value: object, status: int = 200) -> Behaviour:
    """A well-formed JSON answer."""
    body = orjson.dumps(value)

    async def behave(request: Request, writer: Writer) -> None:
        await answer(writer, body, status)

    return behave


def trickle(interval: float, promised: int = 10_000) -> Behaviour:
    """Promise `promised` bytes, then send one every `interval` seconds (each within any read timeout)."""

    async def behave(request: Request, writer: Writer) -> None:
        await head(writer, 200, {"Content-Length": str(promised)})
        for _ in range(promised):
            await asyncio.sleep(interval)
            writer.write(b" ")
            await writer.drain()

    return behave


def gzip_bomb(decoded_bytes: int) -> Behaviour:
    """A valid gzip body of `decoded_bytes` zeros, about 1/1000 of that on the wire (4 GiB: 4.2 MB)."""

    body = bomb(decoded_bytes)

    async def behave(request: Request, writer: Writer) -> None:
        await head(writer, 200, {"Content-Encoding": "gzip", "Content-Length": str(len(body))})
        for start in range(0, len(body), PIECE):
            writer.write(body[start : start + PIECE])
            await writer.drain()

    return behave


@functools.cache
def bomb(decoded_bytes: int) -> bytes:
    """gzip of `decoded_bytes` zeros (a whole number of MiB), built from one flushed block repeated."""
    mebibytes = max(1, decoded_bytes // MIB)
    zeros = bytes(MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)  # after a full flush: all the same
    end = deflate.flush()[:-8]  # the last, empty block; the trailer below counts every block
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (mebibytes * MIB) & 0xFFFFFFFF)
    return first + block * (mebibytes - 1) + end + trailer


async def endless_chunked(request: Request, writer: Writer) -> None:
    """A chunked body that never ends."""
    await head(writer, 200, {"Transfer-Encoding": "chunked"})
    chunk = f"{PIECE:x}\r\n".encode() + b"0," * (PIECE // 2) + b"\r\n"
    while True:
        writer.write(chunk)
        await writer.drain()


async def huge_length(request: Request, writer: Writer) -> None:
    """A Content-Length of 6 GB, then as many bytes as the client will take."""
    await head(writer, 200, {"Content-Length": str(6_000_000_000)})
    piece = b" " * PIECE
    while True:
        writer.write(piece)
        await writer.drain()


def redirect(location: str, status: int = 302) -> Behaviour:
    """A redirect to `location` (an absolute URL, or a path: the same one makes a loop)."""

    async def behave(request: Request, writer: Writer) -> None:
        await answer(writer, b"", status, {"Location": location or request.target})

    return behave


# --- an API that pages forever -----------------------------------------------------------------------------

ENDLESS = 10**9  # the total_count an endless list claims


def endless_page(request: Request, prefix: str, **fields: object) -> Behaviour:
    """A full page of a list that never ends: per_page new items, and paging that says there are more."""
    per_page = int(request.query.get("per_page", "20"))
    page = request.page
    items = [{"id": f"{prefix}-{page}-{n}", **fields} for n in range(per_page)]
    paging = {
        "start_offset": (page - 1) * per_page + 1,
        "end_offset": page * per_page,
        "total_count": ENDLESS,
    }
    return json_answer({"success": True, "data": items, "paging": paging})


def livestream(status: str = "LIVE") -> dict[str, object]:
    """The listed attributes of one livestream in the given status."""
    return {
        "status": status,
        "name": None,
        "disabled": False,
        "meeting_id": None,
        "created_at": "2026-11-02T00:00:00.000Z",
        "updated_at": "2026-11-02T00:00:00.000Z",
    }


NOT_FOUND = json_answer({"success": False, "errors": [{"code": 404, "message": "not found"}]}, 404)
NO_SESSIONS = json_answer({"success": True, "data": {"sessions": []}, "paging": {"total_count": 0}})


def endless_api(request: Request) -> Behaviour:
    """Endless apps, each with endless livestreams (LIVE and INVOKED alike), none with a session."""
    if request.path == "/apps":
        return endless_page(request, "app", name="app")
    if request.path.endswith("/livestreams"):
        status = request.query.get("status", "LIVE")
        return endless_page(request, f"ls-{status.lower()}", **livestream(status))
    if request.path.endswith("/active-livestream-session"):
        return NOT_FOUND
    return NO_SESSIONS


def listing_then(reads: Behaviour, live: int = 3) -> Route:
    """An app that lists `live` LIVE livestreams (nothing else), and answers every other read by `reads`."""

    def route(request: Request) -> Behaviour:
        if request.path.endswith("/livestreams"):
            status = request.query.get("status")
            shown = [] if status not in (None, "LIVE") else list(range(live))
            items = [{"id": f"ls-{n}", **livestream()} for n in shown]
            paging = {"start_offset": 1, "end_offset": len(items), "total_count": len(items)}
            return json_answer({"success": True, "data": items, "paging": paging})
        return reads

    return route


def everything(behaviour: Behaviour) -> Route:
    """Every request gets `behaviour`."""
    return lambda request: behaviour
