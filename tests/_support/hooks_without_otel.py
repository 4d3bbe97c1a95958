"""Run as a script: GoDeployClient's hooks against FakeGoDeploy with OpenTelemetry unimportable.

`sys.modules["opentelemetry"] = None` makes every `import opentelemetry...` raise ImportError,
as in an environment where `godeploy[otel]` was never installed. Prints what happened as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from typing import Any

sys.modules["opentelemetry"] = None  # type: ignore[assignment]

import attrs  # noqa: E402

from godeploy import GoDeployClient, Hooks, RequestValidationError, RetryPolicy  # noqa: E402
from godeploy._otel import otel_available  # noqa: E402
from godeploy.testing import FakeGoDeploy, Fault  # noqa: E402

FAST_RETRIES = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_cap=0.01)
TIMING = {"elapsed", "delay", "backoff", "waited"}
# Read-only multidicts, not JSON; test_hooks.py checks them in process.
SKIPPED = {*TIMING, "headers"}


def recording_hooks(events: list[list[Any]], *, broken: bool = False) -> Hooks:
    def note(kind: str):
        def hook(event: Any) -> None:
            fields = {k: v for k, v in attrs.asdict(event).items() if k not in SKIPPED}
            events.append([kind, fields])
            if broken:
                raise RuntimeError("a bug in the hook")

        return hook

    return Hooks(
        on_request=note("request"),
        on_response=note("response"),
        on_retry=note("retry"),
        on_rate_limit=note("rate_limit"),
        on_progress=note("progress"),
        on_call=note("call"),
    )


def client(fake: FakeGoDeploy, hooks: Hooks) -> GoDeployClient:
    return GoDeployClient(
        fake.token, fake.business_unit_id, base_url=fake.url, retry_policy=FAST_RETRIES, hooks=hooks
    )


async def retried_call(fake: FakeGoDeploy, hooks: Hooks) -> int:
    fake.faults.script("getOrder", [Fault.status(503)])
    async with client(fake, hooks) as godeploy:
        order = await godeploy.orders.get(fake.order_ids()[0])
    return order.id


async def cancelled_call(fake: FakeGoDeploy, hooks: Hooks) -> None:
    fake.reset_log()
    rule = fake.faults.add(Fault.stall(30), route="getOrder")
    async with client(fake, hooks) as godeploy:
        call = asyncio.ensure_future(godeploy.orders.get(fake.order_ids()[0]))
        while not fake.count("getOrder"):
            await asyncio.sleep(0.01)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
    fake.faults.remove(rule)


async def fan_out(fake: FakeGoDeploy, hooks: Hooks) -> list[bool]:
    orders = [*fake.order_ids()[:3], 999_999_999]
    async with (
        client(fake, hooks) as godeploy,
        godeploy.order_items.for_orders(orders, concurrency=1, ordered=True) as results,
    ):
        return [result.ok async for result in results]


async def scenarios() -> dict[str, Any]:
    result: dict[str, Any] = {"otel_available": otel_available()}
    async with FakeGoDeploy(seed=7) as fake:
        try:
            GoDeployClient(fake.token, tracer_provider=object())  # type: ignore[arg-type]
        except RequestValidationError as error:
            result["provider_without_otel"] = str(error)
        events: list[list[Any]] = []
        result["order_id"] = await retried_call(fake, recording_hooks(events))
        result["expected_order_id"] = fake.order_ids()[0]
        result["retried"] = events
        events = []
        result["broken_order_id"] = await retried_call(fake, recording_hooks(events, broken=True))
        result["broken"] = events
        events = []
        await cancelled_call(fake, recording_hooks(events))
        result["cancelled"] = events
        events = []
        result["fan_out_ok"] = await fan_out(fake, recording_hooks(events))
        result["fan_out"] = [fields for kind, fields in events if kind == "progress"]
    result["opentelemetry_imported"] = sorted(
        name for name, module in sys.modules.items() if name.startswith("opentelemetry") and module
    )
    return result


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    print(json.dumps(asyncio.run(scenarios())))


if __name__ == "__main__":
    main()
