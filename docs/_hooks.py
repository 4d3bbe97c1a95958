"""MkDocs hook: under `mkdocs build --strict`, a public name without a docstring fails the build.

mkdocstrings renders an undocumented object silently (`show_if_no_docstring`), so this hook
walks what the API reference shows (the `__all__` of each module below, and the methods and
properties those classes define) with griffe and logs a warning for each one with no docstring.
"""

from __future__ import annotations

import logging
from typing import Any

import griffe

log = logging.getLogger("mkdocs.hooks.docstrings")

# The modules of the API reference (docs/reference/).
MODULES = ("godeploy", "godeploy.resources", "godeploy.testing", "godeploy.fleet")


def _missing(obj: griffe.Object | griffe.Alias, path: str) -> list[str]:
    target = obj.final_target if obj.is_alias else obj
    missing = [] if target.docstring and target.docstring.value.strip() else [path]
    if target.is_class:
        for name, member in target.members.items():
            if name.startswith("_") or member.is_alias or member.is_attribute:
                continue
            if not (member.docstring and member.docstring.value.strip()):
                missing.append(f"{path}.{name}")
    return missing


def undocumented() -> list[str]:
    """The public names of the reference's modules that have no docstring."""
    missing: list[str] = []
    for module_name in MODULES:
        module = griffe.load(module_name, search_paths=["src"], resolve_aliases=True)
        for name in module.exports or []:
            if name.startswith("__"):
                continue
            missing += _missing(module[name], f"{module_name}.{name}")
    return sorted(set(missing))


def on_pre_build(config: Any) -> None:
    """Warn (an error under --strict) for each public name without a docstring."""
    for path in undocumented():
        log.warning("%s has no docstring: the API reference would show it bare", path)
