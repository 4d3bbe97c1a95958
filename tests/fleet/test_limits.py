"""FleetLimits through the pacing protocol, on a real redis-server: what the fleet shares."""

from __future__ import annotations

import gc
import itertools
import logging
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio

from godeploy import Limits, RequestValidationError
from godeploy.fleet import FleetLimits
from godeploy.fleet._limits import redact_url
from godeploy.testing import RedisServer


class ManualClock:
    """A monotonic clock that moves only when told: fallback and probe timing without sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest_asyncio.fixture
async def make_limits(
    redis_server: RedisServer,
) -> AsyncIterator[Callable[..., FleetLimits]]:
    """FleetLimits on the test's Redis (keyword options as FleetLimits), closed after the test."""
    made: list[FleetLimits] = []

    def make(url: str | None = None, **options: Any) -> FleetLimits:
        options.setdefault("max_requests_per_second", 5)
        limits = FleetLimits(url or redis_server.url, **options)
        made.append(limits)
        return limits

    yield make
    for limits in made:
        await limits.aclose()


def fleet_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "godeploy.fleet" and record.levelno == logging.WARNING
    ]


async def test_it_is_a_limits(make_limits):
    assert isinstance(make_limits(), Limits)


async def test_clients_share_one_rate(make_limits):
    # 5 requests/s, 3 at once: whichever client asks, the 4th slot of the fleet waits.
    first, second = make_limits(burst=3), make_limits(burst=3)
    admissions = [await first.admit(None), await second.admit(None), await first.admit(None)]
    assert [a.wait for a in admissions] == [0.0, 0.0, 0.0]
    assert all(a.booked for a in admissions)
    later = [await second.admit(None), await first.admit(None), await second.admit(None)]
    waits = [a.wait for a in later]
    assert all(a.booked for a in later)
    assert 0 < waits[0] < waits[1] < waits[2]
    # Booked one interval apart on Redis's clock (0.2 s, and 5% for arrival jitter), whichever
    # client asked: the slots themselves, not the waits (which shrink as time passes).
    arrivals = [a.ticket.arrival for a in later]  # type: ignore[attr-defined]
    assert [b - a for a, b in itertools.pairwise(arrivals)] == [210_000, 210_000]


async def test_namespaces_share_nothing(make_limits):
    one, other = make_limits(burst=1), make_limits(burst=1, namespace="other")
    assert (await one.admit(None)).wait == 0
    assert (await other.admit(None)).wait == 0
    assert (await one.admit(None)).wait > 0


async def test_a_slot_beyond_max_wait_books_nothing(make_limits):
    limits = make_limits(burst=1)
    await limits.admit(None)
    too_far = await limits.admit(0.05)
    assert not too_far.booked and too_far.paused == 0
    assert too_far.wait > 0.05
    # Nothing was booked: the same slot is still the next one.
    booked = await limits.admit(1.0)
    assert booked.booked
    assert booked.wait <= too_far.wait


async def test_release_gives_a_future_slot_back_to_the_fleet(make_limits):
    first, second = make_limits(burst=1), make_limits(burst=1)
    await first.admit(None)
    far = await first.admit(None)
    assert far.booked and far.wait > 0.1
    first.release(far)
    first.release(far.__class__(wait=0.0, booked=False))  # nothing booked: nothing to give
    # Released slots travel with this client's next admission; the fleet sees them after it.
    again = await first.admit(None)
    assert again.wait == pytest.approx(far.wait, abs=0.1)
    after = await second.admit(None)
    assert after.wait == pytest.approx(far.wait + 0.2, abs=0.1)


async def test_a_pause_in_one_client_holds_every_client(make_limits):
    one, other = make_limits(), make_limits()
    assert other.paused_for() == 0
    await one.pause(2.0)
    assert one.paused_for() > 1.5
    held = await other.admit(None)
    assert not held.booked
    assert 1.5 < held.paused <= 2.0
    # Now this process knows of it too, without asking Redis again.
    assert other.paused_for() > 1.5
    # A pause only ever extends: a shorter one leaves the longer in place.
    await other.pause(0.1)
    third = make_limits()
    assert (await third.admit(None)).paused > 1.5


async def test_without_a_rate_cap_the_pause_and_the_budget_are_still_shared(make_limits):
    one = make_limits(max_requests_per_second=None, burst=1, retry_budget=5)
    other = make_limits(max_requests_per_second=None, burst=1, retry_budget=5)
    admissions = [await one.admit(0) for _ in range(50)]
    assert all(a.booked and a.wait == 0 for a in admissions)
    one.release(admissions[0])
    assert await one.try_pay(5)
    assert not await other.try_pay(5)
    await other.pause(1.0)
    assert (await one.admit(None)).paused > 0.5
    assert "max_requests_per_second=None" in repr(one)


