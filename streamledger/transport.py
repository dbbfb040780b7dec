"""The client's HTTP transport: aiohttp's connection pool and parser under httpx's client (issue 15).

On httpx's own transport (httpcore's pool, anyio's streams and timeout scopes, h11) a GET of a steady poll
of 1,000 livestreams cost about 0.7 ms of CPU, on aiohttp's about 0.3 ms (BENCHMARKS.md, Client overhead).
httpx stays the client: its requests, headers, cookies, timeouts' settings, redirects (never followed) and
the body's decoding, which `streamledger.client` does from the raw bytes so that its caps see every piece.
When the environment names a proxy, the client keeps httpx's own transport, which reads those settings.
"""

from __future__ import annotations

import re
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
import yarl

# What the connection buffers ahead of the client before it stops reading the socket (twice this, at most).
READ_BUFFER = 64 * 1024
# Checked in this order: the first class an aiohttp error is an instance of names httpx's error for it.
ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a status line or header it cannot parse
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
)


def client_transport(verify: ssl.SSLContext, max_connections: int) -> httpx.AsyncBaseTransport | None:
    """The transport for the client; None when the environment names a proxy (HTTPS_PROXY and the like):
    httpx reads those only for a client given no transport, and routes through them as it always did."""
    return None if urllib.request.getproxies() else transport(verify, max_connections)


def transport(verify: ssl.SSLContext, max_connections: int) -> AiohttpTransport:
    """An aiohttp transport with this TLS context and at most this many connections."""
    return AiohttpTransport(verify, max_connections)


@contextmanager
def httpx_errors() -> Iterator[None]:
    """Raise aiohttp's errors as httpx's, so that the client sees only httpx's (and their messages)."""
    try:
        yield
    except aiohttp.ClientError as exc:
        error = next(error for kind, error in ERRORS if isinstance(exc, kind))
        raise error(message(exc)) from exc


def message(exc: aiohttp.ClientError) -> str:
    """The message httpx's own transport gives for the same failure, where it has one; else aiohttp's."""
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "timed out"  # the client names the limit that was reached
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "Server disconnected without sending a response."
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return str(exc.certificate_error)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return str(exc.os_error)  # without the host and port the client's own message gives
    text = str(exc)
    if isinstance(exc, aiohttp.ClientPayloadError):
        counts = re.search(r"received (\d+) of (\d+) bytes", text)
        if counts:
            received, expected = counts.groups()
            return (
                "peer closed connection without sending complete message body "
                f"(received {received} bytes, expected {expected})"
            )
        if "Not enough data to satisfy transfer length header" in text:
            return "peer closed connection without sending complete message body (incomplete chunked read)"
    return text or type(exc).__name__


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent on an aiohttp session: no redirects followed, no decompression, no cookies of
    its own (httpx keeps them), the URL sent exactly as httpx built it."""

    def __init__(self, verify: ssl.SSLContext, max_connections: int) -> None:
        self._verify = verify
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        """The session, made on first use: aiohttp binds it to the running event loop."""
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ssl=self._verify, keepalive_timeout=5.0, ttl_dns_cache=10
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                read_bufsize=READ_BUFFER,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        content = request.content  # the client sends only GETs: never a stream
        with httpx_errors():
            response = await self._session_now().request(
                request.method,
                # encoded: yarl would otherwise decode %2E and then resolve the "." and ".." it made
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=content or None,
                allow_redirects=False,
                compress=None,
                timeout=aiohttp.ClientTimeout(
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        version = response.version or aiohttp.HttpVersion11
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=AiohttpStream(response),
            request=request,
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode(),
                "reason_phrase": (response.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AiohttpStream(httpx.AsyncByteStream):
    """A response's body as it arrives, undecoded; closed before its end, its connection is not reused."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors():
            async for piece in self._response.content.iter_any():
                yield piece

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()
