"""How `godeploy` is installed and started: the optional extra, `python -m`, the fake server."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest

MISSING_EXTRA = "error: the godeploy command needs its extra: pip install 'godeploy[cli]'"


async def _python(*args: str) -> tuple[int, str, str]:
    """Run this interpreter; return its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.parametrize("missing", ["typer", "rich"])
async def test_without_the_extra_the_command_says_what_to_install(missing: str):
    # A None entry in sys.modules makes `import typer` fail as if it were not installed.
    code, stdout, stderr = await _python(
        "-c",
        f"import sys; sys.modules[{missing!r}] = None; from godeploy.cli import main; main()",
        "orders",
        "list",
    )

    assert code == 2
    assert stdout == ""
    assert stderr.splitlines() == [MISSING_EXTRA]


async def test_importing_godeploy_does_not_import_the_cli_libraries():
    code, stdout, stderr = await _python(
        "-c",
        "import sys, godeploy, godeploy.cli, godeploy.testing; "
        "cli_libraries = ('typer', 'rich', 'click'); "
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in cli_libraries))",
    )

    assert code == 0, stderr
    assert stdout.strip() == "[]"


async def test_python_dash_m_runs_the_same_command():
    code, stdout, stderr = await _python("-m", "godeploy.cli", "--version")

    assert code == 0, stderr
    assert re.fullmatch(r"godeploy \d+\.\d+\.\d+\S*\n", stdout)


async def test_fake_server_serves_until_terminated(godeploy_script: str, run_godeploy):
    server = await asyncio.create_subprocess_exec(
        godeploy_script,
        "fake-server",
        "--port",
        "0",
        "--orders",
        "20",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        banner = [(await asyncio.wait_for(server.stdout.readline(), 30)).decode() for _ in range(3)]
        url = banner[0].split(" serving on ")[1].strip()
        token = banner[1].removeprefix("token: ").strip()
        unit = banner[2].removeprefix("business unit id: ").strip()

        result = await run_godeploy(
            "orders",
            "list",
            "--json",
            *("--base-url", url, "--token", token, "--business-unit-id", unit),
            secret=token,
        )

        assert result.exit_code == 0, result.stderr
        assert len(result.json_lines()) == 20
    finally:
        server.terminate()
        await asyncio.wait_for(server.communicate(), 30)
    assert server.returncode == 0


@pytest.mark.slow
async def test_demo_runs_end_to_end(godeploy_script: str):
    process = await asyncio.create_subprocess_exec(
        godeploy_script,
        "demo",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout_bytes, stderr_bytes = await asyncio.wait_for(process.communicate(), 120)
    stdout, stderr = stdout_bytes.decode(), stderr_bytes.decode()

    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("note: embedded fake server at http://127.0.0.1:")
    for step in ("1. Every product", "2. A product's feature sets", "3. Create an order", "4. "):
        assert step in stdout
    assert "4,151 (4,150 stored, and order" in stdout
    assert "estimated from a sample of 40 orders" in stdout
    retries = re.search(r"retries\s*│\s*(\d+)", stdout)
    assert retries is not None
    assert int(retries.group(1)) >= 5  # the injected 429 and 503 answers were retried
