"""The architecture's import rules, checked on the source."""

import ast
import re
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


def test_only_the_otel_observer_imports_opentelemetry_and_only_when_used():
    users = {
        path.relative_to(SOURCE).as_posix()
        for path in sdk_files()
        if any(name.split(".")[0] == "opentelemetry" for name in runtime_imports(path))
    }
    assert users == {"_otel.py"}
    # Not at the top of the module: `godeploy[otel]` is optional and importing it costs time.
    tree = ast.parse((SOURCE / "_otel.py").read_text(encoding="utf-8"))
    top_level = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [None])
    }
    assert not {name for name in top_level if name and name.startswith("opentelemetry")}


OBSERVERS = {"godeploy._hooks", "godeploy._otel"}


def test_the_core_tells_only_the_observer_interface():
    """The call loop, pages, fan-out and resources know `_observers`, never hooks or OTel."""
    core = [SOURCE / name for name in ("_core.py", "pagination.py", "fanout.py", "_observers.py")]
    core += sorted((SOURCE / "resources").glob("*.py"))
    for path in core:
        imported = runtime_imports(path)
        assert not imported & OBSERVERS, path.name
        assert not {name for name in imported if name.split(".")[0] == "opentelemetry"}, path.name
    assert "godeploy._observers" in runtime_imports(SOURCE / "_core.py")


def test_observers_import_only_the_bottom_layer_and_the_interface():
    allowed = {f"godeploy.{name}" for name in BOTTOM} | {"godeploy._observers"}
    for name in ("_observers.py", "_hooks.py", "_otel.py"):
        imported = {
            module for module in runtime_imports(SOURCE / name) if module.startswith("godeploy")
        }
        assert imported <= allowed, name


_PRIVATE_OTEL_ATTRIBUTE = re.compile(r"^_(internal|[A-Z][A-Za-z]*|[A-Z_]+)$")


def otel_privates(path: Path) -> list[str]:
    """Private OpenTelemetry names a file uses: `_x` modules or names imported, `X._Name`
    attributes, `getattr(x, "_name")`, in a file that imports opentelemetry at all."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    uses_otel = False
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("opentel"):
            uses_otel = True
            found += [node.module for part in node.module.split(".") if part.startswith("_")]
            found += [alias.name for alias in node.names if alias.name.startswith("_")]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("opentelemetry"):
                    uses_otel = True
                    found += [alias.name for part in alias.name.split(".") if part.startswith("_")]
    if not uses_otel:
        return []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _PRIVATE_OTEL_ATTRIBUTE.match(node.attr)) or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "setattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and _PRIVATE_OTEL_ATTRIBUTE.match(str(node.args[1].value))
        ):
            found.append(ast.unparse(node))
    return found


def test_only_public_opentelemetry_names_are_used():
    """Issue 16.2: a private name of OpenTelemetry may go in any release (src and tests)."""
    tests = Path(__file__).parent
    files = [*SOURCE.rglob("*.py"), *tests.rglob("*.py")]
    used = {path.name: otel_privates(path) for path in files}
    assert {name: names for name, names in used.items() if names} == {}


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
    "_slots",
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
        {"_json", "_lifecycle", "_slots", "_version"},
        BOTTOM - {"_json", "_lifecycle", "_slots", "_version"},
        # Raw responses wrap what the transport answered; the core and resources use them.
        {"_transport", "_response"},
        {"_auth", "_pacing"},
        # Observers sit beside the core: only the core and what is above it use them.
        {"_observers", "_hooks", "_otel"},
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
