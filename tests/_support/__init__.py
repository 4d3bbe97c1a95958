"""Helpers shared by the whole suite: a client of the fake with fast retries, a leak check.

Every test module imports them the same way, from the repository root (pytest's `pythonpath`
puts it on the path): `from tests._support import FAST_RETRIES, make_client`.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from yarl import URL

from godeploy import (
    AiohttpTransport,
    GoDeployClient,
    RetryPolicy,
    TransportRequest,
    TransportResponse,
)
from godeploy.testing import FakeGoDeploy

__all__ = ["FAST_RETRIES", "RecordingTransport", "acquired_connections", "make_client", "serve"]

FAST_RETRIES = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_cap=0.01)
"""The default policy's shape (3 retries, full jitter) with millisecond backoffs."""


def make_client(fake: FakeGoDeploy, **options: Any) -> GoDeployClient:
    """A client of `fake` with fast retries unless told otherwise."""
    options.setdefault("retry_policy", FAST_RETRIES)
    return GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url, **options)


class RecordingTransport:
    """The real transport, noting each request it is asked to send (a user-level seam); the
    test owns it, so the test closes it (`async with`, or `aclose()`)."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()
        self.sent: list[TransportRequest] = []

    async def send(self, request: TransportRequest) -> TransportResponse:
        self.sent.append(request)
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> RecordingTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def acquired_connections(client: GoDeployClient) -> int:
    """Connections the client's connector has handed out and not got back (through a
    `RecordingTransport`, those of the transport it wraps)."""
    transport = client.transport
    if isinstance(transport, RecordingTransport):
        transport = transport.inner
    session = transport.session  # type: ignore[attr-defined]
    return 0 if session is None else len(session.connector._acquired)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[URL]:
    """Serve every request (any method and path) with `handler` on loopback; yield the URL."""

    async def route(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield URL.build(scheme="https" if ssl_context else "http", host=host, port=port)
    finally:
        await runner.cleanup()
