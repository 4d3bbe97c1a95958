"""What the commands print: rich tables, JSON lines with exact decimals, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from attrs import define
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from godeploy import FeatureSet, Order, OrderItem, Price, Product, dumps, unstructure

__all__ = [
    "FEATURE_SET_VIEW",
    "ORDER_ITEM_VIEW",
    "ORDER_VIEW",
    "PRODUCT_VIEW",
    "STDERR",
    "STDOUT",
    "Column",
    "ItemSink",
    "Output",
    "TableView",
    "format_prices",
]

T = TypeVar("T")


class _Progress(Progress):
    """A progress display that, disabled, prints nothing when it stops either."""

    def stop(self) -> None:
        # rich before 14.3 prints an empty line when a disabled display stops off a terminal:
        # a stray line on a piped stderr (rich now skips it the same way).
        if not self.disable:
            super().stop()


class _Console(Console):
    """A console whose closed pipe is the command's to handle (`_errors`: exit 141, quietly)."""

    def on_broken_pipe(self) -> None:
        # rich's own handling exits with 1, which says the API failed.
        self.quiet = True
        raise BrokenPipeError


def _console(*, stderr: bool) -> Console:
    """A console that prints text as it is: API data such as `[b]PO-1` is not rich markup."""
    return _Console(stderr=stderr, highlight=False, markup=False, emoji=False)


STDOUT = _console(stderr=False)
"""Results: tables, and JSON lines."""
STDERR = _console(stderr=True)
"""Notes, warnings, progress bars and the final `error:` line."""


@define(frozen=True)
class Column(Generic[T]):
    """One column of a table: its header and how to read a cell from an item."""

    header: str
    cell: Callable[[T], str]
    justify: Literal["left", "right"] = "left"
    # Ids must stay whole and on one line so they can be copied into the next command.
    no_wrap: bool = False


@define(frozen=True)
class TableView(Generic[T]):
    """How a kind of item is shown as a table."""

    title: str
    columns: Sequence[Column[T]]

    def table(self, items: Sequence[T]) -> Table:
        """Build the table of `items`."""
        table = Table(title=f"{self.title} ({len(items)})", title_justify="left")
        for column in self.columns:
            table.add_column(column.header, justify=column.justify, no_wrap=column.no_wrap)
        for item in items:
            table.add_row(*(column.cell(item) for column in self.columns))
        return table


def format_prices(prices: Sequence[Price]) -> str:
    """`GBP 48.0000, EUR 55.00`: each value exactly as the API sent it."""
    return ", ".join(f"{price.currency} {price.value}" for price in prices) or "-"


PRODUCT_VIEW: TableView[Product] = TableView(
    "Products",
    [
        Column("id", lambda product: str(product.id), no_wrap=True),
        Column("code", lambda product: product.code, no_wrap=True),
        Column("name", lambda product: product.name),
        Column("courses", lambda product: str(len(product.course_ids)), justify="right"),
    ],
)

FEATURE_SET_VIEW: TableView[FeatureSet] = TableView(
    "Feature sets",
    [
        Column("id", lambda feature_set: str(feature_set.id), no_wrap=True),
        Column("name", lambda feature_set: feature_set.name),
        Column(
            "access days",
            lambda feature_set: str(feature_set.course_access_period_days),
            justify="right",
        ),
        Column(
            "save days",
            lambda feature_set: str(feature_set.module_save_period_days),
            justify="right",
        ),
        Column("prices", lambda feature_set: format_prices(feature_set.prices)),
    ],
)

ORDER_VIEW: TableView[Order] = TableView(
    "Orders",
    [
        Column("id", lambda order: str(order.id), justify="right", no_wrap=True),
        Column("reference", lambda order: order.purchasing_order_reference),
        Column("status", lambda order: str(order.order_status)),
        Column("created (UTC)", lambda order: f"{order.created:%Y-%m-%d %H:%M}", no_wrap=True),
        Column("contact", lambda order: order.contact_email or "-"),
    ],
)

ORDER_ITEM_VIEW: TableView[OrderItem] = TableView(
    "Order items",
    [
        Column("order", lambda item: str(item.order_id), justify="right", no_wrap=True),
        Column("id", lambda item: str(item.id), justify="right", no_wrap=True),
        Column("feature set", lambda item: str(item.feature_set_id), no_wrap=True),
        Column("qty", lambda item: str(item.quantity), justify="right"),
        Column("description", lambda item: item.description),
    ],
)


class ItemSink(Generic[T]):
    """Takes the items of a listing one by one: a JSON line each, or one table at the end."""

    def __init__(self, output: Output, view: TableView[T]) -> None:
        self._output = output
        self._view = view
        self._rows: list[T] = []

    def add(self, item: T) -> None:
        """Print the item's JSON line now, or keep it for the table."""
        if self._output.json_lines:
            self._output.write_json(item)
        else:
            self._rows.append(item)

    def finish(self) -> None:
        """Print the table (in table mode)."""
        if not self._output.json_lines:
            self._output.stdout.print(self._view.table(self._rows))


class Output:
    """Where a command writes: results to stdout, notes and progress to stderr.

    Args:
        json_lines: one JSON object per line on stdout instead of tables.
    """

    def __init__(self, *, json_lines: bool) -> None:
        self.json_lines = json_lines
        self.stdout = STDOUT
        self.stderr = STDERR

    def notice(self, text: str) -> None:
        """A note for the user, on stderr so that stdout stays machine-readable; never wrapped."""
        self.stderr.print(text, soft_wrap=True)

    def write_json(self, model: Any) -> None:
        """One model as one JSON line, with the API's camelCase keys."""
        # Straight to the console's file: a JSON line is written as it is, never rendered
        # (rendering would cost ~100 us a line, and a fan-out prints tens of thousands).
        self.stdout.file.write(dumps(model) + "\n")

    def items(self, view: TableView[T]) -> ItemSink[T]:
        """A sink for the items of a listing."""
        return ItemSink(self, view)

    def show_one(self, model: Any, title: str) -> None:
        """One model: a JSON line, or a two-column table of its fields."""
        if self.json_lines:
            self.write_json(model)
            return
        table = Table("field", "value", title=title, title_justify="left")
        for key, value in unstructure(model).items():
            table.add_row(key, value if isinstance(value, str) else dumps(value))
        self.stdout.print(table)

    def progress(self, *, transient: bool) -> Progress:
        """A progress bar on stderr when it is a terminal; a transient one disappears once done.

        Elsewhere (a pipe, a log file, a test) it draws nothing at all, so stderr keeps only
        the lines worth reading.
        """
        return _Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.stderr,
            transient=transient,
            # Lines printed to a terminal stdout meanwhile go above the bar, not through it.
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=False,
            disable=not self.stderr.is_terminal,
        )
