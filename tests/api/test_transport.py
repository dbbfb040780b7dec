"""The client's transport: aiohttp's pool under httpx's client, httpx's own behind a proxy."""

from __future__ import annotations

import asyncio
import gzip
import socket
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from streamledger.client import RealtimeKitClient, _tls_context
from streamledger.settings import Secret, Settings
from streamledger.transport import transport

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
BODY = b'{"success":true,"data":[]}'
SETTINGS = Settings(
    api_token=Secret("tok-secret-42"),
    account_id="acc",
    app_ids=("app",),
    base_url="http://api.test/client/v4",
    database=Path("unused.duckdb"),
)


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


async def served(
    answer: bytes, urls: list[str], *, close: bool = False
) -> tuple[list[bytes], list[httpx.Response], list[bytes]]:
    """Each URL's GET through transport() against a 127.0.0.1 server that answers `answer` (and closes after
    it when told to); the request lines the server read, the responses, each raw body."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not reader.at_eof():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            heads.append(head.split(b"\r\n")[0])
            writer.write(answer)
            await writer.drain()
            if close:
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    responses, bodies = [], []
    async with server, httpx.AsyncClient(transport=transport(_tls_context(), 2)) as client:
        for url in urls:
            async with client.stream("GET", f"http://127.0.0.1:{port}{url}") as response:
                bodies.append(b"".join([piece async for piece in response.aiter_raw()]))
                responses.append(response)
    return heads, responses, bodies


def test_the_url_reaches_the_server_exactly_as_httpx_built_it() -> None:
    # aiohttp's URL type decodes %2E and then resolves the "." and ".." it made, unless told not to.
    paths = ["/a/%2E%2E/b", "/a/%2E/b", "/x/..%2F..%2Fetc%2Fpasswd", "/a%252Fb/%C3%A9?q=%2E%20+&r=a%2Fb"]
    heads, responses, _ = asyncio.run(served(ANSWER, paths))
    assert heads == [f"GET {path} HTTP/1.1".encode() for path in paths]
    assert [response.status_code for response in responses] == [200] * 4


def test_a_compressed_body_is_handed_over_as_sent_for_the_client_to_inflate_within_its_caps() -> None:
    body = gzip.compress(b"0" * 100_000)
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    _, responses, bodies = asyncio.run(served(answer, ["/"]))
    assert bodies == [body]
    assert responses[0].headers["content-encoding"] == "gzip"


def test_a_redirect_is_answered_not_followed() -> None:
    answer = b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\n\r\n"
    heads, responses, _ = asyncio.run(served(answer, ["/here"]))
    assert heads == [b"GET /here HTTP/1.1"]
    assert responses[0].status_code == 302


@pytest.mark.parametrize(
    ("answer", "error", "text"),
    [
        (b"", httpx.RemoteProtocolError, "Server disconnected without sending a response."),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",
            httpx.RemoteProtocolError,
            "peer closed connection without sending complete message body (received 5 bytes, expected 10)",
        ),
        (b"NOT HTTP\r\n\r\n", httpx.RemoteProtocolError, ""),
    ],
)
def test_a_broken_answer_is_httpx_s_error_with_httpx_s_message(
    answer: bytes, error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as raised:
        asyncio.run(served(answer, ["/"], close=True))
    assert text in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_refused_connection_is_a_connect_error() -> None:
    async def scenario() -> None:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        async with httpx.AsyncClient(transport=transport(_tls_context(), 2)) as client:
            await client.get(f"http://127.0.0.1:{port}/")

    with pytest.raises(httpx.ConnectError, match=r"Connect call failed|Connection refused"):
        asyncio.run(scenario())
