"""The typer application: commands, options and their help (the work is in `_commands`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from godeploy import GoDeployClient, __version__
from godeploy._environment import BASE_URL_VARIABLE, BUSINESS_UNIT_VARIABLE, TOKEN_VARIABLE
from godeploy.cli import _commands as commands
from godeploy.cli._command import JSON_LINES, JsonLines, api_command
from godeploy.cli._connection import with_group_options
from godeploy.cli._fleet import fan_out_on_fleet, fleet_app
from godeploy.cli._order_file import read_order_file
from godeploy.cli._render import STDOUT, Output

__all__ = ["app"]

# One line per paragraph: the help formatter wraps them to the terminal.
_HELP = (
    "The go deploy Order API from a shell.\n\n"
    f"Connect with {TOKEN_VARIABLE} and {BUSINESS_UNIT_VARIABLE} ({BASE_URL_VARIABLE} for "
    "another API than the default), or --token, --business-unit-id and --base-url (before or "
    "after the command's name). --fake uses an embedded fake server with made-up data instead; "
    "fake-server serves one on its own.\n\n"
    "Exit codes: 0 success; 1 the API or the network failed; 2 the input was refused (usage, "
    "missing connection options, an invalid order file, a validation error); 130 interrupted; "
    "141 the reader of stdout went away (| head), quietly, as SIGPIPE would."
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

# Numbers that reach the SDK are checked by the SDK alone (one way to check an option): its
# RequestValidationError comes back as a usage error that names the flag or the argument.
Limit = Annotated[
    int | None,
    typer.Option("--limit", help="Stop after this many items.", rich_help_panel=_OUTPUT),
]
PageSize = Annotated[
    int,
    typer.Option("--page-size", help="Items per request.", rich_help_panel=_OUTPUT),
]
Concurrency = Annotated[int, typer.Option("--concurrency", "-c", help="Orders fetched at once.")]
OrderId = Annotated[
    int, typer.Argument(metavar="ORDER_ID", help="The order's id.", show_default=False)
]
ProductId = Annotated[
    str,
    typer.Argument(metavar="PRODUCT_ID", help="The product's id (a UUID).", show_default=False),
]


def _show_version(value: bool) -> None:
    """`--version`: print the SDK's version and stop."""
    if value:
        STDOUT.print(f"godeploy {__version__}")
        raise typer.Exit


@app.callback()
@with_group_options({JSON_LINES: (JsonLines, False)})
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
@api_command
async def products_list(
    client: GoDeployClient, output: Output, limit: Limit = None, page_size: PageSize = 100
) -> None:
    """List the products."""
    await commands.list_products(client, output, limit=limit, page_size=page_size)


@products_app.command("get")
@api_command
async def products_get(client: GoDeployClient, output: Output, product_id: ProductId) -> None:
    """Show one product."""
    await commands.get_product(client, output, product_id)


@feature_sets_app.command("list")
@api_command
async def feature_sets_list(
    client: GoDeployClient,
    output: Output,
    product_id: ProductId,
    limit: Limit = None,
    page_size: PageSize = 100,
) -> None:
    """List the feature sets of a product, with their prices."""
    await commands.list_feature_sets(client, output, product_id, limit=limit, page_size=page_size)


@feature_sets_app.command("get")
@api_command
async def feature_sets_get(
    client: GoDeployClient,
    output: Output,
    product_id: ProductId,
    feature_set_id: Annotated[
        str,
        typer.Argument(
            metavar="FEATURE_SET_ID", help="The feature set's id (a UUID).", show_default=False
        ),
    ],
) -> None:
    """Show one feature set of a product."""
    await commands.get_feature_set(client, output, product_id, feature_set_id)


@orders_app.command("list")
@api_command
async def orders_list(
    client: GoDeployClient,
    output: Output,
    limit: Limit = None,
    page_size: PageSize = 100,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Pages fetched at once.")
    ] = 1,
) -> None:
    """List the orders (oldest first)."""
    await commands.list_orders(
        client, output, limit=limit, page_size=page_size, concurrency=concurrency
    )


@orders_app.command("get")
@api_command
async def orders_get(client: GoDeployClient, output: Output, order_id: OrderId) -> None:
    """Show one order."""
    await commands.get_order(client, output, order_id)


@orders_app.command("create")
@api_command
async def orders_create(
    client: GoDeployClient,
    output: Output,
    order: Annotated[
        dict[str, Any],
        typer.Option(
            "--file",
            "-f",
            # Read while the command line is parsed: a bad file costs no request (nor a fake).
            parser=read_order_file,
            metavar="PATH",
            help="The API's JSON create body (purchaseOrderReference, emailKeys, "
            "contactEmail, orderItems[featureSetId, quantity, ...]).",
            show_default=False,
        ),
    ],
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
    await commands.create_order(client, output, order, once=once)


@order_items_app.command("list")
@api_command
async def order_items_list(
    client: GoDeployClient,
    output: Output,
    order_id: OrderId,
    limit: Limit = None,
    page_size: PageSize = 100,
) -> None:
    """List the items of one order."""
    await commands.list_order_items(client, output, order_id, limit=limit, page_size=page_size)


@order_items_app.command("fan-out")
@api_command
async def order_items_fan_out(
    client: GoDeployClient,
    output: Output,
    context: typer.Context,
    order_ids: Annotated[
        list[int] | None,
        typer.Argument(metavar="ORDER_ID...", help="The orders (or --all).", show_default=False),
    ] = None,
    all_orders: Annotated[
        bool, typer.Option("--all", help="Every order, streamed from the order listing.")
    ] = False,
    concurrency: Concurrency = 16,
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
    if fleet is not None:
        await fan_out_on_fleet(
            client,
            output,
            order_ids or [],
            all_orders=all_orders,
            redis_url=fleet,
            chunk_size=chunk_size,
        )
        return
    await commands.fan_out_order_items(
        client, output, order_ids or [], all_orders=all_orders, concurrency=concurrency
    )


# The options are those of `python -m godeploy.testing`, defined there once: every word after
# `fake-server` goes to that runner, `--help` included.
@app.command(
    "fake-server",
    add_help_option=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def fake_server(context: typer.Context) -> None:
    """Serve the fake go deploy API on 127.0.0.1 until Ctrl-C (see fake-server --help).

    It prints its URL, token and business unit, or with --export the `export GODEPLOY_...=`
    lines a shell can source.
    """
    from godeploy.testing.__main__ import main as run_fake_server

    raise typer.Exit(run_fake_server(context.args, prog="godeploy fake-server"))
