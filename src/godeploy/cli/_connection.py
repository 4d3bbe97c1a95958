"""Where the command sends its requests: the real API from flags or environment, or a fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from attrs import define

from godeploy import DEFAULT_BASE_URL, GoDeployClient, Hooks
from godeploy.cli._errors import UsageError
from godeploy.cli._trace import TraceLines

__all__ = ["FAKE_SEED", "ConnectionSettings", "open_client"]

FAKE_SEED = 7
"""The embedded fake's seed: the same data on every run, so ids can be reused."""


@define(frozen=True, kw_only=True)
class ConnectionSettings:
    """The connection options of a command, from its flags or the environment.

    Attributes:
        token: the JWT (`--token`, `GODEPLOY_TOKEN`).
        business_unit_id: the business unit (`--business-unit-id`, `GODEPLOY_BUSINESS_UNIT_ID`).
        base_url: the API's root (`--base-url`, `GODEPLOY_BASE_URL`).
        force_fake: `--fake`: use the embedded fake server whatever else is set.
        trace: `--trace`: one line per API call on stderr.
    """

    token: str | None = None
    business_unit_id: str | None = None
    base_url: str | None = None
    force_fake: bool = False
    trace: bool = False

    @property
    def uses_fake(self) -> bool:
        """Whether to start the embedded fake: `--fake`, or no connection option at all."""
        configured = (self.token, self.business_unit_id, self.base_url)
        return self.force_fake or not any(configured)

    def check(self) -> None:
        """Refuse a half-configured connection before anything starts.

        Raises:
            UsageError: a token or a business unit is missing.
        """
        if self.uses_fake:
            return
        missing = [
            option
            for option, value in (
                ("--token (or GODEPLOY_TOKEN)", self.token),
                ("--business-unit-id (or GODEPLOY_BUSINESS_UNIT_ID)", self.business_unit_id),
            )
            if not value
        ]
        if missing:
            raise UsageError(
                f"missing {' and '.join(missing)}; set none of the connection options "
                "(or pass --fake) to use the embedded fake server"
            )


@asynccontextmanager
async def open_client(
    settings: ConnectionSettings, notice: Callable[[str], None]
) -> AsyncIterator[GoDeployClient]:
    """Open a client on the configured API, or on an embedded fake started for this command.

    Args:
        settings: the connection options.
        notice: prints a note for the user (on stderr), such as the use of the fake.

    Yields:
        An open client, closed (and the fake stopped) on exit.
    """
    settings.check()
    hooks = TraceLines(notice).hooks() if settings.trace else None
    if settings.uses_fake:
        reason = "--fake" if settings.force_fake else "no connection options set"
        async with _fake_client(reason, notice, hooks) as client:
            yield client
        return
    # check() made sure both are set.
    assert settings.token is not None
    assert settings.business_unit_id is not None
    async with GoDeployClient(
        settings.token,
        settings.business_unit_id,
        base_url=settings.base_url or DEFAULT_BASE_URL,
        hooks=hooks,
    ) as client:
        yield client


@asynccontextmanager
async def _fake_client(
    reason: str, notice: Callable[[str], None], hooks: Hooks | None
) -> AsyncIterator[GoDeployClient]:
    """A client on an in-process FakeGoDeploy that lives as long as the command."""
    # Imported here: the fake (and its server stack) is not needed against the real API.
    from godeploy.testing import FakeGoDeploy

    async with FakeGoDeploy(seed=FAKE_SEED) as fake:
        notice(
            f"note: {reason}: using an embedded fake server at {fake.url} "
            f"(seed {FAKE_SEED}; it stops when the command ends)"
        )
        async with GoDeployClient(
            fake.token, fake.business_unit_id, base_url=fake.url, hooks=hooks
        ) as client:
            yield client
