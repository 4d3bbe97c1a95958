"""`python -m godeploy.testing`: prints how to reach it, serves, stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest


def start(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "godeploy.testing", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
async def test_serves_what_it_prints_until_interrupted(stop_signal):
    process = start("--port", "0", "--seed", "3", "--orders", "30", "--latency-ms", "60")
    try:
        assert process.stdout is not None
        lines = [await asyncio.to_thread(process.stdout.readline) for _ in range(3)]
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0]).group(0)
        token = lines[1].removeprefix("token: ").strip()
        unit = lines[2].removeprefix("business unit id: ").strip()
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{url}/api/v2/orders",
                params={"businessUnitId": unit},
                headers={"Authorization": f"Bearer {token}"},
            ) as reply,
        ):
            assert reply.status == 200
            body = await reply.json()
        assert body["_pageInfo"]["totalItemCount"] == 30
        process.send_signal(stop_signal)
        assert await asyncio.to_thread(process.wait, 10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize(
    "arguments",
    [["--orders", "-1"], ["--products", "0"], ["--port", "x"], ["--rate-limit", "0"]],
)
def test_bad_arguments_exit_2(arguments):
    result = subprocess.run(
        [sys.executable, "-m", "godeploy.testing", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr


def test_a_port_in_use_exits_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "godeploy.testing", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot serve on port {port}" in result.stderr


async def test_rate_limit_refuses_and_the_last_line_tells_what_it_saw():
    process = start("--port", "0", "--orders", "10", "--rate-limit", "2")
    try:
        assert process.stdout is not None
        lines = [await asyncio.to_thread(process.stdout.readline) for _ in range(5)]
        assert lines[4] == "rate limit: 2 requests/s\n"
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0]).group(0)
        token = lines[1].removeprefix("token: ").strip()
        unit = lines[2].removeprefix("business unit id: ").strip()
        async with aiohttp.ClientSession() as session:

            async def get() -> int:
                async with session.get(
                    f"{url}/api/v2/products",
                    params={"businessUnitId": unit},
                    headers={"Authorization": f"Bearer {token}"},
                ) as reply:
                    return reply.status

            statuses = await asyncio.gather(get(), get(), get())
        assert sorted(statuses) == [200, 200, 429]
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.to_thread(process.communicate, timeout=10)
        assert process.returncode == 0
        stats = json.loads(rest.splitlines()[-1].removeprefix("stats: "))
        assert stats["requests"] == 3
        assert stats["rate_limited"] == 1
        assert stats["busiest_window"] == 3
        assert sum(stats["requests_per_window"]) == 3
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
