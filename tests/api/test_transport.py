"""The client's transport: httpx's own, whose pool checks idle connections with one poll(2)."""

from __future__ import annotations

import asyncio
import socket

import httpx

from streamledger.client import _tls_context
from streamledger.transport import IdleCheckBackend, is_readable, transport

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


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
