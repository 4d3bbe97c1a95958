"""Every wait of a call honours its deadline; closing wakes what sleeps; the 429 pause is shared.

Against the fake on loopback. The assertions are on counts, on ordering and on lower bounds of
time (a wait that must have happened), never on how fast this shared machine is.
"""

from __future__ import annotations

import asyncio
import socket
import time
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
from tests._support import FAST_RETRIES, RecordingTransport, make_client

GUARD = 10.0
"""Seconds after which a test gives up on a call that should have ended long before."""


async def outcome(call) -> tuple[float, object]:
    """When a call ended (monotonic) and what it gave: a result or the exception."""
    try:
        result: object = await call
    except Exception as error:  # noqa: BLE001 - the outcome is the test's subject
        result = error
    return time.monotonic(), result


# Item 2: every wait honours the call's deadline ---------------------------------------------


async def test_calls_the_rate_limit_cannot_serve_in_time_fail_at_once(fake_godeploy):
    order_id = fake_godeploy.order_ids()[0]
    async with make_client(
        fake_godeploy, max_requests_per_second=5, timeout=Timeout(total=1)
    ) as client:
        async with asyncio.timeout(GUARD):
            outcomes = await asyncio.gather(
                *(outcome(client.orders.get(order_id)) for _ in range(30))
            )
    served = sorted(when for when, result in outcomes if not isinstance(result, Exception))
    failed = [(when, result) for when, result in outcomes if isinstance(result, Exception)]
    # A burst of 5, then one every 0.2 s: about 10 fit in one second, never more than 11.
    assert 5 <= len(served) <= 11
    assert len(served) + len(failed) == 30
    assert all(isinstance(error, APITimeoutError) for _, error in failed)
    # They failed at once, not after waiting for a slot: before the later slots were served,
    # and with nothing sent. (A call whose slot fell just inside the deadline may wait for it
    # and then time out.)
    at_once = [error for when, error in failed if when < served[5]]
    assert len(at_once) >= len(failed) - 2, (len(at_once), len(failed))
    assert all(not error.request_sent for error in at_once)  # type: ignore[attr-defined]
    # Nothing was sent for them.
    assert fake_godeploy.count("getOrder") <= len(served) + len(failed) - len(at_once)


async def test_a_cancelled_call_gives_back_the_slot_it_booked(fake_godeploy):
    order_id = fake_godeploy.order_ids()[0]
    async with make_client(fake_godeploy, max_requests_per_second=1) as client:
        await client.orders.get(order_id)  # takes the burst
        waiting = asyncio.create_task(client.orders.get(order_id))  # books the slot at +1 s
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        admission = await client.limits.admit(None)
        # The slot of the cancelled call, about 1 s away, not the one after it (2 s).
        assert admission.booked and admission.wait < 1.5


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


async def test_calls_resume_spread_out_when_a_pause_ends(fake_godeploy):
    order_id = fake_godeploy.order_ids()[0]
    async with (
        RecordingTransport() as transport,
        make_client(fake_godeploy, transport=transport) as client,
    ):
        await client.limits.pause(0.4)
        paused_at = time.monotonic()
        async with asyncio.timeout(GUARD):
            await asyncio.gather(*(client.orders.get(order_id) for _ in range(20)))
    sent = [when for when, _ in transport.sent]
    assert min(sent) >= paused_at + 0.4 - 0.01
    # Spread over a window, not all in the same millisecond.
    assert max(sent) - min(sent) > 0.03


async def test_a_pause_set_while_a_call_waits_for_its_slot_is_honoured(fake_godeploy):
    order_id = fake_godeploy.order_ids()[0]
    fake_godeploy.faults.add(Fault.status(429, retry_after=1), route="getOrder", times=1)
    async with (
        RecordingTransport() as transport,
        make_client(
            fake_godeploy, transport=transport, max_requests_per_second=2, max_retries=0
        ) as client,
    ):
        # A burst of 2: the first draws the 429, the second is served; the third waits 0.5 s
        # for its slot, and the pause begins while it waits.
        async with asyncio.timeout(GUARD):
            outcomes = await asyncio.gather(
                *(outcome(client.orders.get(order_id)) for _ in range(3)),
            )
    results = [result for _, result in outcomes]
    assert sum(isinstance(result, RateLimitError) for result in results) == 1
    assert sum(not isinstance(result, Exception) for result in results) == 2
    first_sent = transport.sent[0][0]
    assert len(transport.sent) == 3
    assert transport.sent[2][0] >= first_sent + 1.0 - 0.01


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
