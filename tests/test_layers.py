"""The architecture's import rules, checked on the source."""

import ast
import subprocess
import sys
from pathlib import Path

import godeploy

SOURCE = Path(godeploy.__file__).parent


def runtime_imports(path: Path) -> set[str]:
    """Modules a file imports at run time (imports under `if TYPE_CHECKING:` excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def sdk_files() -> list[Path]:
    return [
        path
        for path in SOURCE.rglob("*.py")
        if not {"testing", "cli"} & set(path.relative_to(SOURCE).parts)
    ]


def test_only_the_transport_imports_aiohttp():
    users = {
        path.relative_to(SOURCE).as_posix()
        for path in sdk_files()
        if any(name == "aiohttp" or name.startswith("aiohttp.") for name in runtime_imports(path))
    }
    assert users == {"_transport.py"}


def test_only_telemetry_imports_opentelemetry_and_only_when_used():
    users = {
        path.relative_to(SOURCE).as_posix()
        for path in sdk_files()
        if any(name.split(".")[0] == "opentelemetry" for name in runtime_imports(path))
    }
    assert users == {"_telemetry.py"}
    # Not at the top of the module: `godeploy[otel]` is optional and importing it costs time.
    tree = ast.parse((SOURCE / "_telemetry.py").read_text(encoding="utf-8"))
    top_level = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [None])
    }
    assert not {name for name in top_level if name and name.startswith("opentelemetry")}


def test_telemetry_imports_only_the_bottom_layer():
    allowed = {f"godeploy.{name}" for name in BOTTOM} | {"godeploy._hooks", "godeploy._telemetry"}
    for name in ("_hooks.py", "_telemetry.py"):
        imported = {
            module for module in runtime_imports(SOURCE / name) if module.startswith("godeploy")
        }
        assert imported <= allowed, name


def test_only_the_fleet_imports_redis_and_arq():
    users = {
        path.relative_to(SOURCE).as_posix()
        for path in sdk_files()
        if {name.partition(".")[0] for name in runtime_imports(path)} & {"redis", "arq"}
    }
    assert users
    assert all(user.startswith("fleet/") for user in users), users


def test_importing_the_sdk_needs_no_fleet_extra():
    code = "import sys, godeploy; assert not {'redis', 'arq'} & set(sys.modules), sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_fake_never_imports_the_client():
    client_modules = {
        "godeploy",
        # The fake keeps its own truth: it writes and reads JSON with godeploy._json, and never
        # decodes through the SDK's converter (a converter bug would cancel out in the tests).
        "godeploy._converter",
        "godeploy._client",
        "godeploy._auth",
        "godeploy._pacing",
        "godeploy._core",
        "godeploy._transport",
        "godeploy.resources",
        "godeploy.pagination",
        "godeploy.fanout",
    }
    for path in (SOURCE / "testing").glob("*.py"):
        if path.name == "pytest_plugin.py":
            continue  # the plugin may use the public client, lazily
        assert not runtime_imports(path) & client_modules, path.name


BOTTOM = {
    "_json",
    "_lifecycle",
    "_generated.models",
    "_generated.decoders",
    "_generated.operations",
    "_exceptions",
    "_config",
    "_converter",
    "_retry",
    "_version",
    "_environment",
    "_options",
}


def test_lower_layers_do_not_import_higher_ones():
    layers = [
        {"_json", "_lifecycle", "_version"},
        BOTTOM - {"_json", "_lifecycle", "_version"},
        # Raw responses wrap what the transport answered; the core and resources use them.
        {"_transport", "_response"},
        {"_auth", "_pacing"},
        # Telemetry sits beside the core: only the core and what is above it use it.
        {"_hooks", "_telemetry"},
        {"_core"},
        {"pagination", "fanout"},
        {"resources"},
        {"_client"},
        {"fleet"},
    ]
    rank = {name: level for level, names in enumerate(layers) for name in names}
    for path in sdk_files():
        relative = path.relative_to(SOURCE).with_suffix("").as_posix().replace("/", ".")
        own = next((rank[name] for name in rank if relative.startswith(name)), None)
        if own is None:
            continue
        for module in runtime_imports(path):
            if not module.startswith("godeploy."):
                continue
            target = module.removeprefix("godeploy.")
            level = next((rank[name] for name in rank if target.startswith(name)), None)
            assert level is None or level <= own, f"{relative} imports {module}"


def test_the_json_module_imports_nothing_of_the_sdk():
    assert not {m for m in runtime_imports(SOURCE / "_json.py") if m.startswith("godeploy")}


def test_the_converter_builds_no_code_at_import_time():
    """No exec, no builtin compile, no linecache: its fast path is generated by `make codegen`."""
    tree = ast.parse((SOURCE / "_converter.py").read_text(encoding="utf-8"))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not {"exec", "eval", "compile"} & names
    assert not {m for m in runtime_imports(SOURCE / "_converter.py") if "linecache" in m}


def test_the_lifecycle_module_imports_nothing_of_the_sdk():
    """Everything, the fake included, may use it: so it may use nothing of the SDK."""
    assert not {m for m in runtime_imports(SOURCE / "_lifecycle.py") if m.startswith("godeploy")}
