"""The client as an application sees it: the environment, derived clients, extra headers and
query, raw responses and the GODEPLOY_LOG switch (issue 16, items 5-8 and 10)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from godeploy import (
    APIResponse,
    ClientClosedError,
    GoDeployClient,
    OrderOutcomeUnknownError,
    RequestValidationError,
    RetryPolicy,
    ServiceUnavailableError,
    Timeout,
)
from godeploy.testing import FakeGoDeploy, Fault
from tests._support import make_client


def _feature_set_id(fake: FakeGoDeploy) -> str:
    product = fake.products()[0]
    return str(fake.feature_sets(product["id"])[0]["id"])


# --- 5. configuration from the environment ----------------------------------------------------


async def test_client_reads_token_unit_and_base_url_from_the_environment(
    fake_godeploy, monkeypatch
):
    monkeypatch.setenv("GODEPLOY_TOKEN", fake_godeploy.token)
    monkeypatch.setenv("GODEPLOY_BUSINESS_UNIT_ID", str(fake_godeploy.business_unit_id))
    monkeypatch.setenv("GODEPLOY_BASE_URL", str(fake_godeploy.url))
    order_id = fake_godeploy.order_ids()[0]
    async with GoDeployClient() as client:
        assert client.business_unit_id == str(fake_godeploy.business_unit_id)
        assert str(client.base_url).rstrip("/") == str(fake_godeploy.url).rstrip("/")
        order = await client.orders.get(order_id)
        assert fake_godeploy.token not in repr(client)
    assert order.id == order_id
    assert fake_godeploy.requests[-1].authenticated


async def test_explicit_arguments_win_over_the_environment(fake_godeploy, monkeypatch):
    monkeypatch.setenv("GODEPLOY_TOKEN", "not-the-token")
    monkeypatch.setenv("GODEPLOY_BUSINESS_UNIT_ID", str(fake_godeploy.other_business_unit_id))
    monkeypatch.setenv("GODEPLOY_BASE_URL", "https://example.invalid/")
    order_id = fake_godeploy.order_ids()[0]
    async with make_client(fake_godeploy) as client:
        assert (await client.orders.get(order_id)).id == order_id
    record = fake_godeploy.requests[-1]
    assert record.authenticated
    assert record.query["businessUnitId"] == str(fake_godeploy.business_unit_id)


def test_no_token_anywhere_names_the_variable(monkeypatch):
    monkeypatch.delenv("GODEPLOY_TOKEN", raising=False)
    with pytest.raises(RequestValidationError, match="GODEPLOY_TOKEN"):
        GoDeployClient()
    monkeypatch.setenv("GODEPLOY_TOKEN", "")  # an empty variable counts as unset, as in the CLI
    with pytest.raises(RequestValidationError, match="GODEPLOY_TOKEN"):
        GoDeployClient()


def test_bad_environment_values_name_their_variable(monkeypatch):
    monkeypatch.setenv("GODEPLOY_TOKEN", "secret-token-value")
    monkeypatch.setenv("GODEPLOY_BUSINESS_UNIT_ID", "not-a-uuid")
    with pytest.raises(RequestValidationError, match="GODEPLOY_BUSINESS_UNIT_ID") as caught:
        GoDeployClient()
    assert "secret-token-value" not in str(caught.value)
    monkeypatch.delenv("GODEPLOY_BUSINESS_UNIT_ID")
    monkeypatch.setenv("GODEPLOY_BASE_URL", "ftp://example.com/")
    with pytest.raises(RequestValidationError, match="GODEPLOY_BASE_URL"):
        GoDeployClient()


# --- 6. derived clients -----------------------------------------------------------------------


async def test_derived_client_without_retries_sends_one_request_while_the_parent_retries(
    fake_godeploy,
):
    order_id = fake_godeploy.order_ids()[0]
    async with make_client(fake_godeploy) as client:
        derived = client.with_options(max_retries=0)
        assert isinstance(derived, GoDeployClient)
        assert derived.transport is client.transport
        assert derived.limits is client.limits
        fake_godeploy.faults.script("getOrder", [Fault.status(503), Fault.status(503)])
        with pytest.raises(ServiceUnavailableError):
            await derived.orders.get(order_id)
        assert fake_godeploy.count("getOrder") == 1
        assert (await client.orders.get(order_id)).id == order_id
        assert fake_godeploy.count("getOrder") == 3  # one 503, then the retry that worked
        await derived.aclose()
        assert derived.is_closed and not client.is_closed
        with pytest.raises(ClientClosedError):
            await derived.orders.get(order_id)
        assert (await client.orders.get(order_id)).id == order_id


async def test_closing_the_parent_ends_its_derived_clients(fake_godeploy):
    order_id = fake_godeploy.order_ids()[0]
    client = make_client(fake_godeploy)
    derived = client.with_options(timeout=5)
    grandchild = derived.with_options(max_retries=1)
    assert (await grandchild.orders.get(order_id)).id == order_id
    await client.aclose()
    assert derived.is_closed and grandchild.is_closed
    for closed in (derived, grandchild):
        with pytest.raises(ClientClosedError):
            await closed.orders.get(order_id)
    await derived.aclose()  # idempotent, and harmless after the parent


async def test_derived_client_changes_only_what_it_is_given(fake_godeploy):
    other = fake_godeploy.other_business_unit_id
    async with make_client(fake_godeploy, default_headers={"X-App": "shop"}) as client:
        derived = client.with_options(
            business_unit_id=other,
            timeout=Timeout(total=9),
            retry_policy=RetryPolicy(max_retries=1, backoff_base=0.001, backoff_cap=0.01),
            default_headers={"X-Tenant": "t1"},
        )
        assert derived.business_unit_id == str(other)
        assert client.business_unit_id == str(fake_godeploy.business_unit_id)
        await derived.orders.get(fake_godeploy.order_ids(other)[0])
        record = fake_godeploy.requests[-1]
        assert record.query["businessUnitId"] == str(other)
        assert record.headers["X-App"] == "shop" and record.headers["X-Tenant"] == "t1"
        await client.orders.get(fake_godeploy.order_ids()[0])
        assert "X-Tenant" not in fake_godeploy.requests[-1].headers
        with pytest.raises(RequestValidationError, match="max_retries"):
            client.with_options(max_retries=-1)
        with pytest.raises(RequestValidationError, match="business"):
            client.with_options(business_unit_id="nope")


async def test_derived_clients_never_warn_when_dropped(fake_godeploy):
    async with make_client(fake_godeploy) as client:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            derived = client.with_options(max_retries=0)
            await derived.orders.get(fake_godeploy.order_ids()[0])
            del derived
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


# --- 7. extra headers and query ---------------------------------------------------------------


async def test_default_and_extra_headers_and_query_reach_every_call(fake_godeploy):
    product = fake_godeploy.products()[0]
    extra = {"extra_headers": {"X-Call": "c1"}, "extra_query": {"trace": "t9"}}
    async with make_client(fake_godeploy, default_headers={"X-App": "shop"}) as client:
        await client.products.get(product["id"], **extra)
        await client.feature_sets.get(
            product["id"], fake_godeploy.feature_sets(product["id"])[0]["id"], **extra
        )
        ids = [order.id async for order in client.orders.list(page_size=5, max_items=15, **extra)]
        [p async for p in client.products.list(page_size=50, max_items=60, **extra)]
        [fs async for fs in client.feature_sets.list(product["id"], **extra)]
        await client.orders.get(ids[0], **extra)
        [item async for item in client.order_items.list(ids[0], **extra)]
        async with client.order_items.for_orders(ids[:3], **extra) as results:
            assert all([result.ok async for result in results])
        await client.orders.create(
            purchase_order_reference="PO-extra",
            email_keys=False,
            order_items=[{"feature_set_id": _feature_set_id(fake_godeploy), "quantity": 1}],
            **extra,
        )
    records = fake_godeploy.requests
    assert {r.route for r in records} == {
        "getProduct",
        "getFeatureSet",
        "listOrders",
        "listProducts",
        "listFeatureSets",
        "getOrder",
        "listOrderItems",
        "createOrder",
    }
    for record in records:
        assert record.headers["X-App"] == "shop", record.route
        assert record.headers["X-Call"] == "c1", record.route
        assert record.query["trace"] == "t9", (record.route, record.query)
    # Page 2 and 3 came from the API's next links, which carry only _page.
    pages = [r.query["_page"] for r in records if r.route == "listOrders"]
    assert pages == ["1", "2", "3"]


async def test_without_extras_nothing_extra_is_sent(fake_godeploy):
    async with make_client(fake_godeploy) as client:
        await client.orders.get(fake_godeploy.order_ids()[0], extra_headers={"X-Once": "1"})
        await client.orders.get(fake_godeploy.order_ids()[0])
    first, second = fake_godeploy.requests
    assert first.headers["X-Once"] == "1" and "X-Once" not in second.headers
    assert set(second.query) == {"businessUnitId"}


@pytest.mark.parametrize(
    "extras",
    [
        {"extra_headers": {"authorization": "Bearer mine"}},
        {"extra_headers": {"AUTHORIZATION": "x"}},
        {"extra_query": {"businessunitid": "x"}},
        {"extra_query": {"_PAGE": 3}},
        {"extra_query": {"_pageSize": 3}},
        {"extra_headers": {"X-Bad": "line\r\nbreak"}},
        {"extra_headers": {"X-Bad": 3}},
        {"extra_query": {"flag": object()}},
    ],
)
async def test_extras_cannot_replace_what_the_sdk_owns(fake_godeploy, extras):
    order_id = fake_godeploy.order_ids()[0]
    async with make_client(fake_godeploy) as client:
        with pytest.raises(RequestValidationError):
            await client.orders.get(order_id, **extras)
        with pytest.raises(RequestValidationError):
            [o async for o in client.orders.list(**extras)]
        with pytest.raises(RequestValidationError):
            client.order_items.for_orders([order_id], **extras)
        with pytest.raises(RequestValidationError):
            await client.orders.create(
                purchase_order_reference="PO-owned",
                email_keys=False,
                order_items=[{"feature_set_id": _feature_set_id(fake_godeploy), "quantity": 1}],
                **extras,
            )
    assert fake_godeploy.requests == []


def test_default_headers_cannot_carry_the_token(fake_godeploy):
    with pytest.raises(RequestValidationError, match="Authorization"):
        make_client(fake_godeploy, default_headers={"Authorization": "Bearer other"})


# --- 8. raw responses -------------------------------------------------------------------------


async def test_raw_get_gives_the_request_id_header_and_the_plain_model(fake_godeploy):
    order_id = fake_godeploy.order_ids()[0]
    async with make_client(fake_godeploy) as client:
        raw = await client.orders.with_raw_response.get(order_id)
        plain = await client.orders.get(order_id)
    assert isinstance(raw, APIResponse)
    assert raw.status_code == 200
    sent = fake_godeploy.requests[0]
    assert sent.request_id is not None
    assert raw.request_id == sent.request_id == raw.headers["x-request-id"]
    assert raw.headers["X-REQUEST-ID"] == raw.request_id  # case-insensitive
    with pytest.raises(TypeError):
        raw.headers["X-Request-Id"] = "mine"  # type: ignore[index]
    assert raw.elapsed >= 0
    assert raw.parse() == plain
    assert fake_godeploy.token not in repr(raw)


async def test_every_get_has_a_raw_response(fake_godeploy):
    product = fake_godeploy.products()[0]
    feature_set = fake_godeploy.feature_sets(product["id"])[0]
    async with make_client(fake_godeploy) as client:
        raw_product = await client.products.with_raw_response.get(product["id"])
        raw_feature_set = await client.feature_sets.with_raw_response.get(
            product["id"], feature_set["id"], extra_headers={"X-Call": "1"}
        )
        assert raw_product.parse() == await client.products.get(product["id"])
        assert raw_feature_set.parse() == await client.feature_sets.get(
            product["id"], feature_set["id"]
        )
    assert fake_godeploy.requests[1].headers["X-Call"] == "1"


async def test_raw_create_keeps_the_create_guarantees(fake_godeploy):
    order = {
        "purchase_order_reference": "PO-raw",
        "email_keys": False,
        "order_items": [{"feature_set_id": _feature_set_id(fake_godeploy), "quantity": 2}],
    }
    async with make_client(fake_godeploy) as client:
        raw = await client.orders.with_raw_response.create(**order)
        assert raw.status_code == 201
        created = raw.parse()
        assert created.purchasing_order_reference == "PO-raw"
        fake_godeploy.faults.script("createOrder", [Fault.status(503)])
        with pytest.raises(OrderOutcomeUnknownError):
            await client.orders.with_raw_response.create(
                **{**order, "purchase_order_reference": "PO-2"}
            )
    assert fake_godeploy.count("createOrder") == 2  # never repeated blindly


# --- 10. the GODEPLOY_LOG switch --------------------------------------------------------------

_LOG_SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, sys
    from godeploy import GoDeployClient, RetryPolicy
    from godeploy.testing import FakeGoDeploy, Fault

    async def main():
        if sys.argv[1] == "configured":
            logging.basicConfig(stream=sys.stdout, level=logging.WARNING)
        async with FakeGoDeploy(seed=7) as fake:
            fake.faults.script("getOrder", [Fault.status(503)])
            policy = RetryPolicy(max_retries=2, backoff_base=0.001, backoff_cap=0.01)
            for _ in range(2):
                async with GoDeployClient(
                    fake.token, fake.business_unit_id, base_url=fake.url, retry_policy=policy
                ) as client:
                    await client.orders.get(fake.order_ids()[0])
            print("TOKEN=" + fake.token)
            print("HANDLERS=%d" % len(logging.getLogger("godeploy").handlers))

    asyncio.run(main())
    """
)


