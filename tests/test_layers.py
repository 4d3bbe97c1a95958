"""The architecture's import rules, checked on the source."""

import ast
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


def test_the_fake_never_imports_the_client():
    client_modules = {
        "godeploy",
        "godeploy._client",
        "godeploy._base_client",
        "godeploy._transport",
        "godeploy.resources",
        "godeploy.pagination",
        "godeploy.fanout",
    }
    for path in (SOURCE / "testing").glob("*.py"):
        if path.name == "pytest_plugin.py":
            continue  # the plugin may use the public client, lazily
        assert not runtime_imports(path) & client_modules, path.name


def test_lower_layers_do_not_import_higher_ones():
    layers = [
        {"_generated", "_exceptions", "_config", "_converter", "_retry", "_version"},
        {"_transport"},
        {"_base_client"},
        {"pagination", "fanout"},
        {"resources"},
        {"_client"},
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
