"""pytest setup shared by the whole suite.

A test that takes a `reference_example` argument runs once per JSON body of the reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The repository root, so tests can import `codegen` and `tests.reference_examples`.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.reference_examples import REFERENCE_EXAMPLES  # noqa: E402


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "reference_example" in metafunc.fixturenames:
        metafunc.parametrize(
            "reference_example", REFERENCE_EXAMPLES, ids=[e.id for e in REFERENCE_EXAMPLES]
        )
