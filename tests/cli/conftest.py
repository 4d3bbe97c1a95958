"""Run the real `godeploy` console script in a subprocess against a fake in this process.

The fake (`fake_godeploy`, from godeploy's pytest plugin) listens on 127.0.0.1 in the test's
event loop; the command runs as a child process, awaited with asyncio so that the loop keeps
serving it. Every run is checked for what must never happen: a traceback, or the token in
the output.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from godeploy.testing import FakeGoDeploy

RUN_TIMEOUT = 60.0

# The script installed next to this interpreter (not resolved: that would leave the venv).
GODEPLOY = shutil.which("godeploy", path=str(Path(sys.executable).parent))


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        """stdout as JSON lines, numbers with a fraction kept as exact decimals."""
        return [json.loads(line, parse_float=Decimal) for line in self.stdout.splitlines()]

    @property
    def error_lines(self) -> list[str]:
        """The `error: ...` lines of stderr."""
        return [line for line in self.stderr.splitlines() if line.startswith("error: ")]


def clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without GODEPLOY_* settings, tables wide enough not to wrap."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GODEPLOY_")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8", **extra})
    return env


async def run_command(
    *args: str, env: Mapping[str, str] | None = None, secret: str | None = None
) -> Result:
    """Run `godeploy ARGS...`; fail the test on a traceback or on `secret` in the output."""
    assert GODEPLOY is not None, f"no godeploy script next to {sys.executable}: pip install -e ."
    process = await asyncio.create_subprocess_exec(
        GODEPLOY,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env if env is not None else clean_environment()),
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    assert process.returncode is not None
    result = Result(process.returncode, stdout.decode(), stderr.decode())
    assert "Traceback" not in result.stderr, result.stderr
    if secret is not None:
        assert secret not in result.stdout + result.stderr
    return result


CliRunner = Callable[..., Coroutine[Any, Any, Result]]


@pytest.fixture
def godeploy_script() -> str:
    """The path of the installed `godeploy` console script."""
    assert GODEPLOY is not None, f"no godeploy script next to {sys.executable}: pip install -e ."
    return GODEPLOY


@pytest.fixture
def run_godeploy() -> CliRunner:
    """Run the command with the given flags only: `await run_godeploy(*args, secret=...)`."""
    return run_command


@pytest.fixture
def cli_environment() -> Callable[..., dict[str, str]]:
    """Make a clean environment for the command, plus the given variables."""
    return clean_environment


@pytest.fixture
def connection(fake_godeploy: FakeGoDeploy) -> list[str]:
    """The connection flags of the fake."""
    return [
        "--base-url",
        str(fake_godeploy.url),
        "--token",
        fake_godeploy.token,
        "--business-unit-id",
        str(fake_godeploy.business_unit_id),
    ]


@pytest.fixture
def godeploy(fake_godeploy: FakeGoDeploy, connection: list[str]) -> CliRunner:
    """Run the command against the fake: `await godeploy("orders", "list", "--json")`."""

    async def run(*args: str, connect: bool = True, env: Mapping[str, str] | None = None) -> Result:
        flags = connection if connect else []
        return await run_command(*args, *flags, env=env, secret=fake_godeploy.token)

    return run
