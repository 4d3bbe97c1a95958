"""pytest setup shared by the whole suite.

A test that takes a `reference_example` argument runs once per JSON body of the reference.
Helpers (clients of the fake, leak checks) are in `tests.support`; pytest's `pythonpath`
puts the repository root on the path, so every module imports them as `tests.<module>`.
No test sees the machine's proxy variables, nor its `GODEPLOY_*` ones, unless it sets them.
"""

from __future__ import annotations

import pytest

from tests.reference_examples import REFERENCE_EXAMPLES

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
# What GoDeployClient() reads from the environment: a test sets them itself, or they are unset.
GODEPLOY_VARIABLES = (
    "GODEPLOY_TOKEN",
    "GODEPLOY_BUSINESS_UNIT_ID",
    "GODEPLOY_BASE_URL",
    "GODEPLOY_LOG",
)


@pytest.fixture(autouse=True)
def _no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite talks to loopback: no proxy of the machine stands in between, and no
    GODEPLOY_* variable of the machine configures a client."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in GODEPLOY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "reference_example" in metafunc.fixturenames:
        metafunc.parametrize(
            "reference_example", REFERENCE_EXAMPLES, ids=[e.id for e in REFERENCE_EXAMPLES]
        )
