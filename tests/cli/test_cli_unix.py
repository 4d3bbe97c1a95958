"""`godeploy` in a shell: a closed pipe, options on the group, names as the user wrote them."""

from __future__ import annotations

import array
import asyncio
import fcntl
import json
import os
import socket
import termios

import pytest

from godeploy.testing import FakeGoDeploy
from tests.cli.conftest import GODEPLOY, RUN_TIMEOUT, clean_environment

CLOSED_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`


@pytest.mark.parametrize("output", [["--json"], []], ids=["json-lines", "table"])
async def test_a_closed_pipe_ends_quietly_with_141(
    fake_godeploy: FakeGoDeploy, connection: list[str], output: list[str]
):
    # `godeploy orders list --json | head -1`: the reader takes one line and goes away while
    # the command still has 4150 orders to write (a table of ~500 KB, or ~2.6 MB of JSON).
    # A pipe of our own, read as `head` reads it: asyncio's PIPE reads ahead (uvloop's, a
    # socket pair with large buffers, took in 475 KB of the table under load before the
    # test's code ran), so that the whole table could be written before the reader went away.
    # Here the reader takes a few KB, the pipe holds 64 KB: the command cannot finish writing.
    read_end, write_end = os.pipe()
    try:
        process = await _list_orders(output, connection, stdout=write_end)
    finally:
        os.close(write_end)
    first = await asyncio.wait_for(head_one_line(read_end), RUN_TIMEOUT)

    assert first
    assert await _ending(process) == (CLOSED_PIPE, "")


@pytest.mark.parametrize("output", [["--json"], []], ids=["json-lines", "table"])
async def test_a_socket_reader_that_goes_away_ends_quietly_with_141(
    fake_godeploy: FakeGoDeploy, connection: list[str], output: list[str]
):
    # uvloop and Node give a child a Unix socket for its stdout, not a pipe. A reader that
    # closes it with bytes unread while the command waits for room makes that write fail with
    # ECONNRESET, not EPIPE: the same reader going away, so the same quiet 141.
    reader, writer = socket.socketpair()
    with reader:
        # Small buffers: the command soon waits for room, which is when the reset shows.
        writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.setblocking(False)
        with writer:
            process = await _list_orders(output, connection, stdout=writer.fileno())
        first = await asyncio.wait_for(_first_line(reader), RUN_TIMEOUT)
        await asyncio.wait_for(_until_full(reader), RUN_TIMEOUT)

    assert first
    assert await _ending(process) == (CLOSED_PIPE, "")


async def _list_orders(
    output: list[str], connection: list[str], *, stdout: int
) -> asyncio.subprocess.Process:
    """`godeploy orders list` writing to `stdout`, buffered as in a shell; stderr piped."""
    assert GODEPLOY is not None
    env = clean_environment()
    # Unbuffered, a write cut short by the closed pipe is reported as complete, and the last
    # (a table is one write) never fails: exit 0, which is allowed but not what this checks.
    env.pop("PYTHONUNBUFFERED", None)
    return await asyncio.create_subprocess_exec(
        GODEPLOY,
        "orders",
        "list",
        *output,
        *connection,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _ending(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """The command's exit code and everything it wrote on stderr."""
    assert process.stderr is not None
    stderr = await asyncio.wait_for(process.stderr.read(), RUN_TIMEOUT)
    return await asyncio.wait_for(process.wait(), RUN_TIMEOUT), stderr.decode()


async def _first_line(reader: socket.socket) -> bytes:
    """Read a socket up to its first line, in small reads."""
    loop = asyncio.get_running_loop()
    taken = b""
    while b"\n" not in taken and (chunk := await loop.sock_recv(reader, 1024)):
        taken += chunk
    return taken.partition(b"\n")[0]


async def _until_full(reader: socket.socket) -> None:
    """Wait until the bytes waiting in the socket stop growing: the writer waits for room."""
    queued = array.array("i", [-1])
    last = -2
    while queued[0] != last:
        last = queued[0]
        await asyncio.sleep(0.2)
        fcntl.ioctl(reader.fileno(), termios.FIONREAD, queued)


async def head_one_line(fd: int) -> bytes:
    """Read a pipe up to its first line in small reads, then close it, as `head -1` does."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    taken = b""
    try:
        while b"\n" not in taken:
            readable = loop.create_future()
            loop.add_reader(fd, _wake, readable)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            taken += chunk
    finally:
        os.close(fd)
    return taken.partition(b"\n")[0]


async def test_output_and_connection_options_on_the_group(
    run_godeploy, fake_godeploy: FakeGoDeploy, connection: list[str]
):
    result = await run_godeploy(
        "--json", *connection, "orders", "list", "--limit", "2", secret=fake_godeploy.token
    )

    assert result.exit_code == 0, result.stderr
    assert [line["id"] for line in result.json_lines()] == fake_godeploy.order_ids()[:2]


async def test_a_flag_after_the_command_beats_the_group_which_beats_the_variable(
    run_godeploy, cli_environment, fake_godeploy: FakeGoDeploy
):
    wrong = "wrong-token-" + "z" * 20
    env = cli_environment(
        GODEPLOY_TOKEN=wrong,
        GODEPLOY_BUSINESS_UNIT_ID=str(fake_godeploy.business_unit_id),
        GODEPLOY_BASE_URL="https://nowhere.invalid/",
    )
    group_beats_variable = await run_godeploy(
        *("--token", fake_godeploy.token, "--base-url", str(fake_godeploy.url)),
        *("orders", "get", str(fake_godeploy.order_ids()[0]), "--json"),
        env=env,
        secret=fake_godeploy.token,
    )
    leaf_beats_group = await run_godeploy(
        *("--token", wrong, "--base-url", str(fake_godeploy.url)),
        *("orders", "get", str(fake_godeploy.order_ids()[0])),
        *("--token", fake_godeploy.token),
        env=env,
        secret=fake_godeploy.token,
    )

    assert group_beats_variable.exit_code == 0, group_beats_variable.stderr
    assert json.loads(group_beats_variable.stdout)["id"] == fake_godeploy.order_ids()[0]
    assert leaf_beats_group.exit_code == 0, leaf_beats_group.stderr


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
