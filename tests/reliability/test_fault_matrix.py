"""Every fault FakeGoDeploy can inject against every kind of call: get, list, create, fan-out.

A GET recovers within the retry policy when the fault is transient and raises its documented
typed error when it is not; a create is sent once, never twice (unless the API refused it: a
429), and says when its outcome is unknown; a fan-out over the reference's 4150 orders with 5%
of its requests faulted yields exactly one result per order.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from dataclasses import dataclass

import pytest

from godeploy import (
    APIConnectionError,
    APITimeoutError,
    GoDeployError,
    Hooks,
    InternalServerError,
    OrderOutcomeUnknownError,
    RateLimitError,
    ResponseValidationError,
    RetryBudget,
    RetryEvent,
    ServiceUnavailableError,
    Timeout,
)
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import RecordingTransport, acquired_connections, make_client

TIMEOUT = Timeout(connect=2, attempt=0.3, total=20)
"""Short attempts, so a stall beyond the timeout costs a fraction of a second."""

STALL_TIMEOUT = Timeout(connect=2, attempt=1.5, total=60)
"""The fan-out with stalls (3 s) gives up on an attempt after 1.5 s: an answer takes
milliseconds at concurrency 64 on a quiet machine; on a starved one it can take longer, and then
is retried too (the checks count the SDK's own retries, not a figure that assumes none)."""

ROOMY_TIMEOUT = Timeout(connect=30, attempt=30, total=120)
"""The other fan-outs: no attempt of theirs is meant to time out, so a timeout is kept out of a
loaded machine's reach (under load, answers took over 1.5 s: each such timeout made one more
request, or turned an unreadable answer into a retried one, and the exact counts failed)."""

ROOMY_BUDGET = 100_000
"""The fan-out tests give the client a retry budget that cannot run out: the default one (500
tokens, 10 per timeout) is meant to stop a storm, and 200 stalls within a second are one. Here
each order's own retries are under test; the soak runs with the default budget."""


@dataclass(frozen=True)
class Kind:
    """One kind of fault and what the SDK does about it."""

    id: str
    fault: Fault
    error: type[GoDeployError]
    """The error a GET raises once its retries are spent (the exact class)."""
    retried: bool
    """Whether a GET retries it."""
    create_error: type[GoDeployError]
    """What a create raises."""
    stored: bool
    """Whether the fake stored the order before the fault struck."""


RETRY_AFTER = 0.05

KINDS = [
    Kind("latency", Fault.stall(3), APITimeoutError, True, OrderOutcomeUnknownError, False),
    Kind(
        "429-retry-after",
        Fault.status(429, retry_after=str(RETRY_AFTER)),
        RateLimitError,
        True,
        RateLimitError,
        False,
    ),
    Kind("500", Fault.status(500), InternalServerError, True, OrderOutcomeUnknownError, False),
    Kind("502", Fault.status(502), InternalServerError, True, OrderOutcomeUnknownError, False),
    Kind("503", Fault.status(503), ServiceUnavailableError, True, OrderOutcomeUnknownError, False),
    Kind("504", Fault.status(504), InternalServerError, True, OrderOutcomeUnknownError, False),
    Kind("reset", Fault.reset(), APIConnectionError, True, OrderOutcomeUnknownError, True),
    Kind(
        "truncated",
        Fault.truncated(),
        ResponseValidationError,
        False,
        OrderOutcomeUnknownError,
        True,
    ),
    Kind(
        "malformed",
        Fault.malformed(),
        ResponseValidationError,
        False,
        OrderOutcomeUnknownError,
        True,
    ),
    Kind("html-502", Fault.html(502), InternalServerError, True, OrderOutcomeUnknownError, False),
    Kind(
        "after-storing",
        Fault.status(500, after_handler=True),
        InternalServerError,
        True,
        OrderOutcomeUnknownError,
        True,
    ),
]
KIND_IDS = [kind.id for kind in KINDS]


@functools.cache
def expected_items() -> dict[int, list[int]]:
    """Item ids of every order of the default fake (seed 7), computed once."""
    fake = FakeGoDeploy(seed=7)
    return {
        order_id: [i["id"] for i in fake.order_items(order_id)] for order_id in fake.order_ids()
    }


def check_error(error: BaseException, kind: Kind, *, retry_after: float = RETRY_AFTER) -> None:
    """The error is exactly the documented class, with what that class promises."""
    assert type(error) is kind.error, f"{kind.id}: {type(error).__name__}: {error}"
    if kind.id == "429-retry-after":
        assert isinstance(error, RateLimitError)
        assert error.retry_after == pytest.approx(retry_after)
    if kind.id == "html-502":
        assert isinstance(error, InternalServerError)
        assert isinstance(error.body, str) and "<html>" in error.body
    if isinstance(error, APIConnectionError):
        assert error.request_sent


# --- get ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_get_recovers_from_a_transient_fault(fake_godeploy, kind):
    order_id = fake_godeploy.order_ids()[0]
    fake_godeploy.faults.add(kind.fault, route="getOrder", times=1)
    async with make_client(fake_godeploy, timeout=TIMEOUT) as client:
        if kind.retried:
            order = await client.orders.get(order_id)
            assert order.id == order_id
            assert client.stats["retries"] == 1
        else:
            with pytest.raises(ResponseValidationError) as caught:
                await client.orders.get(order_id)
            check_error(caught.value, kind)
        assert acquired_connections(client) == 0
    await asyncio.sleep(0.02)  # a timed-out request is logged when its handler is cancelled
    assert fake_godeploy.count("getOrder") == (2 if kind.retried else 1)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_get_raises_the_typed_error_once_retries_are_spent(fake_godeploy, kind):
    fake_godeploy.faults.add(kind.fault, route="getOrder")
    retries: list[RetryEvent] = []
    async with (
        RecordingTransport() as transport,
        make_client(
            fake_godeploy,
            timeout=TIMEOUT,
            transport=transport,
            hooks=Hooks(on_retry=retries.append),
        ) as client,
    ):
        with pytest.raises(GoDeployError) as caught:
            await client.orders.get(fake_godeploy.order_ids()[0])
        assert acquired_connections(client) == 0
    check_error(caught.value, kind)
    await asyncio.sleep(0.02)
    attempts = 4 if kind.retried else 1
    assert fake_godeploy.count("getOrder") == attempts
    assert len(retries) == attempts - 1
    if kind.id == "429-retry-after":
        # Each of the three retries waited at least Retry-After (how long the waits took is
        # test_waits.py's subject, on a virtual clock).
        assert all(retry.delay >= RETRY_AFTER for retry in retries), retries
    if kind.id == "latency":
        # Each attempt was given its whole attempt timeout, and ended by it.
        assert [request.timeout for request in transport.sent] == [TIMEOUT.attempt] * 4
        assert all(retry.reason == "timeout" for retry in retries), retries


async def test_latency_beyond_the_deadline_raises_api_timeout_error(fake_godeploy):
    fake_godeploy.faults.latency(fixed=2.0, route="getOrder")
    timeout = Timeout(attempt=0.2, total=0.7)
    async with make_client(fake_godeploy, timeout=timeout) as client:
        with pytest.raises(APITimeoutError):
            await client.orders.get(fake_godeploy.order_ids()[0])
        assert acquired_connections(client) == 0
    await asyncio.sleep(0.02)
    # The deadline, not the retry count, stopped it: at most 0.7 / 0.2 attempts fit.
    assert 1 <= fake_godeploy.count("getOrder") <= 4


# --- paginated list -------------------------------------------------------------------------------


async def walk_into(pager, ids: list[int]) -> None:
    """Walk a listing, noting each order's id as it comes (what came before an error stays)."""
    async for order in pager:
        ids.append(order.id)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_list_recovers_from_a_transient_fault_on_page_3(fake_godeploy, kind):
    fake_godeploy.faults.add(kind.fault, route="listOrders", times=1, skip=2)
    async with make_client(fake_godeploy, timeout=TIMEOUT) as client:
        pager = client.orders.list(page_size=100, max_items=500)
        if kind.retried:
            ids = [order.id async for order in pager]
            assert ids == fake_godeploy.order_ids()[:500]
        else:
            ids: list[int] = []
            with pytest.raises(ResponseValidationError):
                await walk_into(pager, ids)
            assert ids == fake_godeploy.order_ids()[:200]
        assert acquired_connections(client) == 0
    await asyncio.sleep(0.02)
    assert fake_godeploy.count("listOrders") == (6 if kind.retried else 3)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_list_raises_the_typed_error_after_the_pages_it_got(fake_godeploy, kind):
    fake_godeploy.faults.add(kind.fault, route="listOrders", skip=2)
    async with make_client(fake_godeploy, timeout=TIMEOUT) as client:
        ids: list[int] = []
        with pytest.raises(GoDeployError) as caught:
            await walk_into(client.orders.list(page_size=100), ids)
        assert acquired_connections(client) == 0
    check_error(caught.value, kind)
    assert ids == fake_godeploy.order_ids()[:200]  # pages 1 and 2, nothing lost or repeated
    await asyncio.sleep(0.02)
    assert fake_godeploy.count("listOrders") == 2 + (4 if kind.retried else 1)


# --- create ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_create_is_sent_once_and_reconciles_to_one_order(fake_godeploy, kind):
    fake_godeploy.faults.add(kind.fault, route="createOrder")
    feature_set = fake_godeploy.feature_sets(fake_godeploy.products()[0]["id"])[0]
    reference = f"PO-RELIABILITY-{kind.id}"
    order_input = {
        "purchase_order_reference": reference,
        "email_keys": False,
        "order_items": [{"feature_set_id": feature_set["id"], "quantity": 1}],
    }
    async with make_client(fake_godeploy, timeout=TIMEOUT, max_retries=3) as client:
        with pytest.raises(GoDeployError) as caught:
            await client.orders.create(**order_input)
        assert type(caught.value) is kind.create_error, repr(caught.value)
        if isinstance(caught.value, OrderOutcomeUnknownError):
            assert caught.value.purchase_order_reference == reference
            assert "may or may not exist" in str(caught.value)
        await asyncio.sleep(0.02)
        if kind.id == "429-retry-after":
            # A 429 proves the API refused it: retried like a GET, until the retries ran out.
            assert "nothing was created" in str(caught.value)
            assert fake_godeploy.count("createOrder") == 4
        else:
            assert fake_godeploy.count("createOrder") == 1  # never sent a second time
        assert fake_godeploy.orders_created == int(kind.stored)

        # The README's reconciliation: look for the reference, create only if it is absent.
        fake_godeploy.faults.clear()
        found = [
            order.id
            async for order in client.orders.list(page_size=100, start_page=42)
            if order.purchasing_order_reference == reference
        ]
        assert len(found) == int(kind.stored)
        if not found:
            await client.orders.create(**order_input)
        assert acquired_connections(client) == 0
    assert fake_godeploy.orders_created == 1
    assert [o["purchasingOrderReference"] for o in fake_godeploy.created_orders] == [reference]


# --- fan-out --------------------------------------------------------------------------------------


@dataclass
class FanOutRun:
    """What a fan-out gave, and what the SDK says it did."""

    seen: Counter[int]
    """Results per order."""
    errors: list[GoDeployError]
    requests: int
    """Attempts sent (the client's `stats`)."""
    retry_reasons: Counter[str]
    """Why each retry was made (the `on_retry` hook): `"502"`, `"timeout"`, ..."""


async def fan_out(fake: FakeGoDeploy, order_ids: list[int], timeout: Timeout) -> FanOutRun:
    """Fetch the items of `order_ids` at concurrency 64; count results per order, keep errors."""
    expected = expected_items()
    budget = RetryBudget(capacity=ROOMY_BUDGET)
    run = FanOutRun(Counter(), [], 0, Counter())
    hooks = Hooks(on_retry=lambda event: run.retry_reasons.update([event.reason]))
    async with make_client(fake, timeout=timeout, retry_budget=budget, hooks=hooks) as client:
        async with client.order_items.for_orders(order_ids, concurrency=64) as results:
            async for result in results:
                run.seen[result.order_id] += 1
                if result.error is not None:
                    run.errors.append(result.error)
                else:
                    assert [item.id for item in result.items] == expected[result.order_id]
        assert acquired_connections(client) == 0
        run.requests = client.stats["requests"]
        assert client.stats["retries"] == sum(run.retry_reasons.values())
    await asyncio.sleep(0.05)  # the fake logs a timed-out request when its handler is cancelled
    return run


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_fan_out_yields_one_result_per_order_under_each_fault(fake_godeploy, kind):
    fault = kind.fault
    retry_after = RETRY_AFTER
    if kind.id == "429-retry-after":
        # A 429 pauses the whole client for Retry-After: keep the pauses short.
        retry_after = 0.005
        fault = Fault.status(429, retry_after=str(retry_after))
    rule = fake_godeploy.faults.add(fault, route="listOrderItems", rate=0.05)
    order_ids = fake_godeploy.order_ids()[:1000]
    stalls = kind.id == "latency"
    run = await fan_out(fake_godeploy, order_ids, STALL_TIMEOUT if stalls else ROOMY_TIMEOUT)
    assert sorted(run.seen) == order_ids
    assert set(run.seen.values()) == {1}
    assert rule.fired >= 25  # about 5% of 1000 and more: the faults struck
    for error in run.errors:
        check_error(error, kind, retry_after=retry_after)
    requests = fake_godeploy.count("listOrderItems")
    # Every request the fake saw is one the SDK counted, and each beyond one per order a retry.
    assert requests == run.requests == len(order_ids) + sum(run.retry_reasons.values())
    if stalls:
        # Each stall was given up on and retried (or ended its order, after four): a loaded
        # machine may time out an answer that was not stalled too, but only ever a timeout.
        assert set(run.retry_reasons) == {"timeout"}, run.retry_reasons
        assert run.retry_reasons["timeout"] >= rule.fired - len(run.errors)
        assert len(run.errors) <= 2  # four stalls in a row on one order: rare
        return
    if kind.retried:
        assert len(run.errors) <= 2  # four faults in a row on one order: rare
    else:
        assert len(run.errors) == rule.fired  # not retried: each fault is one failed order
    # Each order took its faults and one success, or only its faults when it failed.
    assert requests == len(order_ids) + rule.fired - len(run.errors)


@pytest.mark.slow  # 4,150 orders, stalls waited for (~9 s)
async def test_fan_out_over_4150_orders_with_5_percent_faults_of_every_kind(fake_godeploy):
    rules = {}
    for kind in KINDS:
        fault = kind.fault
        if kind.id == "429-retry-after":
            fault = Fault.status(429, retry_after="0.005")
        # Rules are consulted in turn and the first that fires decides: about 5% in all.
        rules[kind.id] = fake_godeploy.faults.add(
            fault, route="listOrderItems", rate=0.05 / len(KINDS)
        )
    order_ids = fake_godeploy.order_ids()
    # The roomy timeout: a stall here is a slow answer (3 s) waited for, not retried (the
    # fan-out above gives up on stalls), so that every count below is exact on any machine.
    run = await fan_out(fake_godeploy, order_ids, ROOMY_TIMEOUT)
    errors = run.errors
    assert len(order_ids) == 4150
    assert sorted(run.seen) == order_ids
    assert set(run.seen.values()) == {1}
    fired = {name: rule.fired for name, rule in rules.items()}
    assert all(count >= 5 for count in fired.values()), fired
    assert 150 <= sum(fired.values()) <= 300, fired  # 5% of about 4200 requests
    documented = {kind.error for kind in KINDS}
    assert all(type(error) in documented for error in errors), errors
    unreadable = [e for e in errors if isinstance(e, ResponseValidationError)]
    assert len(unreadable) == fired["truncated"] + fired["malformed"]
    assert len(errors) - len(unreadable) <= 2
    assert "timeout" not in run.retry_reasons
    total = fake_godeploy.count("listOrderItems")
    assert total == run.requests
    # Each order took its faults (a slow answer is no fault to retry) and one success.
    assert total == len(order_ids) + sum(fired.values()) - fired["latency"] - len(errors)
