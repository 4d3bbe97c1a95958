"""`godeploy.MockTransport`: the call loop's logic (retries, token refresh, 429s, deadlines)
tested in memory, with no socket opened, as with `httpx.MockTransport`."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import pytest
import pytest_asyncio

from godeploy import (
    APIConnectionError,
    APITimeoutError,
    GoDeployClient,
    Hooks,
    MockTransport,
    OrderOutcomeUnknownError,
    RateLimitError,
    RateLimitEvent,
    RequestValidationError,
    ServiceUnavailableError,
    TransportRequest,
    TransportResponse,
)
from tests._support import FAST_RETRIES
from tests._support.reference_examples import REFERENCE_EXAMPLES

UNIT = "8d5a7c1e-1f0e-4a36-9d07-2b7f4c1d9e01"
BASE_URL = "https://api.example.invalid/"
PRODUCT_BODY = next(e for e in REFERENCE_EXAMPLES if e.id == "getProduct-response").text.encode()
PRODUCT_ID = json.loads(PRODUCT_BODY)["id"]
JSON = {"Content-Type": "application/json"}


@pytest_asyncio.fixture(autouse=True)
async def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket opened from here on (the test's loop is up) fails the test: these tests are
    in memory."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a MockTransport test opened a socket")

    real_socket = socket.socket

    def network_socket(
        family: int = -1, type: int = -1, proto: int = -1, fileno: int | None = None
    ) -> socket.socket:
        # A network socket fails the test; an event loop's own (uvloop's AF_UNIX wake-up pair,
        # or a socket wrapped around a descriptor it already has) is not the test's doing.
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
            refuse()
        return real_socket(family, type, proto, fileno)

    monkeypatch.setattr(socket, "socket", network_socket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def answers(
    *responses: TransportResponse | Exception,
) -> tuple[MockTransport, list[TransportRequest]]:
    """A transport that gives `responses` in turn (raising the exceptions), and what it got."""
    seen: list[TransportRequest] = []
    pending = list(responses)

    def handler(request: TransportRequest) -> TransportResponse:
        seen.append(request)
        answer = pending.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return MockTransport(handler), seen


def client_of(transport: MockTransport, **options: object) -> GoDeployClient:
    options.setdefault("retry_policy", FAST_RETRIES)
    return GoDeployClient("a-token", UNIT, base_url=BASE_URL, transport=transport, **options)  # type: ignore[arg-type]


async def test_a_503_then_a_200_is_retried_without_a_socket():
    transport, seen = answers(
        TransportResponse(status=503, headers=JSON, body=b'{"title": "down"}'),
        TransportResponse(status=200, headers=JSON, body=PRODUCT_BODY),
    )
    async with client_of(transport) as client:
        product = await client.products.get(PRODUCT_ID)
        assert client.stats["retries"] == 1
    assert str(product.id) == PRODUCT_ID
    assert [request.method for request in seen] == ["GET", "GET"]
    assert seen[0].url.path == f"/api/v2/products/{PRODUCT_ID}"
    assert seen[0].url.query["businessUnitId"] == UNIT
    assert seen[0].headers["Authorization"] == "Bearer a-token"
    await transport.aclose()


async def test_an_async_handler_is_awaited():
    async def handler(request: TransportRequest) -> TransportResponse:
        return TransportResponse(status=200, headers=JSON, body=PRODUCT_BODY)

    transport = MockTransport(handler)
    async with client_of(transport) as client:
        assert str((await client.products.get(PRODUCT_ID)).id) == PRODUCT_ID


async def test_retries_stop_at_the_policy_count():
    transport, seen = answers(*[TransportResponse(status=503, headers=JSON)] * 4)
    async with client_of(transport) as client:
        with pytest.raises(ServiceUnavailableError):
            await client.products.get(PRODUCT_ID)
    assert len(seen) == 4  # 1 + FAST_RETRIES.max_retries


async def test_a_stale_token_is_refreshed_once():
    tokens = iter(["first", "second"])

    async def token() -> str:
        return next(tokens)

    transport, seen = answers(
        TransportResponse(status=401, headers=JSON, body=b'{"title": "expired"}'),
        TransportResponse(status=200, headers=JSON, body=PRODUCT_BODY),
    )
    async with GoDeployClient(token, UNIT, base_url=BASE_URL, transport=transport) as client:
        await client.products.get(PRODUCT_ID)
    assert [r.headers["Authorization"] for r in seen] == ["Bearer first", "Bearer second"]


async def test_a_429_past_the_retry_after_cap_is_not_waited_for():
    transport, seen = answers(
        TransportResponse(status=429, headers={**JSON, "Retry-After": "3600"}, body=b"{}")
    )
    async with client_of(transport) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.products.get(PRODUCT_ID)
    assert caught.value.retry_after == 3600
    assert len(seen) == 1


async def test_a_connection_error_of_a_get_is_retried():
    def failure(request_sent: bool) -> APIConnectionError:
        return APIConnectionError("reset", method="GET", url=BASE_URL, request_sent=request_sent)

    transport, seen = answers(
        failure(False),
        APITimeoutError("slow", method="GET", url=BASE_URL),
        TransportResponse(status=200, headers=JSON, body=PRODUCT_BODY),
    )
    async with client_of(transport) as client:
        await client.products.get(PRODUCT_ID)
    assert len(seen) == 3


async def test_a_create_that_may_have_arrived_is_never_repeated():
    transport, seen = answers(APITimeoutError("slow", method="POST", url=BASE_URL))
    async with client_of(transport) as client:
        with pytest.raises(OrderOutcomeUnknownError):
            await client.orders.create(
                purchase_order_reference="PO-1",
                email_keys=False,
                order_items=[{"feature_set_id": UNIT, "quantity": 1}],
            )
    assert [request.method for request in seen] == ["POST"]
    assert json.loads(seen[0].body or b"")["purchaseOrderReference"] == "PO-1"


async def test_headers_may_be_a_plain_mapping_and_stay_case_insensitive():
    response = TransportResponse(status=200, headers={"content-type": "application/json"})
    assert response.headers["Content-Type"] == "application/json"
    assert response.body == b""


async def test_the_response_gets_the_request_url_and_a_closed_transport_refuses():
    transport = MockTransport(lambda request: TransportResponse(status=204))
    request = TransportRequest(method="GET", url=BASE_URL + "x", headers={})  # type: ignore[arg-type]
    assert (await transport.send(request)).url == request.url
    await transport.aclose()
    await transport.aclose()
    assert transport.closed
    with pytest.raises(APIConnectionError) as caught:
        await transport.send(request)
    assert caught.value.request_sent is False


@pytest.mark.parametrize("answer", [None, {"status": 200}, b"{}"])
async def test_a_handler_that_returns_something_else_is_a_type_error(answer: object):
    handler: Callable[[TransportRequest], object] = lambda request: answer  # noqa: E731
    transport = MockTransport(handler)  # type: ignore[arg-type]
    async with client_of(transport) as client:
        with pytest.raises(TypeError, match="not a TransportResponse"):
            await client.products.get(PRODUCT_ID)


def test_a_handler_must_be_callable():
    with pytest.raises(RequestValidationError):
        MockTransport("not a function")  # type: ignore[arg-type]


async def test_a_client_pauses_for_retry_after_ms():
    answers = [
        TransportResponse(status=429, headers={"retry-after-ms": "20", "Retry-After": "30"}),
        TransportResponse(status=200, headers=JSON, body=PRODUCT_BODY),
    ]
    pauses: list[RateLimitEvent] = []
    transport = MockTransport(lambda request: answers.pop(0))
    async with GoDeployClient(
        "t", UNIT, base_url=BASE_URL, transport=transport, hooks=Hooks(on_rate_limit=pauses.append)
    ) as client:
        product = await client.products.get(PRODUCT_ID)
    assert str(product.id) == PRODUCT_ID
    # The precise hint (20 ms) paused the client, not the 30 s of Retry-After.
    assert (pauses[0].source, pauses[0].seconds) == ("retry_after", 0.02)
