"""Bounded answers: a body is read up to `max_response_bytes` (after decompression), no further.

Loopback aiohttp servers answer with bodies past the limit (plain, chunked, gzip); the call
raises `ResponseTooLargeError`, the connection is dropped rather than pooled, and an error body
is cut before it is parsed. Two child processes measure the peak RSS of a 1 GiB answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from godeploy import (
    AiohttpTransport,
    BadRequestError,
    GoDeployClient,
    MockTransport,
    RequestValidationError,
    ResponseTooLargeError,
    ResponseValidationError,
    TransportRequest,
    TransportResponse,
)
from tests.body_limit_probe import gzip_of_zeros
from tests.support import serve

MIB = 1024 * 1024
UNIT = "8d5a7c1e-1f0e-4a36-9d07-2b7f4c1d9e01"
PRODUCT = "1b9f3c52-6a0e-4d8b-b3a1-0e2f5d7c9a14"
PROBE = Path(__file__).with_name("body_limit_probe.py")


class Answers:
    """A handler that answers each request with `body` (streamed in chunks when `chunked`),
    and notes which client connections (by peer port) the requests came on."""

    def __init__(
        self,
        body: bytes,
        *,
        status: int = 200,
        chunked: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.body = body
        self.status = status
        self.chunked = chunked
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.peers: list[int] = []

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers.append(peer[1] if peer else -1)
        if not self.chunked:
            return web.Response(status=self.status, body=self.body, headers=self.headers)
        response = web.StreamResponse(status=self.status, headers=self.headers)
        await response.prepare(request)
        try:
            for start in range(0, len(self.body), 64 * 1024):
                await response.write(self.body[start : start + 64 * 1024])
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up at its limit
        return response


def get(url: URL) -> TransportRequest:
    return TransportRequest(method="GET", url=url / "api/v2/products", headers={}, timeout=30)


def pooled_connections(transport: AiohttpTransport) -> int:
    """Idle connections the connector keeps for reuse, and those handed out."""
    session = transport.session
    assert session is not None
    connector = session.connector
    idle = sum(len(conns) for conns in connector._conns.values())  # type: ignore[union-attr]
    return idle + len(connector._acquired)  # type: ignore[union-attr]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_at_the_limit_is_read_and_one_byte_more_is_refused(chunked):
    limit = 100_000
    answers = Answers(b"x" * limit, chunked=chunked)
    async with serve(answers) as url:
        transport = AiohttpTransport(max_response_bytes=limit)
        try:
            response = await transport.send(get(url))
            assert len(response.body) == limit
            answers.body += b"x"
            with pytest.raises(ResponseTooLargeError) as caught:
                await transport.send(get(url))
            assert caught.value.max_bytes == limit
            # (Whether this connection is pooled depends on whether the last byte had come:
            # a whole body leaves it clean. The tests below send far more than the limit.)
        finally:
            await transport.aclose()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_call_past_the_limit_raises_a_typed_error_and_drops_the_connection(chunked):
    answers = Answers(b"[" + b"0," * (10 * MIB) + b"0]", chunked=chunked)
    async with (
        serve(answers) as url,
        GoDeployClient("a-token", UNIT, base_url=url, max_response_bytes=MIB) as client,
    ):
        with pytest.raises(ResponseTooLargeError) as caught:
            await client.products.get(PRODUCT)
        # The connection is closed, not pooled: the next request comes on a new one.
        assert pooled_connections(client.transport) == 0  # type: ignore[arg-type]
        with pytest.raises(ResponseTooLargeError):
            await client.products.get(PRODUCT)
    error = caught.value
    assert isinstance(error, ResponseValidationError)
    assert "max_response_bytes (1,048,576 bytes" in str(error)
    assert "GoDeployClient(max_response_bytes=...)" in str(error)
    assert error.url is not None and error.url.path == f"/api/v2/products/{PRODUCT}"
    # Not retried (the same answer would come again), and never on a reused connection.
    assert len(answers.peers) == 2 and answers.peers[0] != answers.peers[1]


async def test_a_gzip_body_counts_its_inflated_size():
    bomb = gzip_of_zeros(64 * MIB)  # 4 KiB on the wire
    answers = Answers(bomb, headers={"Content-Encoding": "gzip"})
    async with (
        serve(answers) as url,
        GoDeployClient("a-token", UNIT, base_url=url, max_response_bytes=MIB) as client,
    ):
        with pytest.raises(ResponseTooLargeError):
            await client.products.get(PRODUCT)
        assert pooled_connections(client.transport) == 0  # type: ignore[arg-type]
    assert len(bomb) < 100_000


async def test_a_small_gzip_body_is_inflated_and_read():
    answers = Answers(gzip_of_zeros(MIB), headers={"Content-Encoding": "gzip"})
    async with serve(answers) as url:
        transport = AiohttpTransport(max_response_bytes=MIB)
        try:
            response = await transport.send(get(url))
        finally:
            await transport.aclose()
    assert response.body == bytes(MIB)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_error_body_is_cut_before_it_is_parsed(chunked):
    # Valid JSON, 5 MiB: parsed whole it would be a dict; cut at 64 KiB it is text.
    problem = {"title": "Bad Request", "detail": "x" * (5 * MIB)}
    answers = Answers(json.dumps(problem).encode(), status=400, chunked=chunked)
    async with serve(answers) as url:
        transport = AiohttpTransport()
        try:
            response = await transport.send(get(url))
            assert response.status == 400
            assert len(response.body) == 64 * 1024
            assert pooled_connections(transport) == 0
        finally:
            await transport.aclose()
        async with GoDeployClient("a-token", UNIT, base_url=url) as client:
            with pytest.raises(BadRequestError) as caught:
                await client.products.get(PRODUCT)
    assert isinstance(caught.value.body, str)
    assert len(caught.value.body) <= 2001


async def test_a_small_error_body_is_still_parsed():
    answers = Answers(json.dumps({"title": "Bad Request", "detail": "no"}).encode(), status=400)
    async with (
        serve(answers) as url,
        GoDeployClient("a-token", UNIT, base_url=url, max_response_bytes=MIB) as client,
    ):
        with pytest.raises(BadRequestError) as caught:
            await client.products.get(PRODUCT)
    assert caught.value.problem.detail == "no"


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_a_1_gib_answer_costs_less_than_twice_the_limit(kind):
    """The server streams 1 GiB (or a 1 MiB gzip of 1 GiB of zeros); in a fresh process, the
    call's peak RSS grows by less than 2x the 8 MiB limit (with `response.read()`: 2 GiB)."""
    limit = 8 * MIB
    run = subprocess.run(
        [sys.executable, str(PROBE), kind, str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(run.stdout)
    assert figures["error"].startswith("ResponseTooLargeError: "), figures
    assert figures["growth"] < 2 * limit, figures


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "1000", None])
def test_a_bad_limit_is_refused(bad):
    with pytest.raises(RequestValidationError, match="max_response_bytes"):
        GoDeployClient("a-token", UNIT, max_response_bytes=bad)
    with pytest.raises(RequestValidationError, match="max_response_bytes"):
        AiohttpTransport(max_response_bytes=bad)


@pytest.mark.parametrize(
    "option", [{"max_response_bytes": MIB}, {"trust_env": False}, {"ssl": False}]
)
async def test_transport_options_are_refused_beside_a_transport(option):
    transport = MockTransport(lambda request: TransportResponse(status=200))
    with pytest.raises(RequestValidationError, match="set them on your transport"):
        GoDeployClient("a-token", UNIT, transport=transport, **option)
