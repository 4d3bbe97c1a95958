"""The fake for sync callers: served from a thread of its own, handed out as strings.

A sync test client (Starlette's `TestClient`, which FastAPI's is) runs the app on another
thread's loop and blocks the test's thread until the app answers: a fake served by the test's
own loop would never answer it. `FakeGoDeploy.in_thread()` (the `fake_godeploy_thread`
fixture) serves it from its own thread and loop.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.request

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from godeploy import GoDeployClient
from godeploy.testing import FakeGoDeploy


async def _first_orders(request: Request) -> JSONResponse:
    """A web app's endpoint that reads its configuration from the environment, as apps do."""
    async with GoDeployClient(
        os.environ["GODEPLOY_TOKEN"],
        os.environ["GODEPLOY_BUSINESS_UNIT_ID"],
        base_url=os.environ["GODEPLOY_BASE_URL"],
    ) as client:
        ids = [order.id async for order in client.orders.list(max_items=3)]
    return JSONResponse(ids)


APP = Starlette(routes=[Route("/first-orders", _first_orders)])


def test_a_sync_test_client_reaches_the_fake_in_a_thread(
    fake_godeploy_thread: FakeGoDeploy, monkeypatch: pytest.MonkeyPatch
):
    # Strings, as monkeypatch.setenv wants them (anything else warns, and warnings are errors).
    for name, value in fake_godeploy_thread.environment.items():
        monkeypatch.setenv(name, value)

    with TestClient(APP) as client:
        reply = client.get("/first-orders")

    assert reply.status_code == 200
    assert reply.json() == fake_godeploy_thread.order_ids()[:3]
    assert fake_godeploy_thread.count("listOrders") == 1


def test_a_plain_sync_call_from_the_test_thread():
    fake = FakeGoDeploy(seed=7, order_count=5)
    with fake.in_thread() as served:
        assert served is fake
        environment = fake.environment
        request = urllib.request.Request(
            f"{environment['GODEPLOY_BASE_URL']}/api/v2/orders"
            f"?businessUnitId={environment['GODEPLOY_BUSINESS_UNIT_ID']}",
            headers={"Authorization": f"Bearer {environment['GODEPLOY_TOKEN']}"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            body = json.loads(reply.read())

    assert body["_pageInfo"]["totalItemCount"] == 5
    assert not fake.running
    assert "FakeGoDeploy" not in {thread.name for thread in threading.enumerate()}


def test_environment_names_the_variables_of_the_cli_and_the_client():
    fake = FakeGoDeploy(seed=7)
    with fake.in_thread():
        assert fake.environment == {
            "GODEPLOY_TOKEN": fake.token,
            "GODEPLOY_BUSINESS_UNIT_ID": str(fake.business_unit_id),
            "GODEPLOY_BASE_URL": str(fake.url),
        }


def test_a_taken_port_fails_in_the_callers_thread():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        fake = FakeGoDeploy(port=taken.getsockname()[1])
        with pytest.raises(OSError), fake.in_thread():
            pytest.fail("unreachable: the fake could not listen")
    assert not fake.running
    assert "FakeGoDeploy" not in {thread.name for thread in threading.enumerate()}


async def test_recorded_headers_are_case_insensitive(fake: FakeGoDeploy):
    async with aiohttp.ClientSession() as session:
        await session.get(
            fake.url / "api/v2/products",
            params={"businessUnitId": str(fake.business_unit_id)},
            headers={"Authorization": f"Bearer {fake.token}", "X-Request-Id": "r-1"},
        )

    (record,) = fake.requests
    assert record.headers["x-request-id"] == record.headers["X-REQUEST-ID"] == "r-1"
    assert record.headers["authorization"] == "Bearer ***"
