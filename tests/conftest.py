"""pytest setup shared by the whole suite.

A test that takes a `reference_example` argument runs once per JSON body of the reference.
godeploy's pytest plugin is opt-in: `pytest_plugins` below loads it, as users do.
Helpers (clients of the fake, leak checks) are in `tests._support`; pytest's `pythonpath`
puts the repository root on the path, so every module imports them as `tests.<module>`.
No test sees the machine's proxy variables, or its `GODEPLOY_*` settings, unless it sets them
itself. `pytest --uvloop` runs every async test on uvloop's event loop (uvicorn's default);
`make test-uvloop` does that in CI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

import pytest

from godeploy.testing import RedisServer
from tests._support.reference_examples import REFERENCE_EXAMPLES

# godeploy's fixtures are opt-in, as for any project that uses them.
pytest_plugins = ["godeploy.testing.pytest_plugin"]

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--uvloop",
        action="store_true",
        help="run every async test on uvloop's event loop (uvicorn's default loop)",
    )


class _UvloopLoops:
    """pytest-asyncio's loop-factory hook, registered only under `--uvloop`."""

    @staticmethod
    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        import uvloop

        return {"uvloop": uvloop.new_event_loop}


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--uvloop"):
        config.pluginmanager.register(_UvloopLoops(), "godeploy-uvloop")


@pytest.fixture(autouse=True)
def _no_godeploy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads `GODEPLOY_*` from the environment: the machine's must not reach a test."""
    for name in os.environ:
        if name.startswith("GODEPLOY_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite talks to loopback: a proxy set on the machine must not stand in between."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def redis_server(godeploy_redis_server: RedisServer) -> RedisServer:
    """The plugin's `godeploy_redis_server`, under the short name this suite uses."""
    return godeploy_redis_server


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "reference_example" in metafunc.fixturenames:
        metafunc.parametrize(
            "reference_example", REFERENCE_EXAMPLES, ids=[e.id for e in REFERENCE_EXAMPLES]
        )
