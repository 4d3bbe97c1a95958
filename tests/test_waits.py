"""Every wait of a call honours its deadline; closing wakes what sleeps; the 429 pause is shared.

Against the fake on loopback, except where how long the SDK waited is the subject: those tests
run in memory (`MockTransport`) on a virtual clock (`tests._support.clock`), where a wait takes
no real time and is seen exactly, so nothing depends on how fast or loaded the machine is.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from uuid import UUID

import pytest

from godeploy import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    GoDeployClient,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from godeploy.testing import Fault
from tests._support import FAST_RETRIES, make_client
from tests._support.clock import (
    EPSILON,
    ORDER_ID,
    PRODUCT_ID,
    ClockedAPI,
    clocked_client,
    status,
    virtual_time,
)

GUARD = 10.0
"""Seconds after which a test gives up on a call that should have ended long before."""


async def outcome(call) -> tuple[float, object]:
    """When a call ended (on the loop's clock) and what it gave: a result or the exception."""
    try:
        result: object = await call
    except Exception as error:  # noqa: BLE001 - the outcome is the test's subject
        result = error
    return asyncio.get_running_loop().time(), result


# Item 2: every wait honours the call's deadline ---------------------------------------------


@virtual_time
async def test_calls_the_rate_limit_cannot_serve_in_time_fail_at_once():
    api = ClockedAPI()
    async with (
        clocked_client(api, max_requests_per_second=5, timeout=Timeout(total=0.9)) as client,
        asyncio.timeout(GUARD),
    ):
        outcomes = await asyncio.gather(*(outcome(client.orders.get(ORDER_ID)) for _ in range(30)))
    served = [when for when, result in outcomes if not isinstance(result, Exception)]
    failed = [(when, result) for when, result in outcomes if isinstance(result, Exception)]
    # A burst of 5 at 0 s, then one slot every 0.2 s: four more fit before the 0.9 s deadline.
    assert served == pytest.approx([0.0] * 5 + [0.2, 0.4, 0.6, 0.8])
    assert api.times() == served  # and nothing else was sent
    # The 21 others failed at once (at 0 s), without waiting for a slot, having sent nothing.
    assert [when for when, _ in failed] == [0.0] * 21
    assert all(isinstance(error, APITimeoutError) for _, error in failed)
    assert not any(error.request_sent for _, error in failed)  # type: ignore[attr-defined]


@virtual_time
async def test_a_cancelled_call_gives_back_the_slot_it_booked():
    async with clocked_client(ClockedAPI(), max_requests_per_second=1) as client:
        await client.orders.get(ORDER_ID)  # takes the burst
        waiting = asyncio.create_task(client.orders.get(ORDER_ID))  # books the slot at 1 s
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        admission = await client.limits.admit(None)
    # The slot of the cancelled call, 0.95 s away now, not the one after it (1.95 s).
    assert admission.booked and admission.wait == pytest.approx(0.95)


async def test_a_hung_token_callable_fails_the_call_by_its_deadline(fake_godeploy):
    async def never() -> str:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async with GoDeployClient(
        never, fake_godeploy.business_unit_id, base_url=fake_godeploy.url, timeout=0.3
    ) as client:
        async with asyncio.timeout(GUARD):
            with pytest.raises(APITimeoutError, match="token callable") as caught:
                await client.orders.get(1)
    assert caught.value.request_sent is False
    assert fake_godeploy.count("getOrder") == 0


# Item 3: the 429 pause -------------------------------------------------------------------


async def test_a_pause_longer_than_the_policy_fails_the_others_fast(fake_godeploy):
    order_id = fake_godeploy.order_ids()[0]
    fake_godeploy.faults.add(Fault.status(429, retry_after=100), route="getOrder", times=1)
    async with make_client(fake_godeploy, timeout=Timeout(total=None)) as client:
        product_id = (await anext(aiter(client.products.list()))).id
        async with asyncio.timeout(GUARD):
            with pytest.raises(RateLimitError) as first:
                await client.orders.get(order_id)
            assert first.value.retry_after == 100
            # The server asked for 100 s: the rest of the client honours it, and says so now.
            with pytest.raises(RateLimitError) as second:
                await client.products.get(product_id)
    assert second.value.retry_after is not None and second.value.retry_after > 90
    assert fake_godeploy.count("getProduct") == 0
    assert fake_godeploy.count("getOrder") == 1


async def test_calls_whose_deadline_ends_first_fail_fast_during_a_pause(fake_godeploy):
    order_id = fake_godeploy.order_ids()[0]
    fake_godeploy.faults.add(Fault.status(429, retry_after=30), route="getOrder", times=1)
    async with make_client(fake_godeploy, max_retries=0) as client:
        async with asyncio.timeout(GUARD):
            with pytest.raises(RateLimitError):
                await client.orders.get(order_id)
            with pytest.raises(APITimeoutError, match="paused") as caught:
                await client.orders.get(order_id, timeout=2)
    assert caught.value.request_sent is False
    assert fake_godeploy.count("getOrder") == 1


@virtual_time
async def test_retry_after_is_honoured(caplog):
    caplog.set_level(logging.INFO, logger="godeploy")
    api = ClockedAPI()
    api.answer("getOrder", status(429, **{"Retry-After": "1"}))
    async with clocked_client(api) as client, asyncio.timeout(GUARD):
        await client.orders.get(ORDER_ID)
    first, second = api.times()
    # Not sooner than Retry-After; and not later than the pause's resume spread (a quarter).
    assert 1.0 - EPSILON <= second - first <= 1.25 + EPSILON
    assert any("in 1.00s" in r.getMessage() for r in caplog.records)


@virtual_time
async def test_429_pauses_every_request_of_the_client():
    api = ClockedAPI()
    api.answer("getOrder", status(429, **{"Retry-After": "1"}))
    async with clocked_client(api) as client, asyncio.timeout(GUARD):
        get_order = asyncio.create_task(client.orders.get(ORDER_ID))
        while not api.count("getOrder"):
            await asyncio.sleep(0)
        rate_limited_at = asyncio.get_running_loop().time()
        # Another operation, started after the 429: held by the same pause.
        await client.products.get(PRODUCT_ID)
        await get_order
    assert api.times("getProduct")[0] - rate_limited_at >= 1.0 - EPSILON


@virtual_time
async def test_calls_resume_spread_out_when_a_pause_ends():
    api = ClockedAPI()
    async with clocked_client(api) as client, asyncio.timeout(GUARD):
        await client.limits.pause(0.4)
        await asyncio.gather(*(client.orders.get(ORDER_ID) for _ in range(20)))
    sent = api.times()
    # None before the pause ends; spread over its window (a quarter of the pause), not all
    # in the same instant.
    assert len(sent) == 20
    assert all(0.4 <= when <= 0.4 + 0.1 for when in sent), sent
    assert len(set(sent)) == 20
    assert max(sent) - min(sent) > 0.03


@virtual_time
async def test_a_pause_set_while_a_call_waits_for_its_slot_is_honoured():
    api = ClockedAPI(latency=0.01)
    api.answer("getOrder", status(429, **{"Retry-After": "1"}))
    async with (
        clocked_client(api, max_requests_per_second=2, max_retries=0) as client,
        asyncio.timeout(GUARD),
    ):
        # A burst of 2 at 0 s: the first draws the 429 (at 0.01 s), the second is served; the
        # third waits 0.5 s for its slot, and the pause (until 1.01 s) begins while it waits.
        outcomes = await asyncio.gather(*(outcome(client.orders.get(ORDER_ID)) for _ in range(3)))
    results = [result for _, result in outcomes]
    assert sum(isinstance(result, RateLimitError) for result in results) == 1
    assert sum(not isinstance(result, Exception) for result in results) == 2
    first, second, third = api.times()
    assert first == second == 0.0
    # Not at its slot (0.5 s): after the pause, within its resume spread (a quarter of the
    # 0.51 s it had left).
    assert 1.01 - EPSILON <= third <= 1.01 + 0.51 / 4 + EPSILON


# Item 4: aclose() wakes what sleeps --------------------------------------------------------


@pytest.mark.parametrize("where", ["backoff", "pause", "limiter"])
async def test_closing_wakes_a_sleeping_call(fake_godeploy, where):
    order_id = fake_godeploy.order_ids()[0]
    options: dict[str, object] = {"timeout": Timeout(total=None)}
    if where == "backoff":
        # Retry-After makes the backoff 30 s for sure (full jitter alone could draw 0).
        fake_godeploy.faults.add(Fault.status(503, retry_after=30), route="getOrder", times=1)
    elif where == "pause":
        fake_godeploy.faults.add(Fault.status(429, retry_after=30), route="getOrder", times=1)
    else:
        options["max_requests_per_second"] = 0.05
    client = make_client(fake_godeploy, **options)
    if where == "limiter":
        await client.orders.get(order_id)  # takes the burst; the next slot is 20 s away
    sleeper = asyncio.create_task(client.orders.get(order_id))
    if where == "pause":
        # The 429 is the first call's; the sleeper is the second, held by the pause.
        await asyncio.sleep(0.2)
        second = asyncio.create_task(client.orders.get(order_id))
        await asyncio.sleep(0.2)
        sleeper, first = second, sleeper
    else:
        await asyncio.sleep(0.3)
    requests_before = client.stats["requests"]
    async with asyncio.timeout(GUARD):
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await sleeper
        if where == "pause":
            with pytest.raises((ClientClosedError, RateLimitError)):
                await first
    assert client.stats["requests"] == requests_before  # never retried into the closed transport


# Item 6: create() tells the truth ----------------------------------------------------------


async def test_a_create_whose_deadline_passes_before_sending_is_a_plain_timeout(fake_godeploy):
    async with make_client(fake_godeploy, max_requests_per_second=1) as client:
        product = await anext(aiter(client.products.list()))  # takes the burst
        order = {
            "purchase_order_reference": "PO-DEADLINE",
            "email_keys": False,
            "order_items": [{"feature_set_id": str(product.id), "quantity": 1}],
        }
        async with asyncio.timeout(GUARD):
            with pytest.raises(APITimeoutError) as caught:
                await client.orders.create(**order, timeout=0.3)
    assert caught.value.request_sent is False
    assert fake_godeploy.count("createOrder") == 0


async def test_a_create_retried_after_a_refused_connect_never_claims_it_may_exist():
    # Nothing listens on the port: each connect is refused, so nothing was ever sent, and the
    # deadline passes while the retry waits for its rate-limit slot.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with GoDeployClient(
        "token",
        UUID(int=1),
        base_url=f"http://127.0.0.1:{port}",
        max_requests_per_second=2,
        retry_policy=FAST_RETRIES,
    ) as client:
        async with asyncio.timeout(GUARD):
            with pytest.raises(APIConnectionError) as caught:
                await client.orders.create(
                    purchase_order_reference="PO-REFUSED",
                    email_keys=False,
                    order_items=[{"feature_set_id": UUID(int=2), "quantity": 1}],
                    timeout=0.3,
                )
    assert caught.value.request_sent is False


