"""The reliability suite's guard: no log record of `godeploy` may carry a token.

The autouse `token_guard` fixture sets the `godeploy` logger to DEBUG for every test of the
suite, checks each record as it is emitted (its message, its arguments' reprs and any
traceback text), and fails the test if one holds a token: any token a `FakeGoDeploy` issued
during the test, any token the test registered in `token_guard.secrets`, or anything shaped
like a JWT or a bearer credential. Records are checked as they come and not kept, so the soak's
hundred thousand lines cost no memory (nor are they handed on to pytest's log capture).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from godeploy.testing import FakeGoDeploy
from tests._support.reliability import TokenGuard


@pytest.fixture(autouse=True)
def token_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenGuard]:
    """Capture every `godeploy` record at DEBUG; fail the test if one carries a token."""
    guard = TokenGuard()
    issue = FakeGoDeploy._issue_token

    def issue_and_remember(self: FakeGoDeploy) -> str:
        token = issue(self)
        guard.add_secret(token)
        return token

    monkeypatch.setattr(FakeGoDeploy, "_issue_token", issue_and_remember)
    logger = logging.getLogger("godeploy")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    # Not handed on to pytest's log capture, which keeps every record: the soak makes 100,000.
    logger.propagate = False
    logger.addHandler(guard)
    try:
        yield guard
    finally:
        logger.removeHandler(guard)
        logger.setLevel(level)
        logger.propagate = propagate
    assert not guard.leaks, f"a godeploy log record carries a token: {guard.leaks[:3]}"
