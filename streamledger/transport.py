"""The client's HTTP transport: httpx's own, whose connections answer the pool's idle check with one poll(2).

Before each request and after each response, httpcore's pool asks every idle connection whether the server
closed it (`is_readable`). Through anyio that question builds the socket's whole attribute table, with a
getpeername(2), before the poll(2) that answers it: at 8 connections and 1,000 requests a poll, about a
fifth of the client's time (issue 15). The streams here keep their socket and answer with the poll alone.
"""

from __future__ import annotations

import select
import socket
import ssl
import urllib.request
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx


def client_transport(verify: ssl.SSLContext, max_connections: int) -> httpx.AsyncHTTPTransport | None:
    """The transport for the client; None when the environment names a proxy (HTTPS_PROXY and the like):
    httpx reads those only for a client given no transport, and routes through them as it always did."""
    return None if urllib.request.getproxies() else transport(verify, max_connections)


def transport(verify: ssl.SSLContext, max_connections: int) -> httpx.AsyncHTTPTransport:
    """httpx's transport with these limits, its pool connecting through IdleCheckBackend."""
    made = httpx.AsyncHTTPTransport(verify=verify, limits=httpx.Limits(max_connections=max_connections))
    # httpx builds the pool and takes no network backend: the pool's own is wrapped in place. Should a
    # later httpx or httpcore name them otherwise, the transport stays as httpx made it (a test says so).
    pool = getattr(made, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = IdleCheckBackend(backend)  # type: ignore[union-attr]
    return made


def is_readable(sock: socket.socket | None) -> bool:
    """Whether a socket has something to read (or is gone): the server closed an idle connection."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class IdleCheckStream(httpcore.AsyncNetworkStream):
    """A stream of another backend that answers `is_readable` from the socket it keeps."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return IdleCheckStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_readable(self._socket)
        return self._stream.get_extra_info(info)


class IdleCheckBackend(httpcore.AsyncNetworkBackend):
    """Another backend whose streams are IdleCheckStreams."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return IdleCheckStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return IdleCheckStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
