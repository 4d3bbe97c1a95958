"""Fleet objects' options, closed objects and errors read back from Redis: each one way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import godeploy.fleet
from godeploy import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    GoDeployError,
    NotFoundError,
    PaginationError,
    RateLimitError,
    RequestValidationError,
    ResponseValidationError,
    ServiceUnavailableError,
)
from godeploy.fleet import Fleet, FleetLimits, FleetWorker
from godeploy.fleet._store import decode_result, encode_result
from godeploy.resources.order_items import OrderItemsResult
from godeploy.testing import RedisServer

URL = "redis://127.0.0.1:1/0"


def limits(**options: Any) -> FleetLimits:
    return FleetLimits(URL, **{"max_requests_per_second": 5, **options})


def worker(**options: Any) -> FleetWorker:
    return FleetWorker(lambda: None, **options)  # type: ignore[arg-type, return-value]


BAD_NAMESPACES = ["", " x", "a b", "a:b", 7, None, "x" * 101]


@pytest.mark.parametrize("namespace", BAD_NAMESPACES)
@pytest.mark.parametrize("make", [lambda n: Fleet(URL, namespace=n), lambda n: limits(namespace=n)])
def test_one_namespace_rule_for_fleet_and_limits(make, namespace):
    with pytest.raises(RequestValidationError, match="namespace") as raised:
        make(namespace)
    assert list(raised.value.errors) == ["namespace"]


@pytest.mark.parametrize("make", [lambda n: Fleet(URL, namespace=n), lambda n: limits(namespace=n)])
def test_both_take_the_same_good_namespaces(make):
    for namespace in ("godeploy", "app-1.prod_eu", "x" * 100):
        make(namespace)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: limits(max_requests_per_second=0), "max_requests_per_second"),
        (lambda: limits(max_requests_per_second="5"), "max_requests_per_second"),
        (lambda: limits(burst=0), "burst"),
        (lambda: limits(burst=True), "burst"),
        (lambda: limits(retry_budget=0), "retry_budget"),
        (lambda: limits(local_share=0), "local_share"),
        (lambda: limits(local_share=1.5), "local_share"),
        (lambda: limits(local_share="half"), "local_share"),
        (lambda: limits(jitter=-0.1), "jitter"),
        (lambda: limits(jitter=1.5), "jitter"),
        (lambda: limits(clock="now"), "clock"),
        (lambda: FleetLimits(7, max_requests_per_second=5), "redis_url"),  # type: ignore[arg-type]
        (lambda: FleetLimits("http://x/", max_requests_per_second=5), "redis_url"),
        (lambda: Fleet(URL, queue_name=""), "queue_name"),
        (lambda: Fleet(URL, queue_name="my queue"), "queue_name"),
        (lambda: worker(concurrency=0), "concurrency"),
        (lambda: worker(concurrency=2.0), "concurrency"),
        (lambda: worker(job_timeout=1), "job_timeout"),
        (lambda: worker(job_timeout="20"), "job_timeout"),
        (lambda: worker(max_tries=0), "max_tries"),
        (lambda: worker(page_size=0), "page_size"),
        (lambda: worker(on_result="print"), "on_result"),
        (lambda: FleetWorker("client"), "client"),  # type: ignore[arg-type]
    ],
)
def test_bad_options_name_themselves(make, name):
    with pytest.raises(RequestValidationError, match=name) as raised:
        make()
    assert list(raised.value.errors) == [name]


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": True}, "chunk_size"),
        ({"max_unread": 0}, "max_unread"),
        ({"run_id": "a:b"}, "run_id"),
        ({"run_id": ""}, "run_id"),
        ({"ttl": timedelta(milliseconds=10)}, "ttl"),
        ({"ttl": 3600}, "ttl"),
        ({"orders": [0]}, "orders"),
    ],
)
async def test_bad_submit_options_name_themselves(redis_server: RedisServer, options, name):
    async with Fleet(redis_server.url) as fleet:
        orders = options.pop("orders", [1, 2])
        with pytest.raises(RequestValidationError, match=name) as raised:
            await fleet.submit(orders, **options)
        assert list(raised.value.errors) == [name]
        with pytest.raises(RequestValidationError) as raised:
            fleet.results("a b")
        assert list(raised.value.errors) == ["run"]


async def test_closed_fleet_objects_raise_client_closed(redis_server: RedisServer):
    fleet = Fleet(redis_server.url)
    with pytest.raises(ClientClosedError, match="not open"):
        await fleet.report("r")
    async with fleet:
        await fleet.submit([1], run_id="r")
    for call in (fleet.report("r"), fleet.cancel("r"), fleet.submit([1]), fleet.open()):
        with pytest.raises(ClientClosedError, match="closed"):
            await call
    shared = FleetLimits(redis_server.url, max_requests_per_second=5)
    await shared.admit(None)
    await shared.aclose()
    for closed in (shared.admit(None), shared.pause(1), shared.try_pay(1)):
        with pytest.raises(ClientClosedError, match="closed"):
            await closed
    with pytest.raises(ClientClosedError, match="not started"):
        worker().client  # noqa: B018


@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("gone", status=404, method="GET", url="https://api/x", request_id="r-1"),
        RateLimitError("slow", status=429, method="GET", url="https://api/x", retry_after=2.5),
        ServiceUnavailableError("down", status=503, method="GET", url="https://api/x"),
        APIConnectionError("reset", method="GET", url="https://api/x", request_sent=False),
        APITimeoutError("late", method="GET", url="https://api/x", request_sent=True),
        ResponseValidationError("bad", path="$.items[0]", url="https://api/x"),
        PaginationError("loops"),
        GoDeployError("other"),
    ],
)
def test_errors_come_back_as_the_same_class(error):
    body = encode_result(OrderItemsResult(order_id=7, items=[], error=error), with_items=True)
    back = decode_result(body).error
    assert type(back) is type(error)
    assert str(back) == str(error)
    for name in ("status", "retry_after", "request_id", "request_sent", "path"):
        assert getattr(back, name, None) == getattr(error, name, None)


@pytest.mark.parametrize(
    "name", ["error_from_response", "status_error_class", "parse_retry_after", "SystemExit", "x"]
)
def test_any_other_name_read_back_is_one_generic_error_never_a_call(name):
    body = b'{"orderId": 7, "items": [], "error": {"type": "%s", "message": "m"}}' % name.encode()
    error = decode_result(body).error
    assert type(error) is GoDeployError
    assert str(error) == f"{name}: m"


def test_all_lua_is_in_one_module_and_runs_by_evalsha():
    fleet = Path(godeploy.fleet.__file__).parent
    with_lua = {path.name for path in fleet.glob("*.py") if "redis.call(" in path.read_text()}
    assert with_lua == {"_scripts.py"}
    sources = {path.name: path.read_text() for path in fleet.glob("*.py")}
    assert [name for name, text in sources.items() if ".eval(" in text] == []
    assert [name for name, text in sources.items() if "register_script(" in text] == ["_scripts.py"]
