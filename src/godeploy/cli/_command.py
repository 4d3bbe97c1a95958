"""`@api_command`: what every API command shares, stated once: output, client and event loop.

An API command is a coroutine over an open client and an `Output`; the decorator adds the
connection options and `--json`, opens the client (on the API, or on an embedded fake with
`--fake`), runs the event loop and turns every expected failure into one `error:` line:

    @orders_app.command("list")
    @api_command
    async def orders_list(client: GoDeployClient, output: Output, limit: Limit = None) -> None:
        ...
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Concatenate, ParamSpec

import typer

from godeploy import GoDeployClient, RequestValidationError
from godeploy.cli._connection import ConnectionSettings, from_group, open_client, with_connection
from godeploy.cli._errors import run_async
from godeploy.cli._render import Output

__all__ = ["JSON_LINES", "JsonLines", "api_command"]

P = ParamSpec("P")

JSON_LINES = "json_lines"
"""The keyword of `--json`, on the group (`godeploy --json orders list`) and on each command."""

JsonLines = Annotated[
    bool,
    typer.Option(
        "--json",
        help="One JSON object per line (the API's keys) instead of a table.",
        rich_help_panel="Output",
    ),
]


# The SDK's name of each option a command passes on (its keyword, or the API's JSON name),
# and the command's parameter that gave it, when the two differ.
_PARAMETER_OF = {"max_items": "limit", "orderId": "order_id", "productId": "product_id"}
_PARAMETER_OF |= {"featureSetId": "feature_set_id"}


def _usage_error(
    error: RequestValidationError, context: typer.Context
) -> typer.BadParameter | None:
    """The SDK's refusal of a value from the command line, naming it as the user wrote it.

    The check is the SDK's (one way to check an option); the message keeps its words and
    adds the flag or the argument's metavar (`'--page-size'`, `'ORDER_ID'`), as click's own
    usage errors do. None when the refused option did not come from the command line.
    """
    parameters: dict[str | None, Any] = {p.name: p for p in context.command.params}
    for name in (*error.errors, str(error).partition(" ")[0]):
        wanted = _PARAMETER_OF.get(name, name)
        parameter = parameters.get(wanted) or parameters.get(f"{wanted}s")
        if parameter is not None:
            return typer.BadParameter(str(error), ctx=context, param=parameter)
    return None


def api_command(
    command: Callable[Concatenate[GoDeployClient, Output, P], Awaitable[None]],
) -> Callable[P, None]:
    """Make a typer command of a coroutine that takes an open client and an `Output` first.

    The command gets the connection options (`with_connection`) and `--json`, each also
    accepted on the group; its own parameters keep their typer annotations.
    """
    signature = inspect.signature(command, eval_str=True)
    own = list(signature.parameters.values())[2:]
    added = inspect.Parameter(
        JSON_LINES, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonLines
    )
    connection = inspect.Parameter(
        "connection", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ConnectionSettings
    )
    context_name = "api_command_context"
    context = inspect.Parameter(
        context_name, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context
    )
    parameters = [connection, *own, added, context]

    def run(connection: ConnectionSettings, **arguments: Any) -> None:
        click_context = arguments.pop(context_name)
        json_lines = arguments.pop(JSON_LINES) or bool(from_group(click_context, JSON_LINES))
        output = Output(json_lines=json_lines)

        async def main() -> None:
            async with open_client(connection, output.notice) as client:
                try:
                    await command(client, output, **arguments)  # type: ignore[call-arg]
                except RequestValidationError as error:
                    usage = _usage_error(error, click_context)
                    if usage is None:
                        raise
                    raise usage from None

        run_async(main)

    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    run.__module__ = command.__module__
    # typer reads a command's options from its signature and its annotations.
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return with_connection(run)  # type: ignore[arg-type]
