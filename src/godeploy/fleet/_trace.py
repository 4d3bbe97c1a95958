"""The fleet's telemetry: a worker's chunk continues the trace its run was submitted in."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from godeploy._otel import OtelObserver

if TYPE_CHECKING:
    from godeploy._client import GoDeployClient

__all__ = ["chunk_span"]


def chunk_span(
    client: GoDeployClient, run_id: str, chunk: int, carrier: dict[str, str] | None
) -> contextlib.AbstractContextManager[None]:
    """The span of one chunk: `godeploy fleet_chunk`, a CONSUMER span under `carrier`.

    `carrier` is the submitter's trace context; the span is current while the chunk runs, so
    that the chunk's calls are its children. Without a tracer it is nothing.
    """
    telemetry = client._core.telemetry
    otel = None if telemetry is None else telemetry.find(OtelObserver)
    if otel is None:
        return contextlib.nullcontext()
    return otel.continue_trace(
        "godeploy fleet_chunk",
        carrier,
        {"godeploy.fleet.run": run_id, "godeploy.fleet.chunk": chunk},
    )
