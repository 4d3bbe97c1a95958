"""The token stays where it belongs: in the Authorization header of requests to the API's origin.

Never in an error (its message, repr, attributes, or any error it chains to), never in a repr,
never in a log record (the autouse `token_guard` of conftest.py checks every test of the suite),
never sent to another origin by a next link or a redirect, and never over plain http to a host
that is not loopback.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godeploy import (
    APIStatusError,
    AuthenticationError,
    GoDeployClient,
    GoDeployError,
    PaginationError,
    RequestValidationError,
    Timeout,
    TransportRequest,
)
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import make_client
from tests._support.reliability import TokenGuard, exception_texts, leaks_in

UNIT = "6f1b3a8e-2f0e-4d54-9a53-0f1b2c3d4e5f"


def assert_no_token(texts: list[str], token_guard) -> None:
    leaks = leaks_in(texts, token_guard.secrets)
    assert leaks == [], leaks[:3]


# --- errors, reprs, logs --------------------------------------------------------------------------


async def raw_http_server(answer: bytes) -> asyncio.Server:
    """A loopback server that answers every request with these bytes, HTTP or not."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def walk(pager) -> None:
    async for _ in pager:
        pass


async def test_no_error_of_any_failure_carries_the_token(fake_godeploy, token_guard):
    fake = fake_godeploy
    order_id = fake.order_ids()[0]
    feature_set = fake.feature_sets(fake.products()[0]["id"])[0]
    errors: list[BaseException] = []

    async def collect(call) -> None:
        try:
            await call
        except GoDeployError as error:
            errors.append(error)

    create = {
        "purchase_order_reference": "PO-SECRET",
        "email_keys": False,
        "order_items": [{"feature_set_id": feature_set["id"], "quantity": 1}],
    }
    async with make_client(fake, timeout=Timeout(attempt=0.3, total=5), max_retries=1) as client:
        for fault in [
            Fault.status(503),
            Fault.status(429, retry_after="0.01"),
            Fault.reset(),
            Fault.truncated(),
            Fault.malformed(),
            Fault.html(502),
            Fault.stall(2),
        ]:
            rule = fake.faults.add(fault, route=["getOrder", "createOrder"])
            await collect(client.orders.get(order_id))
            await collect(client.orders.create(**create))
            fake.faults.remove(rule)
        await collect(client.orders.get(999_999))  # 404
        await collect(client.orders.create(**{**create, "order_items": [{"quantity": 0}]}))
        fake.faults.add(Fault.next_link("http://127.0.0.1:9/api/v2/orders?_page=2"))
        await collect(walk(client.orders.list()))
        fake.faults.clear()
        fake.rotate_token()
        await collect(client.orders.get(order_id))  # 401
        texts = [repr(client), str(client), repr(client._core), repr(client._core.token)]
        texts += [repr(client.transport), repr(client.transport.session)]
    await collect(client.orders.get(order_id))  # closed
    request = TransportRequest(
        method="GET", url=fake.url, headers={"Authorization": f"Bearer {fake.token}"}
    )
    texts.append(repr(request))
    texts += [repr(record) for record in fake.requests]

    # A response that is not HTTP: aiohttp's error keeps the request headers (the token).
    server = await raw_http_server(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nxx")
    port = server.sockets[0].getsockname()[1]
    async with GoDeployClient(
        fake.token, UNIT, base_url=f"http://127.0.0.1:{port}", max_retries=0
    ) as client:
        await collect(client.orders.get(1))
    server.close()
    await server.wait_closed()

    kinds = {type(error).__name__ for error in errors}
    assert {
        "ServiceUnavailableError",
        "RateLimitError",
        "APIConnectionError",
        "APITimeoutError",
        "ResponseValidationError",
        "InternalServerError",
        "OrderOutcomeUnknownError",
        "NotFoundError",
        "RequestValidationError",
        "PaginationError",
        "AuthenticationError",
        "ClientClosedError",
    } <= kinds, kinds
    for error in errors:
        texts += exception_texts(error)
    assert_no_token(texts, token_guard)
    assert token_guard.checked > 20  # the guard saw this test's log lines


def test_the_guard_catches_a_token_in_a_log_record(token_guard):
    """The autouse guard can fail: a record with a token in it is caught however it gets in."""
    guard = TokenGuard()
    guard.add_secret("opaque-secret-token")
    logger = logging.getLogger("godeploy.guard-self-test")
    logger.propagate = False
    logger.addHandler(guard)
    try:
        logger.debug("sent %s", {"Authorization": "Bearer opaque-secret-token"})
        logger.debug("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl in a message")
        try:
            raise ValueError("opaque-secret-token")
        except ValueError:
            logger.exception("failed")
        logger.debug("GET /api/v2/orders 200 1.0ms attempt=1")
    finally:
        logger.removeHandler(guard)
    assert len(guard.leaks) == 3
    assert guard.checked == 4


@pytest.mark.parametrize("token", ["tok\nen", "tok\ren", "tok\x00en", "tok\x7fen"])
async def test_a_token_that_cannot_be_a_header_is_refused_before_io(fake_godeploy, token):
    with pytest.raises(RequestValidationError) as caught:
        GoDeployClient(token, fake_godeploy.business_unit_id, base_url=fake_godeploy.url)
    assert token not in str(caught.value)

    async def provider() -> str:
        return token

    async with GoDeployClient(
        provider, fake_godeploy.business_unit_id, base_url=fake_godeploy.url
    ) as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.orders.get(1)
    assert token not in str(caught.value)
    assert fake_godeploy.count() == 0


async def test_a_base_url_with_credentials_is_refused_without_echoing_them():
    with pytest.raises(RequestValidationError) as caught:
        GoDeployClient("t", UNIT, base_url="https://user:hunter2-password@lms.godeploy.it/")
    assert "hunter2-password" not in str(caught.value)


# --- another origin -------------------------------------------------------------------------------


@pytest.fixture
async def foreign():
    """A second fake on another loopback port: any hit it records is a request that left."""
    async with FakeGoDeploy(seed=99, order_count=30) as fake:
        yield fake


def foreign_links(foreign: FakeGoDeploy, path: str) -> list[str]:
    port = foreign.url.port
    return [
        f"{foreign.url}{path}?_page=2",
        f"//127.0.0.1:{port}{path}?_page=2",
        f"http://localhost:{port}{path}?_page=2",
        f"http://127.0.0.1:1@127.0.0.1:{port}{path}?_page=2",
    ]


def no_token_reached(foreign: FakeGoDeploy) -> None:
    """Nothing reached the foreign origin; had anything, it would carry no Authorization."""
    assert [r for r in foreign.requests if "Authorization" in r.headers] == []
    assert foreign.count() == 0


LISTINGS = {
    "listOrders": ("/api/v2/orders", lambda client, fake: client.orders.list(page_size=5)),
    "listProducts": ("/api/v2/products", lambda client, fake: client.products.list(page_size=5)),
    "listFeatureSets": (
        "/api/v2/products/x/feature_sets",
        lambda client, fake: client.feature_sets.list(
            next(p["id"] for p in fake.products() if len(fake.feature_sets(p["id"])) > 1),
            page_size=1,
        ),
    ),
    "listOrderItems": (
        "/api/v2/orders/1/items",
        lambda client, fake: client.order_items.list(
            next(i for i in fake.order_ids() if len(fake.order_items(i)) > 1), page_size=1
        ),
    ),
}


@pytest.mark.parametrize("route", list(LISTINGS))
async def test_a_cross_origin_next_link_is_never_followed(fake_godeploy, foreign, route):
    path, listing = LISTINGS[route]
    async with make_client(fake_godeploy) as client:
        for link in foreign_links(foreign, path):
            rule = fake_godeploy.faults.add(Fault.next_link(link), route=route)
            with pytest.raises(PaginationError, match="another origin"):
                async for _ in listing(client, fake_godeploy):
                    pass
            fake_godeploy.faults.remove(rule)
    no_token_reached(foreign)


async def test_a_cross_origin_next_link_in_the_fan_out_is_an_error_result(fake_godeploy, foreign):
    order_ids = [
        i for i in fake_godeploy.order_ids()[:200] if len(fake_godeploy.order_items(i)) > 1
    ]
    link = f"{foreign.url}/api/v2/orders/1/items?_page=2"
    fake_godeploy.faults.add(Fault.next_link(link), route="listOrderItems")
    async with make_client(fake_godeploy) as client:
        results = [r async for r in client.order_items.for_orders(order_ids, page_size=1)]
    assert len(results) == len(order_ids) > 10
    assert all(isinstance(r.error, PaginationError) for r in results)
    no_token_reached(foreign)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_origin_is_never_followed(fake_godeploy, foreign, code):
    fake = fake_godeploy
    fake.faults.add(Fault.redirect(f"{foreign.url}/api/v2/orders", code=code))
    feature_set = fake.feature_sets(fake.products()[0]["id"])[0]
    async with make_client(fake) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.orders.get(fake.order_ids()[0])
        assert caught.value.status == code
        with pytest.raises(APIStatusError):
            async for _ in client.orders.list():
                pass
        with pytest.raises(APIStatusError):
            await client.orders.create(
                purchase_order_reference="PO-REDIRECT",
                email_keys=False,
                order_items=[{"feature_set_id": feature_set["id"], "quantity": 1}],
            )
        results = [r async for r in client.order_items.for_orders(fake.order_ids()[:5])]
        assert all(isinstance(r.error, APIStatusError) for r in results)
        assert all(r.error.status == code for r in results)
    assert fake.orders_created == 0
    assert fake.count("getOrder") == 1  # a redirect is not retried either
    no_token_reached(foreign)


# --- plain http -----------------------------------------------------------------------------------


class NoIO:
    """A transport that fails the test if anything is sent through it."""

    sent = 0

    async def send(self, request):
        NoIO.sent += 1
        raise AssertionError("nothing may be sent")

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize(
    "url",
    [
        "http://lms.godeploy.it/",
        "http://example.com",
        "HTTP://EXAMPLE.COM/api",
        "http://127.0.0.1.nip.io/",
        "http://localhost.evil.example/",
        "http://10.0.0.1/",
        "http://0.0.0.0/",
        "http://[::ffff:8.8.8.8]/",
        "http://[2001:db8::1]:8080/",
    ],
)
def test_plain_http_to_a_host_that_is_not_loopback_is_refused_before_io(url):
    with pytest.raises(RequestValidationError, match="plain http"):
        GoDeployClient("t", UNIT, base_url=url, transport=NoIO())
    assert NoIO.sent == 0


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "http://127.9.9.9/", "http://[::1]:8/", "http://localhost/"]
)
async def test_plain_http_to_loopback_is_allowed(url):
    async with GoDeployClient("t", UNIT, base_url=url, transport=NoIO()) as client:
        assert client.base_url.scheme == "http"


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    host=st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,3}\Z")
    | st.ip_addresses(v=4).map(str)
)
def test_any_http_host_but_loopback_is_refused(host):
    loopback = host == "localhost" or host.endswith(".localhost") or host.startswith("127.")
    url = f"http://{host}/"
    if loopback:
        GoDeployClient("t", UNIT, base_url=url, transport=NoIO())
    else:
        with pytest.raises(RequestValidationError):
            GoDeployClient("t", UNIT, base_url=url, transport=NoIO())
    # https is fine anywhere, and allow_insecure_http opts in.
    GoDeployClient("t", UNIT, base_url=f"https://{host}/", transport=NoIO())
    GoDeployClient("t", UNIT, base_url=url, transport=NoIO(), allow_insecure_http=True)
    assert NoIO.sent == 0


async def test_a_stale_token_after_its_refresh_raises_without_either_token(
    fake_godeploy, token_guard
):
    tokens = [fake_godeploy.token, "stale-token-from-the-provider"]
    token_guard.add_secret(tokens[1])

    async def provider() -> str:
        return tokens.pop(0)

    async with GoDeployClient(
        provider, fake_godeploy.business_unit_id, base_url=fake_godeploy.url
    ) as client:
        await client.orders.get(fake_godeploy.order_ids()[0])
        fake_godeploy.rotate_token()
        with pytest.raises(AuthenticationError) as caught:
            await client.orders.get(fake_godeploy.order_ids()[0])
        assert client.stats["token_refreshes"] == 1  # one refresh, then the 401 is final
    assert fake_godeploy.count("getOrder", status=401) == 2
    assert_no_token(exception_texts(caught.value), token_guard)
