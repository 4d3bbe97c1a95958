"""What both generators share: where the spec is and how the output is formatted."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["ROOT", "SPEC", "format_module", "load_module"]

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "orders-v2.yaml"


def format_module(path: Path) -> None:
    """Sort imports and format with the project's pinned ruff and its settings in pyproject.toml."""
    ruff = [sys.executable, "-m", "ruff"]
    settings = ["--config", str(ROOT / "pyproject.toml")]
    subprocess.run(
        [*ruff, "check", *settings, "--select", "I", "--fix", "--quiet", str(path)], check=True
    )
    subprocess.run([*ruff, "format", *settings, "--quiet", str(path)], check=True)


def load_module(path: Path, name: str) -> ModuleType:
    """Import a generated module from a file, registered under `name` so its annotations resolve."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
