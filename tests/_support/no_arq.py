"""Make arq unimportable in this process, as in an app that installed only `godeploy[redis]`.

Import it first (`python -c "import tests._support.no_arq; ..."`), or load it as a pytest plugin
(`pytest -p tests._support.no_arq`).
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any


class _NoArq(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == "arq" or name.startswith("arq."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)


if any(name == "arq" or name.startswith("arq.") for name in sys.modules):
    raise RuntimeError("arq is imported already: load no_arq first")
sys.meta_path.insert(0, _NoArq())
