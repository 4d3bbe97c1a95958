"""One client across event loops: the next loop after the first has closed (pytest-asyncio's
loop per test, `asyncio.run` twice) works on connections of its own, and leaves nothing behind;
two loops running at once are refused with a typed error naming the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from godeploy import EventLoopError, GoDeployClient
from tests._support.reliability import LoopAudit, ThreadedFake


@pytest.fixture(scope="module")
def server():
    with ThreadedFake(seed=7, order_count=40) as threaded:
        yield threaded


def _client(server: ThreadedFake, **options: object) -> GoDeployClient:
    fake = server.fake

    async def token() -> str:
        await asyncio.sleep(0.001)  # concurrent calls wait on the token's lock
        return fake.token

    return GoDeployClient(token, fake.business_unit_id, base_url=fake.url, **options)


def test_a_client_works_in_the_next_loop_after_the_first_closed(server):
    client = _client(server)
    order_ids = server.fake.order_ids()[:8]
    audit = LoopAudit()

    async def fetch() -> list[int]:
        orders = await asyncio.gather(*(client.orders.get(i) for i in order_ids))
        return [order.id for order in orders]

    async def rotate_then_fetch_and_close() -> list[int]:
        server.run(server.fake.rotate_token)  # concurrent refreshes take the lock in this loop
        try:
            return await fetch()
        finally:
            await client.aclose()

    assert audit.run(fetch()) == order_ids  # the client is left open when this loop closes
    assert audit.run(fetch()) == order_ids
    assert audit.run(rotate_then_fetch_and_close()) == order_ids
    assert client.stats["token_refreshes"] == 1
    assert audit.warnings == []
    assert audit.loop_errors == []


def test_a_client_closed_in_a_later_loop_leaves_nothing(server):
    client = _client(server, max_connections=4)
    audit = LoopAudit()

    async def fetch() -> None:
        await asyncio.gather(*(client.orders.get(i) for i in server.fake.order_ids()[:8]))

    async def close() -> None:
        await client.aclose()

    audit.run(fetch())
    audit.run(close())
    assert client.is_closed
    assert audit.warnings == []
    assert audit.loop_errors == []


def test_two_running_loops_at_once_are_refused_naming_the_loop(server):
    client = _client(server)
    first = asyncio.new_event_loop()
    thread = threading.Thread(target=first.run_forever, daemon=True)
    thread.start()
    try:
        order_id = server.fake.order_ids()[0]
        call = asyncio.run_coroutine_threadsafe(client.orders.get(order_id), first)
        assert call.result(30).id == order_id
        with pytest.raises(EventLoopError) as caught:
            asyncio.run(client.orders.get(order_id))
        assert repr(first) in str(caught.value)
        # The loop that owns it goes on working.
        call = asyncio.run_coroutine_threadsafe(client.orders.get(order_id), first)
        assert call.result(30).id == order_id
    finally:
        asyncio.run_coroutine_threadsafe(client.aclose(), first).result(30)
        first.call_soon_threadsafe(first.stop)
        thread.join(30)
        first.close()
