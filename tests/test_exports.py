"""The public surface: sorted, complete, importable, typed."""

import importlib
from pathlib import Path

import godeploy
from godeploy import _exceptions
from godeploy._generated import models


def test_all_is_sorted_and_unique():
    assert godeploy.__all__ == sorted(set(godeploy.__all__))


def test_every_exported_name_resolves():
    for name in godeploy.__all__:
        assert getattr(godeploy, name) is not None, name


def test_every_error_is_exported():
    errors = {
        name
        for name in _exceptions.__all__
        if isinstance(value := getattr(_exceptions, name), type) and issubclass(value, Exception)
    }
    assert errors <= set(godeploy.__all__)


def test_every_user_facing_model_is_exported():
    pages = {"ProductPage", "FeatureSetPage", "OrderPage", "OrderItemPage"}
    generated = {
        name
        for name, value in vars(models).items()
        if isinstance(value, type) and value.__module__ == models.__name__
    }
    assert generated - pages <= set(godeploy.__all__)
    # godeploy.models is the user's models, and only those: the page envelopes stay inside.
    public = importlib.import_module("godeploy.models")
    assert set(public.__all__) == generated - pages
    assert not pages & set(vars(public))


def test_private_modules_declare_all():
    source = Path(godeploy.__file__).parent
    for path in source.glob("_*.py"):
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(f"godeploy.{path.stem}")
        assert hasattr(module, "__all__") or path.stem == "_version", path.name


def test_package_is_typed():
    assert (Path(godeploy.__file__).parent / "py.typed").exists()


def test_core_import_does_not_pull_cli_dependencies():
    import subprocess
    import sys

    code = "import sys, godeploy; print('typer' in sys.modules or 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