async def test_the_retry_budget_is_shared_and_runs_out_for_all(make_limits):
    one, other = make_limits(retry_budget=12), make_limits(retry_budget=12)
    assert one.budget() == (12.0, 12.0)
    assert await one.try_pay(5)
    assert await other.try_pay(5)
    assert other.budget() == (2.0, 12.0)
    assert not await one.try_pay(5)
    assert not await other.try_pay(5)
    # Refunds are batched here, then paid into the shared budget in one go.
    for _ in range(3):
        other.refund()
    assert other.budget() == (5.0, 12.0)
    assert not await one.try_pay(5)
    assert await other.try_pay(5)
    assert not await one.try_pay(1)


async def test_batched_refunds_reach_redis_with_an_admission_or_on_close(make_limits):
    one, other = make_limits(retry_budget=20), make_limits(retry_budget=20)
    assert await one.try_pay(10)
    assert await one.try_pay(10)
    for _ in range(10):  # a full batch goes with the next admission
        one.refund()
    await one.admit(None)
    assert await other.try_pay(10)
    for _ in range(5):  # less than a batch: sent on close
        other.refund()
    await other.aclose()
    assert await one.try_pay(5)
    assert not await one.try_pay(1)


async def test_redis_killed_falls_back_with_one_warning_then_returns(
    redis_server: RedisServer, make_limits, caplog
):
    caplog.set_level(logging.INFO, logger="godeploy.fleet")
    clock = ManualClock()
    limits = make_limits(max_requests_per_second=100, burst=10, clock=clock)
    other = make_limits(max_requests_per_second=100, burst=10)
    await other.admit(None)
    await limits.admit(None)
    assert limits.live_clients == 2 and not limits.falling_back

    redis_server.kill()
    admissions = [await limits.admit(None) for _ in range(20)]
    assert limits.falling_back
    # Half the fleet's rate and burst: 5 at once, then one per 20 ms (and the jitter margin).
    assert [a.wait for a in admissions[:5]] == [0.0] * 5
    assert all(a.booked for a in admissions)
    assert admissions[5].wait == pytest.approx(0.02 * 1.05)
    assert await limits.try_pay(5)
    await limits.pause(0.5)
    assert limits.paused_for() == pytest.approx(0.5)
    limits.release(admissions[-1])
    clock.advance(5)  # past the pause; a probe would find Redis still down
    assert (await limits.admit(None)).booked
    assert len(fleet_warnings(caplog)) == 1
    assert "falls back to local limits, 50 requests/s" in fleet_warnings(caplog)[0]

    redis_server.start()
    assert (await limits.admit(None)).booked
    assert limits.falling_back  # a probe at most once a second
    clock.advance(1.1)
    assert (await limits.admit(None)).booked
    assert not limits.falling_back
    assert "answers again" in caplog.records[-1].getMessage()
    assert len(fleet_warnings(caplog)) == 1
    # Fleet-wide again: the other client sees this one's bookings.
    for _ in range(12):
        await limits.admit(None)
    assert (await other.admit(None)).wait > 0

    # A second episode warns again, once.
    redis_server.kill()
    for _ in range(3):
        await limits.admit(None)
    assert len(fleet_warnings(caplog)) == 2


async def test_redis_down_from_the_start_uses_the_configured_share(caplog):
    caplog.set_level(logging.WARNING, logger="godeploy.fleet")
    with RedisServer() as server:
        url = server.url
    limits = FleetLimits(url, max_requests_per_second=90, burst=9, local_share=1 / 3)
    try:
        admissions = [await limits.admit(None) for _ in range(4)]
        assert [a.wait for a in admissions[:3]] == [0.0] * 3
        assert admissions[3].wait == pytest.approx(1 / 30, rel=0.2)
        assert limits.budget() == (166.0, 166.0)
    finally:
        await limits.aclose()
    assert len(fleet_warnings(caplog)) == 1
    assert "configured share 0.333" in fleet_warnings(caplog)[0]


