"""Schemathesis against the fake: generated valid and invalid requests for every operation.

Bounded and deterministic: a fixed number of derandomized examples per operation, with the
fake on loopback in a thread of its own (schemathesis calls it synchronously). Its checks cover
server errors, status codes, content types, response schemas and headers the spec declares,
rejection of schema-invalid requests (400/401/404/405/406/415...) and acceptance of valid ones.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis

from godeploy.testing import FakeGoDeploy
from tests._support.fake import SPEC_PATH

FAKE = FakeGoDeploy(seed=11, order_count=300, log_size=100)
FEATURE_SET_ID = str(FAKE.feature_sets(FAKE.products()[0]["id"])[0]["id"])

CONFIG = schemathesis.Config.from_dict(
    {
        "headers": {"Authorization": f"Bearer {FAKE.token}"},
        # A random UUID names no business unit (403): use the fake's so requests go deep.
        "parameters": {"query.businessUnitId": str(FAKE.business_unit_id)},
        "generation": {
            "mode": "all",
            "max-examples": 100,
            "deterministic": True,
        },
    }
)
schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(FAKE.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="fake-godeploy", daemon=True)
    thread.start()
    assert started.wait(10), "the fake did not start"
    try:
        yield str(FAKE.url)
    finally:
        asyncio.run_coroutine_threadsafe(FAKE.aclose(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def honour_rules_the_schema_cannot_state(body: Any) -> None:
    """Make a generated create body meet the two rules beyond JSON Schema, as a client must.

    Feature set ids must name a feature set of the unit, and `contactEmail` is required (and
    so not empty) when `emailKeys` is true (`x-required-when`). Only values of the right type
    are replaced, so type mutations of negative cases survive and must still be rejected.
    """
    if not isinstance(body, dict):
        return
    items = body.get("orderItems")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("featureSetId"), str):
                item["featureSetId"] = FEATURE_SET_ID
    if body.get("emailKeys") is True and body.get("contactEmail", "") == "":
        body["contactEmail"] = "keys@example.com"


@schema.parametrize()
@pytest.mark.slow  # hundreds of generated requests per operation (~12 s)
def test_the_fake_conforms_to_the_spec(case: schemathesis.Case, base_url: str) -> None:
    if case.operation.label == "POST /api/v2/orders":
        honour_rules_the_schema_cannot_state(case.body)
    case.call_and_validate(base_url=base_url)
