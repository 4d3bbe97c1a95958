"""Helpers shared by the whole suite: a client of the fake with fast retries, a leak check.

Every test module imports them the same way, from the repository root (pytest's `pythonpath`
puts it on the path): `from tests.support import FAST_RETRIES, make_client`.
"""

from __future__ import annotations

from typing import Any

from godeploy import GoDeployClient, RetryPolicy
from godeploy.testing import FakeGoDeploy

__all__ = ["FAST_RETRIES", "acquired_connections", "make_client"]

FAST_RETRIES = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_cap=0.01)
"""The default policy's shape (3 retries, full jitter) with millisecond backoffs."""


def make_client(fake: FakeGoDeploy, **options: Any) -> GoDeployClient:
    """A client of `fake` with fast retries unless told otherwise."""
    options.setdefault("retry_policy", FAST_RETRIES)
    return GoDeployClient(fake.token, fake.business_unit_id, base_url=fake.url, **options)


def acquired_connections(client: GoDeployClient) -> int:
    """Connections the client's connector has handed out and not got back."""
    session = client.transport.session  # type: ignore[attr-defined]
    return 0 if session is None else len(session.connector._acquired)
