"""One way to check an option: every public option, given a bad value, raises
`RequestValidationError` whose message names it and whose `errors` maps its name to the problem.

The table holds at least one bad value per option; `test_the_table_covers_every_option` reads
the signatures, so an option added without a row here fails the suite.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from godeploy import (
    AiohttpTransport,
    FanOut,
    GoDeployClient,
    LocalLimits,
    MockTransport,
    RequestValidationError,
    RetryBudget,
    RetryPolicy,
    Timeout,
    TransportResponse,
)

UNIT = "2286550d-91ef-4cdd-84f0-7bffa47e7cc2"


def _client(**options: Any) -> GoDeployClient:
    return GoDeployClient("t", UNIT, **options)


def _mocked() -> GoDeployClient:
    """A client that never opens a socket (nothing here gets as far as sending)."""
    return _client(transport=MockTransport(lambda request: TransportResponse(status=500)))


async def _work(value: int) -> int:
    return value


# (where, option, build): `build` makes the object or the call with one bad option.
BAD: list[tuple[str, str, Callable[[], object]]] = [
    ("client", "token", lambda: GoDeployClient(42, UNIT)),  # type: ignore[arg-type]
    ("client", "token", lambda: GoDeployClient(" ", UNIT)),
    ("client", "business_unit_id", lambda: GoDeployClient("t", "not-a-uuid")),
    ("client", "base_url", lambda: _client(base_url="ftp://example.com")),
    ("client", "base_url", lambda: _client(base_url=8080)),
    ("client", "session", lambda: _client(session="x")),
    ("client", "session", lambda: _client(session=object(), transport=object())),
    ("client", "transport", lambda: _client(transport=object())),
    ("client", "max_connections", lambda: _client(max_connections=0)),
    ("client", "timeout", lambda: _client(timeout=-1)),
    ("client", "timeout", lambda: _client(timeout="soon")),
    ("client", "max_retries", lambda: _client(max_retries=-1)),
    ("client", "max_retries", lambda: _client(max_retries=True)),
    ("client", "retry_policy", lambda: _client(retry_policy="fast")),
    ("client", "retry_budget", lambda: _client(retry_budget=10)),
    ("client", "max_requests_per_second", lambda: _client(max_requests_per_second=0)),
    ("client", "max_requests_per_second", lambda: _client(max_requests_per_second=float("nan"))),
    ("client", "limits", lambda: _client(limits=object())),
    ("client", "limits", lambda: _client(limits=LocalLimits(), max_requests_per_second=5)),
    ("client", "allow_insecure_http", lambda: _client(allow_insecure_http="no")),
    ("client", "allow_insecure_http", lambda: _client(allow_insecure_http=1)),
    ("client", "hooks", lambda: _client(hooks=print)),
    ("client", "tracer_provider", lambda: _client(tracer_provider="x")),
    ("client", "meter_provider", lambda: _client(meter_provider="x")),
    ("client", "max_response_bytes", lambda: _client(max_response_bytes=0)),
    ("client", "trust_env", lambda: _client(trust_env="false")),
    ("client", "ssl", lambda: _client(ssl="/no/such/ca-bundle.pem")),
    ("client", "ssl", lambda: _client(ssl=1)),
    ("Timeout", "connect", lambda: Timeout(connect=0)),
    ("Timeout", "attempt", lambda: Timeout(attempt=True)),
    ("Timeout", "total", lambda: Timeout(total=float("inf"))),
    ("RetryPolicy", "max_retries", lambda: RetryPolicy(max_retries=-1)),
    ("RetryPolicy", "backoff_base", lambda: RetryPolicy(backoff_base=-0.1)),
    ("RetryPolicy", "backoff_cap", lambda: RetryPolicy(backoff_cap="8")),
    ("RetryPolicy", "retry_after_cap", lambda: RetryPolicy(retry_after_cap="60")),
    ("RetryPolicy", "retryable_statuses", lambda: RetryPolicy(retryable_statuses="503")),
    ("RetryPolicy", "retryable_statuses", lambda: RetryPolicy(retryable_statuses={503, 42})),
    ("RetryBudget", "capacity", lambda: RetryBudget(capacity=0)),
    ("LocalLimits", "max_requests_per_second", lambda: LocalLimits(max_requests_per_second=-2)),
    ("LocalLimits", "burst", lambda: LocalLimits(burst=-5)),
    ("LocalLimits", "burst", lambda: LocalLimits(max_requests_per_second=2, burst=0)),
    ("LocalLimits", "retry_budget", lambda: LocalLimits(retry_budget=500)),
    ("LocalLimits", "clock", lambda: LocalLimits(clock=1.0)),
    ("AiohttpTransport", "session", lambda: AiohttpTransport(session="x")),  # type: ignore[arg-type]
    ("AiohttpTransport", "max_connections", lambda: AiohttpTransport(max_connections=-1)),
    (
        "AiohttpTransport",
        "max_connections_per_host",
        lambda: AiohttpTransport(max_connections_per_host=-1),
    ),
    ("AiohttpTransport", "max_response_bytes", lambda: AiohttpTransport(max_response_bytes=0.5)),
    ("AiohttpTransport", "trust_env", lambda: AiohttpTransport(trust_env=None)),  # type: ignore[arg-type]
    ("AiohttpTransport", "ssl", lambda: AiohttpTransport(ssl=object())),  # type: ignore[arg-type]
    ("MockTransport", "handler", lambda: MockTransport("answer")),  # type: ignore[arg-type]
    ("FanOut", "work", lambda: FanOut([1], "work")),  # type: ignore[arg-type]
    ("FanOut", "concurrency", lambda: FanOut([1], _work, concurrency=0)),
    ("FanOut", "ordered", lambda: FanOut([1], _work, ordered="yes")),  # type: ignore[arg-type]
    ("FanOut", "max_connections", lambda: FanOut([1], _work, max_connections=0)),
    ("list", "page_size", lambda: _mocked().orders.list(page_size=0)),
    ("list", "start_page", lambda: _mocked().products.list(start_page=0)),
    ("list", "max_items", lambda: _mocked().order_items.list(1, max_items=-1)),
    ("list", "business_unit_id", lambda: _mocked().orders.list(business_unit_id="unit")),
    ("list", "timeout", lambda: _mocked().orders.list(timeout=0)),
    ("list", "max_retries", lambda: _mocked().orders.list(max_retries=-1)),
    ("for_orders", "concurrency", lambda: _mocked().order_items.for_orders([1], concurrency=0)),
    ("for_orders", "ordered", lambda: _mocked().order_items.for_orders([1], ordered=1)),
    ("for_orders", "page_size", lambda: _mocked().order_items.for_orders([1], page_size=0)),
]


@pytest.mark.parametrize(
    ("where", "name", "build"), BAD, ids=[f"{where}-{name}" for where, name, _ in BAD]
)
def test_a_bad_option_is_refused_by_name(where, name, build):
    with pytest.raises(RequestValidationError) as caught:
        build()
    assert name in str(caught.value)
    assert name in caught.value.errors, caught.value.errors
    assert caught.value.errors[name]


async def test_a_call_option_is_checked_before_anything_is_sent():
    sent = []

    def handler(request: object) -> TransportResponse:
        sent.append(request)
        return TransportResponse(status=500)

    async with _client(transport=MockTransport(handler)) as client:
        for call in (
            lambda: client.orders.get(1, timeout="soon"),
            lambda: client.orders.get(1, max_retries=1.5),
            lambda: client.products.get(UNIT, business_unit_id=7),
            lambda: client.orders.create(
                purchase_order_reference="PO",
                email_keys=False,
                order_items=[{"feature_set_id": UNIT, "quantity": 1}],
                max_retries="3",
            ),
        ):
            with pytest.raises(RequestValidationError) as caught:
                await call()
            assert caught.value.errors
    assert sent == []


# Inputs, not options: what to fetch or create, checked as the API checks them.
NOT_OPTIONS = {
    "self",
    "request",
    "product_id",
    "feature_set_id",
    "order_id",
    "orders",
    "inputs",
    "purchase_order_reference",
    "email_keys",
    "order_items",
    "contact_email",
    "scope",  # FanOut's telemetry, handed in by the SDK itself
}


def _options_of(function: Callable[..., object]) -> set[str]:
    return set(inspect.signature(function).parameters) - NOT_OPTIONS


def test_the_table_covers_every_option():
    client = _mocked()
    resources = [client.products, client.feature_sets, client.orders, client.order_items]
    names = ("list", "get", "create", "for_orders")
    methods = [getattr(r, name) for r in resources for name in names if hasattr(r, name)]
    calls = set().union(*(_options_of(method) for method in methods))
    classes = {
        cls.__name__: {a.name for a in attrs.fields(cls) if a.init}
        for cls in (Timeout, RetryPolicy, RetryBudget)
    }
    expected = {
        "client": _options_of(GoDeployClient.__init__),
        **classes,
        "LocalLimits": _options_of(LocalLimits.__init__),
        "AiohttpTransport": _options_of(AiohttpTransport.__init__),
        "MockTransport": _options_of(MockTransport.__init__),
        "FanOut": _options_of(FanOut.__init__),
        "list": calls - {"concurrency", "ordered"},
        "for_orders": {"concurrency", "ordered", "page_size"},
    }
    covered: dict[str, set[str]] = {}
    for where, name, _ in BAD:
        covered.setdefault(where, set()).add(name)
    missing = {where: names - covered.get(where, set()) for where, names in expected.items()}
    assert not {where: names for where, names in missing.items() if names}
