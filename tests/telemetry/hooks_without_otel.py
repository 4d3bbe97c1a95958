"""Run as a script: hooks with OpenTelemetry made unimportable; prints what happened as JSON.

`sys.modules["opentelemetry"] = None` makes every `import opentelemetry...` raise ImportError,
as in an environment where `godeploy[otel]` was never installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys

sys.modules["opentelemetry"] = None  # type: ignore[assignment]

import attrs  # noqa: E402
from yarl import URL  # noqa: E402

from godeploy import RequestValidationError, ServiceUnavailableError  # noqa: E402
from godeploy._hooks import Hooks  # noqa: E402
from godeploy._telemetry import Telemetry, otel_available  # noqa: E402


@attrs.define(frozen=True)
class Operation:
    id: str
    method: str
    path: str


GET_ORDER = Operation("getOrder", "GET", "/api/v2/orders/{orderId}")

URL_ = URL("https://api.example.test/api/v2/orders/7?businessUnitId=u")


def recording_hooks(events: list[list[object]], *, broken: bool = False) -> Hooks:
    def note(kind: str):
        def hook(event: object) -> None:
            events.append([kind, {k: v for k, v in vars_of(event).items() if k != "elapsed"}])
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


def vars_of(event: object) -> dict[str, object]:
    return attrs.asdict(event)  # type: ignore[arg-type]


def retried_call(hooks: Hooks) -> None:
    telemetry = Telemetry.from_options(hooks=hooks)
    assert telemetry is not None
    error = ServiceUnavailableError("503", status=503, method="GET", url=URL_)
    with telemetry.call(GET_ORDER, URL_) as call:
        with call.attempt() as attempt:
            attempt.answered(503)
        call.retry(error, delay=0.5, retry=1, max_retries=3, budget_left=495.0)
        with call.attempt() as attempt:
            attempt.answered(200)


async def cancelled_call(hooks: Hooks) -> None:
    telemetry = Telemetry.from_options(hooks=hooks)
    assert telemetry is not None

    async def stuck() -> None:
        with telemetry.call(GET_ORDER, URL_) as call, call.attempt():
            await asyncio.sleep(3600)

    task = asyncio.ensure_future(stuck())
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    result: dict[str, object] = {"otel_available": otel_available()}
    result["no_hooks"] = repr(Telemetry.from_options())
    try:
        Telemetry.from_options(tracer_provider=object())  # type: ignore[arg-type]
    except RequestValidationError as error:
        result["provider_without_otel"] = str(error)
    events: list[list[object]] = []
    retried_call(recording_hooks(events))
    result["retried"] = events
    events = []
    retried_call(recording_hooks(events, broken=True))
    result["broken"] = events
    events = []
    asyncio.run(cancelled_call(recording_hooks(events)))
    result["cancelled"] = events
    result["opentelemetry_imported"] = sorted(
        name for name, module in sys.modules.items() if name.startswith("opentelemetry") and module
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
