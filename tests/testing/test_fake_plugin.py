"""The pytest plugin: its fixtures in a project of their own, with and without pytest-asyncio.

Each case runs pytest in a subprocess on a throwaway project, so the plugin is loaded the way
users get it: opted in with `pytest_plugins` in the project's conftest.py. A project that does
not opt in gets nothing from godeploy.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

# Plugins of this environment that the fixtures do not need; leaving them out saves seconds.
_UNRELATED_PLUGINS = (
    "-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest",
    "-p", "no:typeguard", "-p", "no:anyio",
)  # fmt: skip


def run_pytest(project: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", *_UNRELATED_PLUGINS, *options],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(project: Path, name: str, text: str) -> None:
    (project / name).write_text(textwrap.dedent(text), encoding="utf-8")


OPT_IN = 'pytest_plugins = ["godeploy.testing.pytest_plugin"]\n'


def async_project(project: Path) -> Path:
    """A project configured like this repository: asyncio auto mode, warnings are errors."""
    write(project, "conftest.py", OPT_IN)
    write(
        project,
        "pytest.ini",
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """,
    )
    return project


def test_fixtures_in_a_project_like_ours(tmp_path):
    project = async_project(tmp_path)
    write(
        project,
        "test_uses_fake.py",
        """
        import aiohttp
        from godeploy.testing import FakeGoDeploy

        seen = []

        async def test_it_runs(fake_godeploy):
            assert isinstance(fake_godeploy, FakeGoDeploy)
            seen.append(fake_godeploy)
            url = fake_godeploy.url / "api/v2/orders"
            params = {"businessUnitId": str(fake_godeploy.business_unit_id)}
            headers = {"Authorization": f"Bearer {fake_godeploy.token}"}
            async with aiohttp.ClientSession() as session:
                async with session.get(url, params=params, headers=headers) as reply:
                    assert reply.status == 200
                    body = await reply.json()
            assert body["_pageInfo"]["totalItemCount"] == 4150
            assert fake_godeploy.token == FakeGoDeploy(seed=7).token

        def test_it_was_closed():
            assert seen and not seen[0].running
        """,
    )
    write(
        project,
        "test_options.py",
        """
        import pytest

        @pytest.fixture
        def fake_godeploy_options():
            return {"seed": 3, "order_count": 12, "product_count": 5}

        async def test_small(fake_godeploy):
            assert fake_godeploy.order_count() == 12
            assert len(fake_godeploy.products()) == 5
        """,
    )
    # A stand-in client records how the fixture builds and closes it, so this test does not
    # depend on the real client's behaviour.
    write(
        project,
        "test_client_fixture.py",
        """
        import godeploy
        import pytest

        class RecordingClient:
            made = []

            def __init__(self, token, business_unit_id=None, *, base_url):
                self.arguments = (token, business_unit_id, base_url)
                self.state = "new"
                RecordingClient.made.append(self)

            async def __aenter__(self):
                self.state = "open"
                return self

            async def __aexit__(self, *exc_info):
                self.state = "closed"

        @pytest.fixture(autouse=True)
        def recording_client(monkeypatch):
            monkeypatch.setattr(godeploy, "GoDeployClient", RecordingClient)
            return RecordingClient

        async def test_client(godeploy_client, fake_godeploy, recording_client):
            assert godeploy_client.state == "open"
            assert godeploy_client.arguments == (
                fake_godeploy.token, fake_godeploy.business_unit_id, fake_godeploy.url
            )

        def test_closed(recording_client):
            assert [c.state for c in recording_client.made] == ["closed"]
        """,
    )
    result = run_pytest(project, "-rA")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
    for test in ("test_it_runs", "test_it_was_closed", "test_small", "test_client", "test_closed"):
        assert re.search(rf"^PASSED \S+::{test}$", result.stdout, re.MULTILINE), test


def test_without_pytest_asyncio_the_plugin_loads_and_fixtures_skip(tmp_path):
    write(
        tmp_path,
        "conftest.py",
        """
        import sys

        # Hide pytest-asyncio before the plugin is imported, as if it were not installed.
        sys.modules["pytest_asyncio"] = None
        pytest_plugins = ["godeploy.testing.pytest_plugin"]
        """,
    )
    write(
        tmp_path,
        "test_no_asyncio.py",
        """
        def test_fake(fake_godeploy):
            raise AssertionError("unreachable")

        def test_client(godeploy_client):
            raise AssertionError("unreachable")
        """,
    )
    write(
        tmp_path,
        "test_sync.py",
        """
        def test_thread(fake_godeploy_thread):
            assert fake_godeploy_thread.running
        """,
    )
    write(tmp_path, "pytest.ini", "[pytest]\nfilterwarnings = error\n")
    result = run_pytest(tmp_path, "-p", "no:asyncio")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 2 skipped" in result.stdout
    assert "needs pytest-asyncio" in result.stdout


def _fixture_names(listing: str) -> set[str]:
    """The fixtures `pytest --fixtures` lists (`name -- where` or `name [scope] -- where`)."""
    return set(re.findall(r"^([a-z_]\w*)(?: \[\w+ scope\])? -- ", listing, re.MULTILINE))


def test_installing_godeploy_adds_no_fixture_to_a_project(tmp_path):
    write(tmp_path, "test_nothing.py", "def test_nothing():\n    pass\n")

    result = run_pytest(tmp_path, "--fixtures")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "godeploy" not in result.stdout
    assert "redis_server" not in _fixture_names(result.stdout)


def test_every_fixture_of_the_plugin_says_godeploy(tmp_path):
    write(tmp_path, "conftest.py", OPT_IN)
    write(tmp_path, "test_nothing.py", "def test_nothing():\n    pass\n")

    result = run_pytest(tmp_path, "--fixtures", "-v")

    assert result.returncode == 0, result.stdout + result.stderr
    ours = {
        name
        for name, where in re.findall(r"^(\w+)(?: \[\w+ scope\])? -- (\S+)", result.stdout, re.M)
        if "godeploy" in where
    }
    assert ours == {
        "fake_godeploy",
        "fake_godeploy_options",
        "fake_godeploy_thread",
        "godeploy_client",
        "godeploy_redis_server",
    }


def test_the_plugin_does_not_import_pytest_asyncio_into_the_sdk():
    code = (
        "import sys, godeploy.testing; "
        "assert 'pytest_asyncio' not in sys.modules, 'pytest_asyncio imported'; "
        "assert 'pytest' not in sys.modules, 'pytest imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
