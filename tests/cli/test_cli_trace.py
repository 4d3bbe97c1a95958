"""`godeploy ... --trace`: one line per API call on stderr, from the client's hooks."""

from __future__ import annotations

from godeploy import CallEvent
from godeploy.cli._trace import format_call
from godeploy.testing import FakeGoDeploy, Fault


def call(**fields) -> CallEvent:
    defaults = {
        "operation": "getOrder",
        "method": "GET",
        "url": "https://api.example.test/api/v2/orders/5?businessUnitId=u",
        "attempts": 1,
        "retries": 0,
        "backoff": 0.0,
        "waited": 0.0,
        "elapsed": 0.0141,
        "status": 200,
        "error": None,
    }
    return CallEvent(**{**defaults, **fields})


def test_a_plain_call_is_a_short_line():
    assert format_call(call(), []) == "trace: getOrder GET /api/v2/orders/5 -> 200 in 14 ms"


def test_a_retried_call_says_what_it_retried_and_how_long_it_waited():
    event = call(attempts=3, retries=2, backoff=0.41, waited=1.5, elapsed=2.25)
    assert format_call(event, ["503", "timeout"]) == (
        "trace: getOrder GET /api/v2/orders/5 -> 200 in 2.25 s; 3 attempts "
        "(retried: 503, timeout); backoff 410 ms; waited 1.50 s (rate limit)"
    )


def test_failures_and_cancellation():
    assert format_call(call(status=404, error="404"), []).endswith("-> 404 in 14 ms")
    assert "-> timeout in" in format_call(call(status=None, error="timeout"), [])
    decoded = call(error="ResponseValidationError")
    assert "-> 200 (ResponseValidationError) in" in format_call(decoded, [])
    assert "-> cancelled in" in format_call(call(status=None, cancelled=True), [])


async def test_trace_prints_each_call_with_its_retries(godeploy, fake_godeploy: FakeGoDeploy):
    order_id = fake_godeploy.order_ids()[0]
    fake_godeploy.faults.script("getOrder", [Fault.status(503)])
    result = await godeploy("orders", "get", str(order_id), "--json", "--trace")
    assert result.exit_code == 0, result.stderr
    traces = [line for line in result.stderr.splitlines() if line.startswith("trace: ")]
    assert len(traces) == 1
    assert traces[0].startswith(f"trace: getOrder GET /api/v2/orders/{order_id} -> 200 in ")
    assert "; 2 attempts (retried: 503); backoff " in traces[0]
    assert result.json_lines()[0]["id"] == order_id


async def test_without_trace_there_are_no_trace_lines(godeploy, fake_godeploy: FakeGoDeploy):
    result = await godeploy("orders", "get", str(fake_godeploy.order_ids()[0]), "--json")
    assert result.exit_code == 0
    assert "trace:" not in result.stderr
