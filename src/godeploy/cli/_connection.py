"""Where a command sends its requests: the connection options, stated once, and its client.

Every command that talks to the API takes the same options, after its own name
(`godeploy orders list --token ...`) or before it, on the group (`godeploy --token ... orders
list`), each also read from its environment variable; a flag after the command's name wins,
then one on the group, then the variable. A command gets them with one decorator, checked, as
its first argument:

    @orders_app.command("list")
    @with_connection
    def orders_list(connection: ConnectionSettings, limit: Limit = None) -> None: ...

Without a token and a business unit the command refuses (exit code 2) and names the variables
to set: an embedded fake is used only with `--fake` (and by `fake-server`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Concatenate, ParamSpec

import typer
from attrs import define
from yarl import URL

from godeploy import DEFAULT_BASE_URL, GoDeployClient, Hooks, RequestValidationError
from godeploy._config import check_base_url
from godeploy._environment import BASE_URL_VARIABLE, BUSINESS_UNIT_VARIABLE, TOKEN_VARIABLE
from godeploy.cli._trace import TraceLines

__all__ = [
    "FAKE_SEED",
    "ConnectionSettings",
    "connection_settings",
    "from_group",
    "open_client",
    "with_connection",
    "with_group_options",
]

P = ParamSpec("P")

FAKE_SEED = 7
"""The embedded fake's seed: the same data on every run, so ids can be reused."""

_PANEL = "Connection"
_DEFAULT_URL = URL(DEFAULT_BASE_URL)

Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=TOKEN_VARIABLE,
        help="The API token (a JWT). Never printed; prefer the variable (flags show in ps).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
BusinessUnitId = Annotated[
    str | None,
    typer.Option(
        "--business-unit-id",
        envvar=BUSINESS_UNIT_VARIABLE,
        help="The business unit to work in (a UUID).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar=BASE_URL_VARIABLE,
        help=f"The API's root URL (default {DEFAULT_BASE_URL}).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
Fake = Annotated[
    bool,
    typer.Option(
        "--fake",
        help="Use an embedded fake server with made-up data, whatever else is set.",
        rich_help_panel=_PANEL,
    ),
]
AllowInsecureHttp = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-http",
        help="Allow a plain http:// base URL to a host that is not this machine.",
        rich_help_panel=_PANEL,
    ),
]

Trace = Annotated[
    bool,
    typer.Option(
        "--trace",
        envvar="GODEPLOY_TRACE",
        help="Print one line per API call on stderr: status, time, attempts, retries, waits.",
        rich_help_panel=_PANEL,
    ),
]

# The options `with_connection` adds to a command (the keywords of `connection_settings`),
# with their defaults, in the order its help lists them.
_OPTIONS: dict[str, tuple[Any, object]] = {
    "token": (Token, None),
    "business_unit_id": (BusinessUnitId, None),
    "base_url": (BaseUrl, None),
    "fake": (Fake, False),
    "allow_insecure_http": (AllowInsecureHttp, False),
    "trace": (Trace, False),
}
# The click context that `with_connection` asks typer for, under a name no command uses.
_CONTEXT = "connection_context"
# Where the group's callback leaves the options given on its command line (click's `meta` is
# shared by a context and all its children).
_GROUP_OPTIONS = "godeploy.group_options"


def _from_command_line(context: typer.Context, name: str) -> bool:
    """Whether the option was given on the command line (not its variable, not its default)."""
    source = context.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def from_group(context: typer.Context, name: str) -> Any:
    """The value of an option given on the group's command line (`godeploy --json ...`), or None."""
    return context.meta.get(_GROUP_OPTIONS, {}).get(name)


