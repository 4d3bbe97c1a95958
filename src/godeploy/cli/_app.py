"""The typer application: commands, options and their help (the work is in `_commands`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from godeploy import __version__
from godeploy._environment import BASE_URL_VARIABLE, BUSINESS_UNIT_VARIABLE, TOKEN_VARIABLE
from godeploy.cli import _commands as commands
from godeploy.cli._connection import ConnectionSettings, with_connection
from godeploy.cli._errors import run_async
from godeploy.cli._fleet import fan_out_on_fleet, fleet_app
from godeploy.cli._render import STDOUT, Output

__all__ = ["app"]

# One line per paragraph: the help formatter wraps them to the terminal.
_HELP = (
    "The go deploy Order API from a shell.\n\n"
    f"Connect with {TOKEN_VARIABLE} and {BUSINESS_UNIT_VARIABLE} ({BASE_URL_VARIABLE} for "
    "another API than the default), or --token, --business-unit-id and --base-url after the "
    "command's name. --fake uses an embedded fake server with made-up data instead; demo and "
    "fake-server always do.\n\n"
    "Exit codes: 0 success; 1 the API or the network failed; 2 the input was refused (usage, "
    "missing connection options, an invalid order file, a validation error); 130 interrupted."
)

# Unexpected errors are bugs and keep their plain traceback; rich's pretty one would print
# local variables, the token among them.
app = typer.Typer(
    help=_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
products_app = typer.Typer(help="Products that can be ordered.", no_args_is_help=True)
feature_sets_app = typer.Typer(help="Feature sets (and prices) of a product.", no_args_is_help=True)
orders_app = typer.Typer(help="Orders: list, get, create.", no_args_is_help=True)
order_items_app = typer.Typer(help="The items of orders.", no_args_is_help=True)
app.add_typer(products_app, name="products")
app.add_typer(feature_sets_app, name="feature-sets")
app.add_typer(orders_app, name="orders")
app.add_typer(order_items_app, name="order-items")
app.add_typer(fleet_app, name="fleet")

_OUTPUT = "Output"

JsonLines = Annotated[
    bool,
    typer.Option(
        "--json",
        help="One JSON object per line (the API's keys) instead of a table.",
        rich_help_panel=_OUTPUT,
    ),
]
Limit = Annotated[
    int | None,
    typer.Option("--limit", min=1, help="Stop after this many items.", rich_help_panel=_OUTPUT),
]
PageSize = Annotated[
    int,
    typer.Option("--page-size", min=1, help="Items per request.", rich_help_panel=_OUTPUT),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, help="Orders fetched at once.")
]
OrderId = Annotated[int, typer.Argument(min=1, help="The order's id.", show_default=False)]
ProductId = Annotated[str, typer.Argument(help="The product's id (a UUID).", show_default=False)]


def _show_version(value: bool) -> None:
    """`--version`: print the SDK's version and stop."""
    if value:
        STDOUT.print(f"godeploy {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """The go deploy Order API from a shell."""


@products_app.command("list")
@with_connection
def products_list(
    connection: ConnectionSettings,
    limit: Limit = None,
    page_size: PageSize = 100,
    json_lines: JsonLines = False,
) -> None:
    """List the products."""
    output = Output(json_lines=json_lines)
    run_async(lambda: commands.list_products(connection, output, limit=limit, page_size=page_size))


@products_app.command("get")
@with_connection
def products_get(
    connection: ConnectionSettings,
    product_id: ProductId,
    json_lines: JsonLines = False,
) -> None:
    """Show one product."""
    output = Output(json_lines=json_lines)
    run_async(lambda: commands.get_product(connection, output, product_id))


@feature_sets_app.command("list")
@with_connection
def feature_sets_list(
    connection: ConnectionSettings,
    product_id: ProductId,
    limit: Limit = None,
    page_size: PageSize = 100,
    json_lines: JsonLines = False,
) -> None:
    """List the feature sets of a product, with their prices."""
    output = Output(json_lines=json_lines)
    run_async(
        lambda: commands.list_feature_sets(
            connection, output, product_id, limit=limit, page_size=page_size
        )
    )


@feature_sets_app.command("get")
@with_connection
def feature_sets_get(
    connection: ConnectionSettings,
    product_id: ProductId,
    feature_set_id: Annotated[
        str, typer.Argument(help="The feature set's id (a UUID).", show_default=False)
    ],
    json_lines: JsonLines = False,
) -> None:
    """Show one feature set of a product."""
    output = Output(json_lines=json_lines)
    run_async(lambda: commands.get_feature_set(connection, output, product_id, feature_set_id))


@orders_app.command("list")
@with_connection
def orders_list(
    connection: ConnectionSettings,
    limit: Limit = None,
    page_size: PageSize = 100,
    json_lines: JsonLines = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Pages fetched at once.")
    ] = 1,
) -> None:
    """List the orders (oldest first)."""
    output = Output(json_lines=json_lines)
    run_async(
        lambda: commands.list_orders(
            connection, output, limit=limit, page_size=page_size, concurrency=concurrency
        )
    )


@orders_app.command("get")
@with_connection
def orders_get(
    connection: ConnectionSettings,
    order_id: OrderId,
    json_lines: JsonLines = False,
) -> None:
    """Show one order."""
    output = Output(json_lines=json_lines)
    run_async(lambda: commands.get_order(connection, output, order_id))


@orders_app.command("create")
@with_connection
def orders_create(
    connection: ConnectionSettings,
    order_file: Annotated[
        Path,
        typer.Option(
            "--file",
            "-f",
            help="The API's JSON create body (purchaseOrderReference, emailKeys, "
            "contactEmail, orderItems[featureSetId, quantity, ...]).",
            show_default=False,
        ),
    ],
    json_lines: JsonLines = False,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="At most one order per purchaseOrderReference: return the order made within "
            "the last 24 h with it, else create it, searching again after an unknown outcome.",
        ),
    ] = False,
) -> None:
    """Create an order from a JSON file (it is sent once: a create is never retried blindly)."""
    output = Output(json_lines=json_lines)
    run_async(lambda: commands.create_order(connection, output, order_file, once=once))


@order_items_app.command("list")
@with_connection
def order_items_list(
    connection: ConnectionSettings,
    order_id: OrderId,
    limit: Limit = None,
    page_size: PageSize = 100,
    json_lines: JsonLines = False,
) -> None:
    """List the items of one order."""
    output = Output(json_lines=json_lines)
    run_async(
        lambda: commands.list_order_items(
            connection, output, order_id, limit=limit, page_size=page_size
        )
    )


@order_items_app.command("fan-out")
@with_connection
def order_items_fan_out(
    connection: ConnectionSettings,
    context: typer.Context,
    order_ids: Annotated[
        list[int] | None,
        typer.Argument(min=1, help="The orders (or --all).", show_default=False),
    ] = None,
    all_orders: Annotated[
        bool, typer.Option("--all", help="Every order, streamed from the order listing.")
    ] = False,
    concurrency: Concurrency = 16,
    json_lines: JsonLines = False,
    fleet: Annotated[
        str | None,
        typer.Option("--fleet", help="Run on fleet workers: the Redis URL.", show_default=False),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Orders per fleet job (with --fleet).")
    ] = 100,
) -> None:
    """Fetch the items of many orders at once, with a progress bar on stderr."""
    if bool(order_ids) == all_orders:
        context.fail("give either ORDER_ID... or --all")
    output = Output(json_lines=json_lines)
    if fleet is not None:
        ids, every = order_ids or [], all_orders
        run_async(
            lambda: fan_out_on_fleet(
                connection, output, ids, all_orders=every, redis_url=fleet, chunk_size=chunk_size
            )
        )
        return
    run_async(
        lambda: commands.fan_out_order_items(
            connection, output, order_ids or [], all_orders=all_orders, concurrency=concurrency
        )
    )


@app.command("demo")
def demo(
    concurrency: Concurrency = 32,
    sample_size: Annotated[
        int,
        typer.Option("--sample", min=1, help="Orders fetched one at a time for the comparison."),
    ] = 40,
) -> None:
    """The end-to-end demo against an embedded fake with latency and injected faults."""
    from godeploy.cli._demo import run_demo  # only the demo needs it

    output = Output(json_lines=False)
    run_async(lambda: run_demo(output, concurrency=concurrency, sample_size=sample_size))


@app.command("fake-server")
def fake_server(
    port: Annotated[int, typer.Option("--port", "-p", min=0, help="0 picks a free port.")] = 8080,
    seed: Annotated[int, typer.Option("--seed", help="Makes the data repeatable.")] = 7,
    orders: Annotated[int, typer.Option("--orders", min=0, help="Stored orders.")] = 4150,
    products: Annotated[int, typer.Option("--products", min=1, help="Products.")] = 287,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="Added to every answer.")
    ] = 0.0,
) -> None:
    """Serve the fake go deploy API on 127.0.0.1 until Ctrl-C (prints its URL, token, unit)."""
    # The standalone runner of `python -m godeploy.testing`, so that both behave the same.
    from godeploy.testing.__main__ import main as run_fake_server

    argv = [f"--port={port}", f"--seed={seed}", f"--orders={orders}", f"--products={products}"]
    raise typer.Exit(run_fake_server([*argv, f"--latency-ms={latency_ms}"]))
