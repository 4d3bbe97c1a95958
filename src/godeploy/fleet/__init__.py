"""The fleet: fan-out of order items across worker processes and machines, on arq and Redis.

Its limits (rate cap, 429 pause, retry budget) are shared by every client through Redis.

`FleetLimits` needs only redis-py (5 to 8): `pip install 'godeploy[redis]'`. The job fleet
(`Fleet`, `FleetWorker`) runs on arq: `pip install 'godeploy[fleet]'` (arq and redis-py 5).
Importing `FleetLimits` never imports arq: the job fleet's names load when first used.

    from godeploy.fleet import Fleet, FleetLimits

    async with Fleet("redis://localhost:6379/0") as fleet:
        run = await fleet.submit(order_ids, chunk_size=100)
        async with fleet.results(run) as results:
            async for result in results:
                ...

Workers: `godeploy fleet worker --redis URL`, or `FleetWorker` in an arq app of your own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from godeploy.fleet._json import job_deserializer, job_serializer
from godeploy.fleet._limits import FleetLimits

if TYPE_CHECKING:
    from godeploy.fleet._fleet import Fleet, FleetReport, FleetResults, FleetRun
    from godeploy.fleet._worker import FleetWorker, ResultHook

__all__ = [
    "Fleet",
    "FleetLimits",
    "FleetReport",
    "FleetResults",
    "FleetRun",
    "FleetWorker",
    "ResultHook",
    "job_deserializer",
    "job_serializer",
]

_ON_ARQ: Final = {
    "Fleet": "godeploy.fleet._fleet",
    "FleetReport": "godeploy.fleet._fleet",
    "FleetResults": "godeploy.fleet._fleet",
    "FleetRun": "godeploy.fleet._fleet",
    "FleetWorker": "godeploy.fleet._worker",
    "ResultHook": "godeploy.fleet._worker",
}
"""The job fleet's names, imported on first use: they need arq, `FleetLimits` does not."""


def __getattr__(name: str) -> Any:
    module = _ON_ARQ.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.partition(".")[0] != "arq":
            raise
        raise ModuleNotFoundError(
            f"godeploy.fleet.{name} runs on arq: pip install 'godeploy[fleet]'", name="arq"
        ) from error
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
