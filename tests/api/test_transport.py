"""The client's transport: httpx's own, whose pool checks idle connections with one poll(2)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from streamledger.client import RealtimeKitClient, _tls_context
from streamledger.settings import Secret, Settings
from streamledger.transport import IdleCheckBackend, is_readable, transport

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
BODY = b'{"success":true,"data":[]}'
SETTINGS = Settings(
    api_token=Secret("tok-secret-42"),
    account_id="acc",
    app_ids=("app",),
    base_url="http://api.test/client/v4",
    database=Path("unused.duckdb"),
)


def test_the_pool_connects_through_the_idle_check_backend() -> None:
    # Fails when an httpx or httpcore release renames what transport() wraps: the pool would then check
    # idle connections the slow way again, silently.
    made = transport(_tls_context(), 8)
    assert isinstance(made._pool._network_backend, IdleCheckBackend)


def test_a_socket_is_readable_once_the_peer_sends_or_closes() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not is_readable(ours)
        theirs.sendall(b"x")
        assert is_readable(ours)
        ours.recv(1)
        assert not is_readable(ours)
        theirs.close()
        assert is_readable(ours)
    assert is_readable(ours)  # closed: fileno -1
    assert is_readable(None)


def test_an_idle_connection_the_server_closed_is_replaced_not_reused() -> None:
    async def scenario() -> tuple[list[int], int]:
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ANSWER)
            await writer.drain()
            writer.close()  # keep-alive promised (HTTP/1.1), then the server closes while the client idles

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        statuses = []
        async with server, httpx.AsyncClient(transport=transport(_tls_context(), 2)) as client:
            for _ in range(3):
                response = await client.get(f"http://127.0.0.1:{port}/")
                statuses.append(response.status_code)
                await asyncio.sleep(0.05)  # the close reaches the client's idle connection
        return statuses, connections

    statuses, connections = asyncio.run(scenario())
    assert statuses == [200, 200, 200]
    assert connections == 3


def test_a_proxy_named_by_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx reads HTTP(S)_PROXY only for a client given no transport of its own.
    async def scenario() -> tuple[Any, list[bytes]]:
        seen: list[bytes] = []

        async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append((await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")[0])
            writer.write(ANSWER.replace(b"2\r\n\r\n{}", b"26\r\n\r\n" + BODY))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with server, RealtimeKitClient(SETTINGS) as client:
            body = await client.read_app_path("analytics_daywise", "app", "/analytics/livestreams/daywise")
        return body, seen

    body, seen = asyncio.run(scenario())
    assert body == orjson.loads(BODY)
    assert seen == [
        b"GET http://api.test/client/v4/accounts/acc/realtime/kit/app/analytics/livestreams/daywise HTTP/1.1"
    ]