def with_group_options(
    extra: dict[str, tuple[Any, object]],
) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Give the group's callback the connection options and `extra` ones (`--json`).

    What the command line gave them is kept for the command that runs (`from_group`); their
    variables are read by each command itself, so a flag on the group beats a variable.
    """

    def decorate(callback: Callable[P, None]) -> Callable[P, None]:
        signature = inspect.signature(callback, eval_str=True)
        options = {**_OPTIONS, **extra}
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=a)
            for name, (a, default) in options.items()
        ]
        context = inspect.Parameter(
            _CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context
        )
        parameters = [*signature.parameters.values(), *added, context]

        @functools.wraps(callback)
        def run(*positional: Any, **arguments: Any) -> None:
            click_context = arguments.pop(_CONTEXT)
            given = {name: arguments.pop(name) for name in options}
            click_context.meta[_GROUP_OPTIONS] = {
                name: value
                for name, value in given.items()
                if _from_command_line(click_context, name)
            }
            callback(*positional, **arguments)

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        return run

    return decorate


@define(frozen=True, kw_only=True)
class ConnectionSettings:
    """Where a command connects: the real API (checked options), or an embedded fake.

    Attributes:
        token: the JWT (`--token`, `GODEPLOY_TOKEN`); None with `--fake`.
        business_unit_id: the business unit (`--business-unit-id`, `GODEPLOY_BUSINESS_UNIT_ID`).
        base_url: the API's root (`--base-url`, `GODEPLOY_BASE_URL`), checked.
        allow_insecure_http: `--allow-insecure-http`.
        fake: `--fake`: an embedded fake server, whatever else is set.
        trace: `--trace`: one line per API call on stderr.
    """

    token: str | None = None
    business_unit_id: str | None = None
    base_url: URL = _DEFAULT_URL
    allow_insecure_http: bool = False
    fake: bool = False
    trace: bool = False


def connection_settings(
    context: typer.Context,
    *,
    token: str | None,
    business_unit_id: str | None,
    base_url: str | None,
    fake: bool,
    allow_insecure_http: bool,
    trace: bool = False,
) -> ConnectionSettings:
    """Check a command's connection options (an empty variable counts as unset).

    Raises:
        click.UsageError: no `--fake`, and a token or a business unit is missing (exit 2).
        click.BadParameter: a base URL the SDK would refuse (exit 2).
    """
    if fake:
        return ConnectionSettings(fake=True, trace=trace)
    missing = [
        f"{variable} ({flag})"
        for variable, flag, value in (
            (TOKEN_VARIABLE, "--token", token),
            (BUSINESS_UNIT_VARIABLE, "--business-unit-id", business_unit_id),
        )
        if not value
    ]
    if missing:
        context.fail(
            f"missing {' and '.join(missing)}: set {'them' if len(missing) > 1 else 'it'} "
            f"(and {BASE_URL_VARIABLE} for an API other than {DEFAULT_BASE_URL}), "
            "or pass --fake for an embedded fake server with made-up data"
        )
    assert token is not None  # checked above
    return ConnectionSettings(
        token=token,
        business_unit_id=business_unit_id,
        base_url=_checked_base_url(base_url or DEFAULT_BASE_URL, allow_insecure_http),
        allow_insecure_http=allow_insecure_http,
        trace=trace,
    )


def _checked_base_url(base_url: str, allow_insecure_http: bool) -> URL:
    """The SDK's own check of a base URL, its refusal of plain http naming the CLI's flag."""
    try:
        url = check_base_url(base_url, allow_insecure_http=True)
    except RequestValidationError as error:
        raise typer.BadParameter(str(error), param_hint="'--base-url'") from None
    try:
        check_base_url(url, allow_insecure_http=allow_insecure_http)
    except RequestValidationError:
        # The only refusal left is plain http; the SDK's message names its Python keyword.
        raise typer.BadParameter(
            f"refusing plain http to {url.host}: the token would travel unencrypted; "
            "use https, or pass --allow-insecure-http",
            param_hint="'--base-url'",
        ) from None
    return url


def with_connection(
    command: Callable[Concatenate[ConnectionSettings, P], None],
) -> Callable[P, None]:
    """Give a command the connection options; it gets them checked, as its first argument.

    The command's help lists them in a "Connection" panel, after the command's own options.
    A command that declares a `typer.Context` parameter gets it as usual.
    """
    signature = inspect.signature(command, eval_str=True)
    own = list(signature.parameters.values())[1:]
    contexts = [parameter.name for parameter in own if parameter.annotation is typer.Context]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=option)
        for name, (option, default) in _OPTIONS.items()
    ]
    context = inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    parameters = [
        *(parameter for parameter in own if parameter.name not in contexts),
        *added,
        context,
    ]

    @functools.wraps(command)
    def run(**arguments: Any) -> None:
        click_context = arguments.pop(_CONTEXT)
        options = {name: arguments.pop(name) for name in _OPTIONS}
        for name in _OPTIONS:
            group_value = from_group(click_context, name)
            if group_value is not None and not _from_command_line(click_context, name):
                options[name] = group_value
        arguments.update(dict.fromkeys(contexts, click_context))
        settings = connection_settings(click_context, **options)
        command(settings, **arguments)  # type: ignore[call-arg]

    # typer reads a command's options from its signature and its annotations.
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return run  # type: ignore[return-value]


@asynccontextmanager
async def open_client(
    settings: ConnectionSettings, notice: Callable[[str], None]
) -> AsyncIterator[GoDeployClient]:
    """Open a client on the configured API, or on an embedded fake started for this command.

    Args:
        settings: the checked connection options.
        notice: prints a note for the user (on stderr), such as the use of the fake.

    Yields:
        An open client, closed (and the fake stopped) on exit.
    """
    hooks = TraceLines(notice).hooks() if settings.trace else None
    if settings.fake:
        async with _fake_client(notice, hooks) as client:
            yield client
        return
    assert settings.token is not None  # connection_settings() made sure of it
    async with GoDeployClient(
        settings.token,
        settings.business_unit_id,
        base_url=settings.base_url,
        allow_insecure_http=settings.allow_insecure_http,
        hooks=hooks,
    ) as client:
        yield client


@asynccontextmanager
async def _fake_client(
    notice: Callable[[str], None], hooks: Hooks | None
) -> AsyncIterator[GoDeployClient]:
    """A client on an in-process FakeGoDeploy that lives as long as the command."""
    # Imported here: the fake (and its server stack) is not needed against the real API.
    from godeploy.testing import FakeGoDeploy

    async with FakeGoDeploy(seed=FAKE_SEED) as fake:
        notice(
            f"note: --fake: using an embedded fake server at {fake.url} "
            f"(seed {FAKE_SEED}, made-up data; it stops when the command ends)"
        )
        async with GoDeployClient(
            fake.token, fake.business_unit_id, base_url=fake.url, hooks=hooks
        ) as client:
            yield client
