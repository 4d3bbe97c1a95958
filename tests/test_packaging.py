"""The package's metadata: one version source, and the license it claims, shipped."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import godeploy

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_is_written_once_and_read_by_the_build():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    assert importlib.metadata.version("godeploy") == godeploy.__version__


def test_the_license_file_matches_the_declared_license():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "godeploy contributors" in text
    assert importlib.metadata.metadata("godeploy")["License-Expression"] == "MIT"
