"""The CLI's streams are closed when their consumer stops early, before it moves on.

Each stream reads an iterator whose cleanup awaits (as a pager's or `Fleet.results()`'s may);
the consumer raises mid-stream (here: stdout's reader went away), and the cleanup must have run
by the time the error reaches the caller, not later from asyncio's finaliser.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from godeploy import GoDeployClient
from godeploy.cli._commands import closing, fan_out_order_items, print_listing, stream_all_orders
from godeploy.cli._fleet import with_reports
from godeploy.cli._render import ORDER_VIEW, Output
from godeploy.testing import FakeGoDeploy


class _ClosedPipe(io.StringIO):
    """stdout whose reader went away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError


def _output_to_a_closed_pipe() -> Output:
    output = Output(json_lines=True)
    output.stdout = Console(file=_ClosedPipe())
    return output


class _Pager:
    """A stand-in pager: three pages of `items`, whose cleanup awaits before it is done."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items
        self.cleaned_up = False

    async def _pages(self) -> AsyncIterator[Any]:
        try:
            for start in range(0, len(self._items), 2):
                yield SimpleNamespace(
                    items=self._items[start : start + 2],
                    has_next=start + 2 < len(self._items),
                    page_info=SimpleNamespace(total_item_count=len(self._items)),
                )
        finally:
            await asyncio.sleep(0)
            self.cleaned_up = True

    def pages(self) -> AsyncIterator[Any]:
        return self._pages()


async def _consume_and_fail(stream: AsyncIterator[Any]) -> None:
    """A consumer as the CLI's: the stream under `closing()`, failing at its first item."""
    async with closing(stream) as items:
        async for _ in items:
            raise RuntimeError("the consumer fails")


async def test_a_listing_closes_its_pages_when_printing_fails():
    pager = _Pager([1, 2, 3, 4, 5, 6])

    with pytest.raises(BrokenPipeError):
        await print_listing(_output_to_a_closed_pipe(), pager, ORDER_VIEW, limit=None)  # type: ignore[arg-type]

    assert pager.cleaned_up


async def test_every_order_stream_closes_its_pages_when_closed():
    pager = _Pager([1, 2, 3, 4])
    client = SimpleNamespace(orders=SimpleNamespace(list=lambda page_size: pager))
    totals: list[int] = []

    with pytest.raises(RuntimeError):
        await _consume_and_fail(stream_all_orders(client, total_known=totals.append))  # type: ignore[arg-type]

    assert pager.cleaned_up
    assert totals == [4]


async def test_fan_out_over_every_order_closes_the_order_stream_when_printing_fails(
    godeploy_client: GoDeployClient, fake_godeploy: FakeGoDeploy, monkeypatch: pytest.MonkeyPatch
):
    pager = _Pager(fake_godeploy.order_ids()[:6])
    monkeypatch.setattr(godeploy_client.orders, "list", lambda page_size: pager)

    with pytest.raises(BrokenPipeError):
        await fan_out_order_items(
            godeploy_client, _output_to_a_closed_pipe(), [], all_orders=True, concurrency=2
        )

    assert pager.cleaned_up


async def test_fleet_results_with_reports_close_the_results_when_closed():
    class Fleet:
        cleaned_up = False

        async def results(self, run_id: str) -> AsyncIterator[int]:
            try:
                for number in range(5):
                    yield number
            finally:
                await asyncio.sleep(0)  # e.g. an ack to Redis
                Fleet.cleaned_up = True

        async def report(self, run_id: str) -> None:
            return None

    with pytest.raises(RuntimeError):
        await _consume_and_fail(with_reports(Fleet(), "run", lambda report: None))  # type: ignore[arg-type]

    assert Fleet.cleaned_up
