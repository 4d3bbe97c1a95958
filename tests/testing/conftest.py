"""Fixtures of the FakeGoDeploy tests: a fake at the reference's scale, a session, a caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from godeploy.testing import FakeGoDeploy
from tests._support.fake import Api


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeGoDeploy]:
    async with FakeGoDeploy(seed=7) as running:
        yield running


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # A bound on every call: a broken fake must fail a test, not hang it.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client_session:
        yield client_session


@pytest.fixture
def api(fake: FakeGoDeploy, session: aiohttp.ClientSession) -> Api:
    return Api(fake, session)
