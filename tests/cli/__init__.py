"""Tests of the `godeploy` command (a package, so its conftest does not shadow tests/conftest)."""
