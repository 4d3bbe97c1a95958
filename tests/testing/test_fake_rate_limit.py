"""The fake's fleet cap: 429 with Retry-After above R requests/s, and requests per window."""

from __future__ import annotations

import asyncio

import pytest

from godeploy.testing import FakeGoDeploy
from godeploy.testing._observe import RateCap, RateWindows
from tests._support.fake import Api


async def test_requests_beyond_the_cap_get_429_with_retry_after(session):
    async with FakeGoDeploy(order_count=10, rate_limit=5) as fake:
        api = Api(fake, session)
        replies = await asyncio.gather(*(api.get("/api/v2/orders") for _ in range(12)))
        statuses = sorted(reply.status for reply in replies)
        assert statuses == [200] * 5 + [429] * 7
        refused = [reply for reply in replies if reply.status == 429]
        assert {reply.headers["Retry-After"] for reply in refused} == {"1"}
        assert refused[0].headers["Content-Type"].startswith("application/problem+json")
        assert "5 requests per second" in refused[0].json()["detail"]
        # The API saw every request, refused ones included.
        assert fake.count() == 12
        assert fake.count(status=429) == 7
        assert fake.busiest_window() == 12
        assert sum(fake.requests_per_window) == 12
        assert fake.rate_limit == 5


async def test_waiting_retry_after_is_enough_to_be_admitted(session):
    async with FakeGoDeploy(order_count=10, rate_limit=2) as fake:
        api = Api(fake, session)
        first = await asyncio.gather(*(api.get("/api/v2/products") for _ in range(3)))
        refused = next(reply for reply in first if reply.status == 429)
        await asyncio.sleep(float(refused.headers["Retry-After"]))
        again = await asyncio.gather(*(api.get("/api/v2/products") for _ in range(2)))
        assert [reply.status for reply in again] == [200, 200]


async def test_the_cap_is_checked_before_auth_and_faults(session):
    async with FakeGoDeploy(order_count=10, rate_limit=1) as fake:
        api = Api(fake, session)
        assert (await api.get("/api/v2/orders", token="wrong")).status == 401
        assert (await api.get("/api/v2/orders")).status == 429


async def test_without_a_cap_nothing_is_refused_but_windows_are_counted(session):
    async with FakeGoDeploy(order_count=10) as fake:
        api = Api(fake, session)
        replies = await asyncio.gather(*(api.get("/api/v2/products") for _ in range(40)))
        assert {reply.status for reply in replies} == {200}
        assert fake.rate_limit is None
        assert fake.busiest_window() == 40
        assert sum(fake.requests_per_window) == 40
        fake.reset_log()
        assert fake.busiest_window() == 0
        assert fake.requests_per_window == []


@pytest.mark.parametrize("bad", [0, -3, True])
def test_a_bad_rate_limit_is_refused(bad):
    with pytest.raises(ValueError, match="rate_limit"):
        FakeGoDeploy(rate_limit=bad)


def test_windows_count_fixed_seconds_and_the_busiest_sliding_second():
    windows = RateWindows(origin=100.0)
    for now in (100.6, 100.7, 101.1, 101.2, 102.5, 104.0):
        windows.arrived(now)
    assert windows.windows == [2, 2, 1, 0, 1]
    # 100.6-101.2 lies within one second although it spans two fixed windows.
    assert windows.busiest == 4
    windows.clear(origin=200.0)
    assert windows.windows == [] and windows.busiest == 0


def test_the_cap_is_a_sliding_second():
    cap = RateCap(2)
    assert cap.admit(10.0) == 0.0
    assert cap.admit(10.4) == 0.0
    assert cap.admit(10.5) == pytest.approx(0.5)
    assert cap.admit(10.99) == pytest.approx(0.01)
    # A refused request is not admitted: it takes no slot.
    assert cap.admit(11.0) == 0.0
    assert cap.admit(11.2) == pytest.approx(0.2)
    assert cap.admit(11.4) == 0.0