async def test_the_password_never_shows(caplog):
    caplog.set_level(logging.DEBUG)
    secret = "Sup3r-Secret-pw"
    with RedisServer(password=secret) as server:
        limits = FleetLimits(server.url, max_requests_per_second=10)
        wrong = FleetLimits(
            server.url.replace(secret, "Wrong-" + secret), max_requests_per_second=10
        )
        try:
            assert (await limits.admit(None)).booked
            assert secret not in repr(limits)
            assert "***" in repr(limits)
            assert (await wrong.admit(None)).booked  # refused by Redis: local limits
            assert wrong.falling_back
            server.kill()
            assert (await limits.admit(None)).booked
            assert limits.falling_back
            assert secret not in repr(limits) + repr(wrong)
        finally:
            await limits.aclose()
            await wrong.aclose()
    assert len(caplog.records) >= 2
    assert secret not in caplog.text
    with pytest.raises(RequestValidationError) as raised:
        FleetLimits(f"redis://user:{secret}@localhost:port/0", max_requests_per_second=1)
    shown = "".join(traceback.format_exception(raised.value))
    assert "redis://user:***@localhost:port/0" in shown
    assert secret not in shown


@pytest.mark.parametrize(
    "options",
    [
        {"max_requests_per_second": 0},
        {"max_requests_per_second": float("nan")},
        {"max_requests_per_second": 5, "burst": 0},
        {"max_requests_per_second": 5, "burst": 1.5},
        {"max_requests_per_second": 5, "namespace": ""},
        {"max_requests_per_second": 5, "namespace": " x"},
        {"max_requests_per_second": 5, "retry_budget": 0},
        {"max_requests_per_second": 5, "local_share": 0},
        {"max_requests_per_second": 5, "local_share": 1.5},
    ],
)
def test_bad_options_are_refused(options):
    with pytest.raises(RequestValidationError):
        FleetLimits("redis://127.0.0.1:1/0", **options)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:pw@host/1", "redis://user:***@host/1"),
        ("rediss://host:6380/0", "rediss://host:6380/0"),
        ("unix:///run/redis.sock?db=1&password=pw", "unix:///run/redis.sock?db=1&password=***"),
    ],
)
def test_redact_url_hides_the_password(url, shown):
    assert redact_url(url) == shown


def test_a_url_that_is_not_redis_is_refused():
    with pytest.raises(RequestValidationError, match="redis_url"):
        FleetLimits("http://127.0.0.1/", max_requests_per_second=1)


async def test_close_is_idempotent_and_final(make_limits, redis_server):
    limits = make_limits()
    await limits.admit(None)
    await limits.aclose()
    await limits.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await limits.admit(None)
    probe = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        clients = await probe.client_list()
    finally:
        await probe.aclose()
    assert len(clients) == 1  # only the probe: the limits' connections are gone


async def test_unclosed_limits_that_talked_to_redis_warn(redis_server):
    limits = FleetLimits(redis_server.url, max_requests_per_second=5)
    await limits.admit(None)
    await limits._redis.aclose()  # what a forgotten aclose() leaves is the warning itself
    with pytest.warns(ResourceWarning, match="unclosed <FleetLimits"):
        del limits
        gc.collect()


async def test_slots_are_booked_with_a_margin_for_arrival_jitter(make_limits):
    # 10/s: a slot every 100 ms on the cap, 105 ms with the default margin (jitter 0.05).
    for jitter, spacing in ((None, 105_000), (0.0, 100_000), (0.2, 120_000)):
        options = {} if jitter is None else {"jitter": jitter}
        limits = make_limits(
            max_requests_per_second=10, burst=1, namespace=f"j{spacing}", **options
        )
        tickets = [(await limits.admit(None)).ticket for _ in range(5)]
        arrivals = [ticket.arrival for ticket in tickets]  # on Redis's clock, in us
        assert {b - a for a, b in itertools.pairwise(arrivals)} == {spacing}


async def test_a_client_back_from_an_outage_gets_no_fresh_burst_and_keeps_its_share(
    redis_server: RedisServer, make_limits
):
    clock = ManualClock()
    limits = make_limits(max_requests_per_second=100, burst=10, jitter=0, clock=clock)
    other = make_limits(max_requests_per_second=100, burst=10, jitter=0)
    await other.admit(None)
    await limits.admit(None)
    redis_server.kill()
    await limits.admit(None)
    assert limits.falling_back
    redis_server.start()  # empty: the fleet's booking is gone, a full burst would be free
    clock.advance(1.1)
    back = [await limits.admit(None) for _ in range(6)]
    assert not limits.falling_back
    # No fresh burst (the first answer from Redis is what tells it that Redis is back).
    assert all(admission.wait > 0 for admission in back[1:]), back
    # And on Redis, the burst counts as spent: the other client waits at once.
    assert (await other.admit(None)).wait > 0
    # After the grace, Redis alone paces it.
    clock.advance(3.1)
    await limits.admit(None)
    assert limits._fallback.local is None