def _run_logged(level: str, mode: str = "plain") -> tuple[str, str]:
    env = {**os.environ, "GODEPLOY_LOG": level}
    done = subprocess.run(
        [sys.executable, "-c", _LOG_SCRIPT, mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout, done.stderr


def test_godeploy_log_debug_sends_the_logger_to_stderr_once():
    stdout, stderr = _run_logged("debug")
    token = stdout.split("TOKEN=")[1].split()[0]
    assert "HANDLERS=1" in stdout
    lines = stderr.splitlines()
    attempts = [line for line in lines if "attempt=" in line]
    # Two clients, three attempts (a 503, its retry, the second client's get): each line once.
    assert len(attempts) == 3, stderr
    assert any("retry 1 of 2" in line for line in lines), stderr
    assert token not in stderr and token[-20:] not in stderr


def test_godeploy_log_info_shows_retries_but_not_attempts():
    _, stderr = _run_logged("INFO")
    assert "retry 1 of 2" in stderr
    assert "attempt=" not in stderr


def test_godeploy_log_leaves_a_configured_application_alone():
    stdout, stderr = _run_logged("debug", "configured")
    assert "HANDLERS=0" in stdout
    assert "GET /api/v2/orders/" not in stderr + stdout


def test_a_bad_godeploy_log_value_is_refused(monkeypatch):
    monkeypatch.setenv("GODEPLOY_LOG", "verbose")
    with pytest.raises(RequestValidationError, match="GODEPLOY_LOG"):
        GoDeployClient("token", allow_insecure_http=True)
