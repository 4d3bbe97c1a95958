"""Rules every `godeploy` command keeps, checked on the command tree and on the source.

(typer vendors click as `typer._click`: its commands are not the `click` package's.)
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import typer.main
from typer.core import TyperGroup

import godeploy
import godeploy.cli
from godeploy.cli._app import app

CLI_SOURCE = Path(godeploy.cli.__file__).parent
SOURCE = Path(godeploy.__file__).parent
CONNECTION_OPTIONS = {
    "--token",
    "--business-unit-id",
    "--base-url",
    "--fake",
    "--allow-insecure-http",
}
# The only command that starts a fake on its own: it never talks to a real API.
WITHOUT_CONNECTION = {"godeploy fake-server"}
# They talk to the fleet's Redis only (`--redis`), never to the API.
REDIS_ONLY = {"godeploy fleet status", "godeploy fleet cancel"}
STREAMS = ("stdout", "stderr", "__stdout__", "__stderr__")
WRITES = ("write", "writelines")


def _leaf_commands(command: Any, path: str) -> dict[str, Any]:
    """Every runnable command of the tree, by its full name."""
    if not isinstance(command, TyperGroup):
        return {path: command}
    found: dict[str, Any] = {}
    for name, child in command.commands.items():
        found.update(_leaf_commands(child, f"{path} {name}"))
    return found


def _options(command: Any) -> set[str]:
    return {name for param in command.params for name in param.opts if name.startswith("--")}


def test_every_command_but_fake_server_takes_the_connection_options():
    commands = _leaf_commands(typer.main.get_command(app), "godeploy")

    assert commands.keys() >= WITHOUT_CONNECTION | REDIS_ONLY
    for path, command in commands.items():
        if path in WITHOUT_CONNECTION | REDIS_ONLY:
            assert not _options(command) & CONNECTION_OPTIONS, path
            if path in REDIS_ONLY:
                assert "--redis" in _options(command), path
        else:
            assert _options(command) >= CONNECTION_OPTIONS, path
            envvars = {param.name: param.envvar for param in command.params}
            assert envvars["token"] == "GODEPLOY_TOKEN", path
            assert envvars["business_unit_id"] == "GODEPLOY_BUSINESS_UNIT_ID", path
            assert envvars["base_url"] == "GODEPLOY_BASE_URL", path


def _raw_output_calls(path: Path) -> list[str]:
    """`print(...)`, `typer.echo(...)`, `sys.stdout.write(...)` and the like in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        called = ast.unparse(node.func)
        if (
            called == "print"
            or called.rsplit(".", 1)[-1] in {"echo", "secho"}
            or called in {f"sys.{stream}.{write}" for stream in STREAMS for write in WRITES}
        ):
            found.append(f"{path.name}:{node.lineno}: {called}")
    return found


def test_the_cli_prints_through_its_rich_consoles_only():
    # `__init__` is the exception: it reports a missing extra, when rich may not be installed.
    files = [path for path in CLI_SOURCE.glob("*.py") if path.name != "__init__.py"]

    assert [call for path in sorted(files) for call in _raw_output_calls(path)] == []


def test_the_command_package_holds_commands_only():
    # The demos are scripts in examples/ (`make demo`, `make demo-fleet`), not commands.
    commands = _leaf_commands(typer.main.get_command(app), "godeploy")

    assert not [path for path in commands if "demo" in path]
    assert not [path.name for path in CLI_SOURCE.glob("*.py") if "demo" in path.name]


def _decorators(function: ast.AsyncFunctionDef | ast.FunctionDef) -> list[str]:
    return [ast.unparse(decorator) for decorator in function.decorator_list]


def test_every_api_command_is_made_by_the_one_decorator():
    tree = ast.parse((CLI_SOURCE / "_app.py").read_text(encoding="utf-8"))
    commands = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(".command(" in decorator for decorator in _decorators(node))
    ]

    api = [node.name for node in commands if node.name != "fake_server"]
    assert len(api) == 9
    for node in commands:
        if node.name in api:
            assert isinstance(node, ast.AsyncFunctionDef), node.name
            assert _decorators(node)[1:] == ["api_command"], node.name


def _task_groups(tree: ast.AST) -> set[str]:
    """Names bound by `async with asyncio.TaskGroup() as name` (their tasks have an owner)."""
    return {
        item.optional_vars.id
        for node in ast.walk(tree)
        if isinstance(node, ast.AsyncWith)
        for item in node.items
        if ast.unparse(item.context_expr).endswith("TaskGroup()")
        and isinstance(item.optional_vars, ast.Name)
    }


def test_no_bare_create_task_in_the_sdk():
    bare = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        groups = _task_groups(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "create_task"
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id in groups)
            ):
                bare.append(f"{path.relative_to(SOURCE)}:{node.lineno}")

    assert bare == []
