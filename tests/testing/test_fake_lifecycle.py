"""FakeGoDeploy starts on loopback with an ephemeral port, and closes cleanly (and twice)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from uuid import UUID

import aiohttp
import psutil
import pytest

from godeploy.testing import FakeGoDeploy, Fault
from tests._support.fake import Api


def _jwt_part(part: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_listens_on_loopback_with_an_ephemeral_port(session):
    async with FakeGoDeploy(seed=7) as fake:
        assert fake.running
        assert fake.url.scheme == "http"
        assert fake.url.host == "127.0.0.1"
        assert fake.url.port not in (None, 0, 80)
        assert fake.url.path in ("", "/")
        reply = await Api(fake, session).get("/api/v2/products")
        assert reply.status == 200


async def test_listens_on_loopback_only():
    async with FakeGoDeploy(seed=7) as fake:
        listening = [
            c
            for c in psutil.Process().net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == fake.url.port
        ]
        assert listening
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}


async def test_two_fakes_get_two_ports():
    async with FakeGoDeploy() as first, FakeGoDeploy() as second:
        assert first.url.port != second.url.port


async def test_listens_on_the_port_it_is_given(session):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    async with FakeGoDeploy(port=free_port) as fake:
        assert fake.url.port == free_port
        assert (await Api(fake, session).get("/api/v2/orders")).status == 200


async def test_close_stops_listening_and_is_idempotent(session):
    fake = FakeGoDeploy()
    await fake.start()
    url = fake.url
    await fake.aclose()
    await fake.aclose()
    assert not fake.running
    with pytest.raises(aiohttp.ClientConnectionError):
        async with session.get(url.with_path("/api/v2/orders")):
            pass


async def test_close_before_start_is_harmless():
    fake = FakeGoDeploy()
    await fake.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await fake.start()


async def test_start_twice_and_restart_are_refused():
    async with FakeGoDeploy() as fake:
        with pytest.raises(RuntimeError, match="already running"):
            await fake.start()
    with pytest.raises(RuntimeError, match="closed"):
        await fake.start()


def test_url_needs_a_running_fake():
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeGoDeploy().url


def test_identity_is_known_before_start_and_jwt_shaped():
    fake = FakeGoDeploy(seed=7)
    assert isinstance(fake.business_unit_id, UUID)
    assert isinstance(fake.other_business_unit_id, UUID)
    assert fake.business_unit_id != fake.other_business_unit_id
    header, claims, signature = fake.token.split(".")
    assert _jwt_part(header) == {"alg": "HS256", "typ": "JWT"}
    payload = _jwt_part(claims)
    assert payload["name"] == "John Smith"
    assert str(fake.business_unit_id) in payload["bu"]  # type: ignore[operator]
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32


def test_identity_is_deterministic_for_a_seed():
    one, again, other = FakeGoDeploy(seed=7), FakeGoDeploy(seed=7), FakeGoDeploy(seed=8)
    assert (one.token, one.business_unit_id) == (again.token, again.business_unit_id)
    assert one.token != other.token
    assert one.business_unit_id != other.business_unit_id


@pytest.mark.parametrize(
    "options",
    [{"product_count": 0}, {"order_count": -1}, {"port": 70000}, {"log_size": -1}],
)
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError):
        FakeGoDeploy(**options)


def test_repr_says_where_it_listens():
    assert "not started" in repr(FakeGoDeploy(seed=3))


def test_public_api_is_sorted_and_documented():
    import inspect

    import godeploy.testing as testing

    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        assert hasattr(testing, name), name
    for cls in (testing.FakeGoDeploy, testing.Fault, testing.Faults, testing.FaultRule):
        assert inspect.getdoc(cls)
        for member_name, member in vars(cls).items():
            if not member_name.startswith("_"):
                function = getattr(member, "__func__", getattr(member, "fget", member))
                if callable(function):
                    assert inspect.getdoc(function), f"{cls.__name__}.{member_name}"


async def test_close_does_not_wait_for_stalled_requests(session):
    fake = FakeGoDeploy(order_count=5)
    await fake.start()
    fake.faults.add(Fault.stall(3600))
    pending = asyncio.create_task(Api(fake, session).get("/api/v2/orders"))
    while not fake.requests:
        await asyncio.sleep(0.01)
    # Waiting for the hour-long stall would hang here: closing cancels the stalled handler.
    await fake.aclose()
    assert fake.requests[-1].status is None
    with pytest.raises(aiohttp.ClientError):
        await pending
