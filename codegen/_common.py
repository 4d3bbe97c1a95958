"""What both generators share: where the spec is and how the output is formatted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "SPEC", "format_module"]

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
