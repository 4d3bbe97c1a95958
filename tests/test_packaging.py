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


USER_EXTRAS = ("otel", "cli", "fleet", "redis")


def declared_requirements() -> dict[str, list[str]]:
    """The installed metadata's requirements: runtime under "", each extra under its name."""
    found: dict[str, list[str]] = {}
    for requirement in importlib.metadata.requires("godeploy") or []:
        spec, _, marker = requirement.partition(";")
        extra = ""
        if "extra ==" in marker:
            extra = marker.split("extra ==")[1].strip().strip("'\"")
        found.setdefault(extra, []).append(spec.strip())
    return found


def test_the_runtime_and_user_extras_declare_ranges_not_pins():
    declared = declared_requirements()
    assert set(USER_EXTRAS) <= set(declared)
    for extra in ("", *USER_EXTRAS):
        assert declared[extra], extra
        for spec in declared[extra]:
            assert "==" not in spec and "===" not in spec, (extra, spec)
            assert ">=" in spec, f"{spec!r} ({extra or 'runtime'}) states no tested floor"


def test_the_classifiers_name_exactly_the_pythons_ci_tests():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    makefile = (ROOT / "Makefile").read_text()
    matrix = next(line for line in makefile.splitlines() if line.startswith("MATRIX ?="))
    # `make test` runs on the machine's python3 (3.11 here); make test-matrix on the rest.
    tested = {"3.11", *matrix.split("=", 1)[1].split()}
    claimed = {
        classifier.rsplit(":: ", 1)[1]
        for classifier in project["classifiers"]
        if classifier.startswith("Programming Language :: Python :: 3.")
    }
    assert claimed == tested
    assert (
        project["requires-python"]
        == f">={min(tested, key=lambda v: tuple(map(int, v.split('.'))))}"
    )
