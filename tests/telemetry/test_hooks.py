"""Hooks: their events, their order, and their failures, with OpenTelemetry not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import attrs
import pytest

from godeploy import (
    AiohttpTransport,
    GoDeployClient,
    RequestValidationError,
    ServiceUnavailableError,
    TransportRequest,
    TransportResponse,
)
from godeploy._hooks import Hooks, RequestEvent, ResponseEvent, fire
from godeploy.testing import Fault
from tests._support import FAST_RETRIES
from tests._support.reference_examples import ROOT


@pytest.fixture(scope="module")
def without_otel() -> tuple[dict, str]:
    """What `hooks_without_otel.py` saw, in a child where `opentelemetry` cannot be imported."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_support" / "hooks_without_otel.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return json.loads(result.stdout), result.stderr


def kinds(events: list) -> list[str]:
    return [kind for kind, _ in events]


def test_without_otel_nothing_is_imported_and_providers_are_refused(without_otel):
    seen, _ = without_otel
    assert seen["otel_available"] is False
    assert seen["opentelemetry_imported"] == []
    assert "pip install 'godeploy[otel]'" in seen["provider_without_otel"]


def test_a_retried_call_fires_request_response_retry_request_response_call(without_otel):
    seen, _ = without_otel
    assert seen["order_id"] == seen["expected_order_id"]
    events = seen["retried"]
    assert kinds(events) == ["request", "response", "retry", "request", "response", "call"]
    first, failed, retry, second, answered, call = (event for _, event in events)
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert first["operation"] == "getOrder"
    assert first["url_template"] == "/api/v2/orders/{orderId}"
    assert f"/api/v2/orders/{seen['order_id']}?businessUnitId=" in first["url"]
    assert (failed["status"], failed["error"]) == (503, "503")
    assert (retry["reason"], retry["retry"], retry["max_retries"]) == ("503", 1, 3)
    assert retry["budget_left"] == 495.0
    assert (answered["status"], answered["error"], answered["cancelled"]) == (200, None, False)
    assert (call["attempts"], call["retries"], call["status"], call["error"]) == (2, 1, 200, None)


def test_hooks_that_raise_are_logged_and_the_call_goes_on(without_otel):
    seen, stderr = without_otel
    assert seen["broken_order_id"] == seen["expected_order_id"]
    assert kinds(seen["broken"]) == ["request", "response", "retry", "request", "response", "call"]
    warnings = [line for line in stderr.splitlines() if line.startswith("WARNING")]
    names = ["RequestEvent", "ResponseEvent", "RetryEvent", "RequestEvent", "ResponseEvent"]
    assert warnings == [
        f"WARNING a godeploy hook raised on {name}; ignored" for name in [*names, "CallEvent"]
    ]


def test_a_cancelled_call_still_gets_its_response_event(without_otel):
    seen, _ = without_otel
    assert kinds(seen["cancelled"]) == ["request", "response", "call"]
    response, call = seen["cancelled"][1][1], seen["cancelled"][2][1]
    assert response["cancelled"] is True
    assert response["status"] is None and response["error"] is None
    assert call["cancelled"] is True and call["error"] is None and call["attempts"] == 1


def test_fan_out_progress(without_otel):
    seen, _ = without_otel
    assert seen["fan_out_ok"] == [True, True, True, False]
    assert seen["fan_out"][-1] == {"total": 4, "done": 4, "failed": 1, "in_flight": 0}
    assert [event["done"] for event in seen["fan_out"]] == [1, 2, 3, 4]


def test_an_async_hook_is_refused():
    async def on_request(event: RequestEvent) -> None:
        pass

    class AsyncCallable:
        async def __call__(self, event: RequestEvent) -> None:
            pass

    with pytest.raises(RequestValidationError, match="plain \\(sync\\) callable"):
        Hooks(on_request=on_request)
    with pytest.raises(RequestValidationError, match="plain \\(sync\\) callable"):
        Hooks(on_retry=AsyncCallable())
    with pytest.raises(RequestValidationError, match="must be a callable"):
        Hooks(on_response="print")


def test_hooks_are_frozen_and_empty_hooks_say_so():
    assert Hooks().empty
    assert not Hooks(on_progress=print).empty
    with pytest.raises(AttributeError):
        Hooks().on_request = print  # type: ignore[misc]


def test_fire_lets_base_exceptions_through():
    def interrupt(event: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fire(interrupt, object())


def test_importing_godeploy_does_not_import_opentelemetry():
    code = (
        "import sys, godeploy; "
        "print(any(name.split('.')[0] == 'opentelemetry' for name in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class RequestIdTransport:
    """The real transport, stamping each answer with `X-Request-Id: req-<n>` in place of the
    fake's own."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()
        self.answers = 0

    async def send(self, request: TransportRequest) -> TransportResponse:
        response = await self.inner.send(request)
        self.answers += 1
        stamped = {k: v for k, v in response.headers.items() if k.lower() != "x-request-id"}
        stamped["X-Request-Id"] = f"req-{self.answers}"
        return attrs.evolve(response, headers=stamped)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_every_response_event_carries_the_answers_headers_and_request_id(fake_godeploy):
    responses: list[ResponseEvent] = []
    transport = RequestIdTransport()
    fake_godeploy.faults.script("getOrder", [Fault.status(503), Fault.reset()])
    async with GoDeployClient(
        fake_godeploy.token,
        fake_godeploy.business_unit_id,
        base_url=fake_godeploy.url,
        transport=transport,
        retry_policy=FAST_RETRIES,
        hooks=Hooks(on_response=responses.append),
    ) as client:
        await client.orders.get(fake_godeploy.order_ids()[0])
        unavailable, reset, answered = responses
        orders = [order async for order in client.orders.list(page_size=5, max_items=12)]
    await transport.aclose()
    assert len(orders) == 12
    assert (unavailable.status, unavailable.request_id) == (503, "req-1")
    # A reset is no answer: no headers, no request id.
    assert (reset.status, reset.request_id, len(reset.headers)) == (None, None, 0)
    assert (answered.status, answered.request_id) == (200, "req-2")
    pages = responses[3:]
    assert [page.request_id for page in pages] == ["req-3", "req-4", "req-5"]
    for event in (unavailable, answered, *pages):
        # The same read-only, case-insensitive mapping as APIStatusError.headers.
        assert event.headers["x-request-id"] == event.headers["X-REQUEST-ID"] == event.request_id
        assert "json" in event.headers["content-type"]
        assert type(event.headers) is type(
            ServiceUnavailableError("", status=503, method="GET", url="x").headers
        )
        with pytest.raises(TypeError):
            event.headers["X-Request-Id"] = "changed"  # type: ignore[index]