async def test_a_create_that_times_out_waiting_for_a_connection_sent_nothing(fake_godeploy):
    # The pool's one connection is held by a stalled GET; the create times out in the queue.
    fake_godeploy.faults.add(Fault.stall(3), route="getOrder", times=1)
    async with make_client(fake_godeploy, max_connections=1) as client:
        product = await anext(aiter(client.products.list()))
        holder = asyncio.create_task(client.orders.get(fake_godeploy.order_ids()[0], timeout=5))
        await asyncio.sleep(0.2)
        async with asyncio.timeout(GUARD):
            with pytest.raises(APITimeoutError, match="waiting for a connection") as caught:
                await client.orders.create(
                    purchase_order_reference="PO-POOL",
                    email_keys=False,
                    order_items=[{"feature_set_id": product.id, "quantity": 1}],
                    timeout=0.5,
                )
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
    assert caught.value.request_sent is False
    assert fake_godeploy.count("createOrder") == 0


# Item 7: small contract gaps ---------------------------------------------------------------


async def test_order_items_take_the_uuid_the_sdk_returns(fake_godeploy):
    async with make_client(fake_godeploy) as client:
        product = await anext(aiter(client.products.list()))
        feature_set = await anext(aiter(client.feature_sets.list(product.id)))
        assert isinstance(feature_set.id, UUID)
        order = await client.orders.create(
            purchase_order_reference="PO-UUID",
            email_keys=False,
            order_items=[{"feature_set_id": feature_set.id, "quantity": 2}],
        )
    assert order.purchasing_order_reference == "PO-UUID"
    sent = [r for r in fake_godeploy.requests if r.route == "createOrder"][-1].json()
    assert sent["orderItems"] == [{"featureSetId": str(feature_set.id), "quantity": 2}]


async def test_status_errors_keep_the_response_headers_read_only(fake_godeploy):
    fake_godeploy.faults.add(Fault.status(503, retry_after=7), route="getOrder", times=1)
    async with make_client(fake_godeploy, max_retries=0) as client:
        with pytest.raises(ServiceUnavailableError) as caught:
            await client.orders.get(fake_godeploy.order_ids()[0])
    headers = caught.value.headers
    assert headers["retry-after"] == "7"  # looked up case-insensitively
    assert "Content-Type" in headers
    with pytest.raises(TypeError):
        headers["X-Injected"] = "1"  # type: ignore[index]


# The virtual clock these tests run on -------------------------------------------------------


@virtual_time
async def test_the_virtual_clock_moves_only_to_the_next_timer():
    loop = asyncio.get_running_loop()
    assert loop.time() == 0.0
    for _ in range(100):
        await asyncio.sleep(0)  # work to do: the clock stands still
    assert loop.time() == 0.0
    await asyncio.sleep(3600)  # an hour, at once
    assert loop.time() == 3600.0
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.25):
            await asyncio.sleep(1)
    assert loop.time() == 3600.25
