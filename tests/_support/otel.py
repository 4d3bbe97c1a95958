"""The OpenTelemetry SDK in memory: a tracer and a meter provider whose output tests can read."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from packaging.version import Version

from godeploy._generated.operations import GET_ORDER, LIST_ORDERS

__all__ = ["GET_ORDER", "LIST_ORDERS", "Recorder", "needs_http_suppression", "total"]

needs_http_suppression = pytest.mark.skipif(
    Version(version("opentelemetry-instrumentation-aiohttp-client")) < Version("0.60b0"),
    reason="the aiohttp instrumentation honours suppress_http_instrumentation() from 0.60b0 on",
)
"""For tests of godeploy beside the aiohttp auto-instrumentation: older releases of it count
every request, whatever the context says (it is the application's dependency, not godeploy's)."""


class Recorder:
    """A tracer provider and a meter provider recording in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def spans(self, kind: SpanKind | None = None) -> list[ReadableSpan]:
        """The finished spans, oldest first (of one kind if given)."""
        spans = list(self.exporter.get_finished_spans())
        return [span for span in spans if kind is None or span.kind is kind]

    def metrics(self) -> dict[str, list[Any]]:
        """Every metric's data points by name, as of now (cumulative)."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found

    def scopes(self) -> dict[str, list[str]]:
        """The metric names of each instrumentation scope that reported any."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[str]] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                found.setdefault(scope.scope.name, []).extend(m.name for m in scope.metrics)
        return found


def total(metrics: dict[str, list[Any]], name: str, **attributes: Any) -> float:
    """The sum of a counter's points (or a histogram's counts) whose attributes match."""
    found = 0.0
    for point in metrics.get(name, []):
        if all(point.attributes.get(key) == value for key, value in attributes.items()):
            found += point.count if hasattr(point, "count") else point.value
    return found
