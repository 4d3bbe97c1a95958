"""The fleet: fan-out of order items across worker processes and machines, on arq and Redis.

Its limits (rate cap, 429 pause, retry budget) are shared by every client through Redis.

Needs the `fleet` extra: `pip install 'godeploy[fleet]'` (arq and redis-py 5).

    from godeploy.fleet import Fleet, FleetLimits

    async with Fleet("redis://localhost:6379/0") as fleet:
        run = await fleet.submit(order_ids, chunk_size=100)
        async for result in fleet.results(run):
            ...

Workers: `godeploy fleet worker --redis URL`, or `FleetWorker` in an arq app of your own.
"""

from godeploy.fleet._fleet import Fleet, FleetReport, FleetRun
from godeploy.fleet._json import job_deserializer, job_serializer
from godeploy.fleet._limits import FleetLimits
from godeploy.fleet._worker import FleetWorker, ResultHook

__all__ = [
    "Fleet",
    "FleetLimits",
    "FleetReport",
    "FleetRun",
    "FleetWorker",
    "ResultHook",
    "job_deserializer",
    "job_serializer",
]
