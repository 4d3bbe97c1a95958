"""FleetLimits needs redis-py only (`godeploy[redis]`): no arq, any redis-py major from 5 to 8."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from godeploy.testing import RedisServer

ROOT = Path(__file__).resolve().parents[2]
REDIS_MAJORS = {"5": "redis>=5,<6", "8": "redis>=8,<9"}
"""The lowest and the newest redis-py major of the `redis` extra."""

USE_LIMITS = """
import asyncio, sys
import tests._support.no_arq
from godeploy import GoDeployClient
from godeploy.fleet import FleetLimits

async def main():
    async with FleetLimits(sys.argv[1], max_requests_per_second=50) as limits:
        admission = await limits.admit(1.0)
        assert admission.booked and not limits.falling_back, (admission, limits)
        assert await limits.try_pay(1)
    try:
        from godeploy.fleet import Fleet
    except ModuleNotFoundError as error:
        assert "godeploy[fleet]" in str(error), error
    else:
        raise AssertionError("Fleet imported without arq")
    assert not [name for name in sys.modules if name.partition(".")[0] == "arq"]
    print("ok")

asyncio.run(main())
"""


def test_fleet_limits_import_and_work_without_arq(redis_server: RedisServer):
    done = subprocess.run(
        [sys.executable, "-c", USE_LIMITS, redis_server.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("major", sorted(REDIS_MAJORS))
def test_the_limits_tests_pass_on_each_redis_major_without_arq(tmp_path: Path, major: str):
    # redis-py of that major (from PyPI) ahead of the venv's own on sys.path, arq blocked: the
    # FleetLimits tests (their worker processes too) run as in an app with `godeploy[redis]`.
    target = tmp_path / f"redis{major}"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    subprocess.run(
        [*pip, REDIS_MAJORS[major]],
        check=True,
        timeout=300,
    )
    environment = {**os.environ, "PYTHONPATH": str(target)}
    version = subprocess.run(
        [sys.executable, "-c", "import redis; print(redis.__version__)"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.partition(".")[0] == major, version
    tests = sorted(str(path) for path in (ROOT / "tests" / "fleet").glob("test_limits*.py"))
    pytest_without_arq = [sys.executable, "-m", "pytest", "-q", "-p", "tests._support.no_arq"]
    done = subprocess.run(
        [*pytest_without_arq, "-m", "not slow", *tests],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
