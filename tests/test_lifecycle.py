"""`AsyncClosing` and `stop_process`: what every owner of a resource or a child uses to end it."""

import signal
import subprocess
import sys

import pytest

from godeploy._lifecycle import AsyncClosing, stop_process


class _Owner(AsyncClosing):
    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


async def test_async_with_gives_the_object_and_closes_it_once():
    owner = _Owner()
    async with owner as entered:
        assert entered is owner
        assert owner.closed == 0
    assert owner.closed == 1


async def test_async_with_closes_on_an_error_and_lets_it_through():
    owner = _Owner()
    with pytest.raises(LookupError):
        async with owner:
            raise LookupError("boom")
    assert owner.closed == 1


async def test_a_class_without_aclose_cannot_be_used_with_async_with():
    with pytest.raises(NotImplementedError):
        async with AsyncClosing():
            pass


def _child(code: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"  # its signal handlers are in place
    process.stdout.close()
    return process


def test_stop_process_terminates_a_child_that_exits_on_sigterm():
    process = _child("import time; print('ready', flush=True); time.sleep(60)")
    stop_process(process, grace=30)
    assert process.returncode == -signal.SIGTERM


def test_stop_process_kills_a_child_that_ignores_sigterm():
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    process = _child(code)
    stop_process(process, grace=0.2)
    assert process.returncode == -signal.SIGKILL


def test_stop_process_leaves_an_exited_child_alone():
    process = _child("print('ready', flush=True)")
    process.wait()
    stop_process(process, grace=0.2)
    assert process.returncode == 0
