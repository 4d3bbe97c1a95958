"""docs/guide/application.md, "Using godeploy in your application", run as the project it shows.

Its titled blocks are the files of a small project (app.py, worker.py, conftest.py, ...): each
test writes them all into a temporary folder and runs one of them, the FastAPI tests under a
pytest of their own, with the `GODEPLOY_*` variables pointing at a fake.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from godeploy import loads
from godeploy.testing import FakeGoDeploy, RedisServer
from tests._support.docs_snippets import DOCS, ServedFake, snippets

PAGE = DOCS / "guide" / "application.md"
FILES = {snippet.title: snippet.source for snippet in snippets(PAGE) if snippet.title}


def test_every_block_of_the_page_is_a_file_that_a_test_runs() -> None:
    assert [snippet.name for snippet in snippets(PAGE) if not snippet.title] == []
    assert set(FILES) == {
        "environment.py",
        "app.py",
        "worker.py",
        "conftest.py",
        "pyproject.toml",
        "test_app.py",
        "test_app_sync.py",
        "debugging.py",
        "own_session.py",
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, source in FILES.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    return tmp_path


@pytest.fixture
def served_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedFake]:
    with ServedFake(seed=7) as served:
        for name, value in served.environment():
            monkeypatch.setenv(name, value)
        yield served


def _run_program(path: Path) -> None:
    runpy.run_path(str(path), run_name="__main__")


def _pytest(project: Path, test_file: str) -> subprocess.CompletedProcess[str]:
    # The plugin is opt-in: the page's conftest loads it with `pytest_plugins`, as users do.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    environment = {k: v for k, v in environment.items() if not k.startswith("GODEPLOY_")}
    return subprocess.run(
        [*command, test_file],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow  # a pytest of its own in a child process (~10 s)
def test_the_fastapi_app_passes_its_async_tests(project: Path) -> None:
    finished = _pytest(project, "test_app.py")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "3 passed" in finished.stdout


@pytest.mark.slow  # a pytest of its own in a child process (~10 s)
def test_the_fastapi_app_passes_its_sync_testclient_test(project: Path) -> None:
    finished = _pytest(project, "test_app_sync.py")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "1 passed" in finished.stdout


async def test_the_arq_worker_runs_a_job(
    project: Path, fake_godeploy: FakeGoDeploy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arq import create_pool
    from arq.worker import Worker

    monkeypatch.setenv("GODEPLOY_TOKEN", fake_godeploy.token)
    monkeypatch.setenv("GODEPLOY_BUSINESS_UNIT_ID", str(fake_godeploy.business_unit_id))
    monkeypatch.setenv("GODEPLOY_BASE_URL", str(fake_godeploy.url))
    async with RedisServer() as redis:
        monkeypatch.setenv("REDIS_URL", redis.url)
        spec = importlib.util.spec_from_file_location("docs_worker", project / "worker.py")
        assert spec is not None and spec.loader is not None
        worker_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(worker_module)
        settings = worker_module.WorkerSettings
        order_id = fake_godeploy.order_ids()[0]
        pool = await create_pool(settings.redis_settings)
        try:
            job = await pool.enqueue_job("order_summary", order_id)
            assert job is not None
            worker = Worker(
                functions=settings.functions,
                on_startup=settings.on_startup,
                on_shutdown=settings.on_shutdown,
                redis_pool=pool,
                burst=True,
                handle_signals=False,
                poll_delay=0.05,
            )
            try:
                await worker.main()  # runs on_startup, then the job; burst: returns when done
            finally:
                # What worker.close() does, less its call of redis-py's deprecated close().
                await settings.on_shutdown(worker.ctx)
            summary = loads(await job.result(timeout=10))
        finally:
            await pool.aclose()
    assert summary["order"]["id"] == order_id
    assert [item["orderId"] for item in summary["items"]] == [order_id] * len(summary["items"])


def test_own_session_stays_open_until_its_owner_closes_it(
    project: Path, served_fake: ServedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_program(project / "own_session.py")
    assert capsys.readouterr().out.split() == ["5", "5"]


def test_configuration_from_the_environment(
    project: Path, served_fake: ServedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_program(project / "environment.py")
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_debugging_reads_request_ids(
    project: Path, served_fake: ServedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_program(project / "debugging.py")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("not found; request id ")
    assert lines[0] != "not found; request id None"
    status, request_id, content_type, _elapsed = lines[1].split(" ", 3)
    assert (status, content_type) == ("200", "application/json;")
    assert request_id != "None"


def test_godeploy_log_sends_the_logger_to_stderr(project: Path, served_fake: ServedFake) -> None:
    environment = {**os.environ, "GODEPLOY_LOG": "debug"}
    finished = subprocess.run(
        [sys.executable, str(project / "own_session.py")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert "/api/v2/products" in finished.stderr
    assert served_fake.token not in finished.stderr
