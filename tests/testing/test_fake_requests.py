"""Auth, query parameters, ids, methods and Accept: what the fake refuses, and how."""

from __future__ import annotations

import pytest

from godeploy._generated.operations import OPERATIONS, Operation
from godeploy.testing import ROUTES
from tests.testing.fake_support import assert_schema

PROBLEM = "application/problem+json; charset=utf-8"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


def example_path(route: str, fake) -> str:
    """A path of `route` that exists in the main business unit."""
    product = fake.products()[0]
    return (
        ROUTES[route][1]
        .replace("{productId}", str(product["id"]))
        .replace("{featureSetId}", str(fake.feature_sets(product["id"])[0]["id"]))
        .replace("{orderId}", str(fake.order_ids()[0]))
    )


def assert_problem(reply, status: int) -> dict:
    assert reply.status == status
    assert reply.headers["Content-Type"] == PROBLEM
    body = reply.json()
    assert_schema("ProblemDetails", body)
    assert body["status"] == status
    assert {"type", "title", "status", "traceId"} <= set(body)
    assert body["traceId"].startswith("00-")
    return body


# -- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_every_route_needs_the_token(api, fake, route):
    method, _ = ROUTES[route]
    reply = await api.call(method, example_path(route, fake), token=None, json_body={})
    body = assert_problem(reply, 401)
    assert body["detail"]
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "{token}", "Bearer {token}x"],
)
async def test_a_wrong_token_is_401(api, fake, authorization):
    header = authorization.format(token=fake.token)
    reply = await api.get("/api/v2/orders", token=None, headers={"Authorization": header})
    assert_problem(reply, 401)
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


async def test_the_bearer_scheme_is_case_insensitive(api, fake):
    reply = await api.get(
        "/api/v2/orders", token=None, headers={"Authorization": f"bearer {fake.token}"}
    )
    assert reply.status == 200


async def test_rotating_the_token_retires_the_old_one(api, fake):
    old = fake.token
    new = fake.rotate_token()
    assert new != old
    assert fake.token == new
    assert (await api.get("/api/v2/orders", token=old)).status == 401
    assert (await api.get("/api/v2/orders", token=new)).status == 200
    assert len(new.split(".")) == 3


async def test_the_token_can_be_set(api, fake):
    old = fake.token
    fake.token = "my-test-token"
    assert (await api.get("/api/v2/orders", token="my-test-token")).status == 200
    assert (await api.get("/api/v2/orders", token=old)).status == 401
    with pytest.raises(ValueError, match="token"):
        fake.token = ""


# -- businessUnitId -----------------------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_every_route_needs_a_business_unit(api, fake, route):
    method, _ = ROUTES[route]
    body = assert_problem(
        await api.call(method, example_path(route, fake), unit=None, json_body={}), 400
    )
    assert list(body["errors"]) == ["businessUnitId"] or "businessUnitId" in body["errors"]
    assert body["errors"]["businessUnitId"] == ["The businessUnitId field is required."]


@pytest.mark.parametrize("value", ["", "abc", "123", "6b126cae-c10c-466a-b867"])
async def test_a_business_unit_that_is_no_uuid_is_400(api, value):
    reply = await api.get("/api/v2/products", params={"businessUnitId": value})
    body = assert_problem(reply, 400)
    assert list(body["errors"]) == ["businessUnitId"]


# -- paging parameters ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["_page", "_pageSize"])
@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "", "1e3", "0x10", "٣"])
async def test_bad_paging_parameters_are_400(api, name, value):
    body = assert_problem(await api.get("/api/v2/orders", params={name: value}), 400)
    assert list(body["errors"]) == [name]


async def test_all_binding_errors_come_in_one_400(api):
    reply = await api.get(
        "/api/v2/orders/abc/items", unit=None, params={"_page": "0", "_pageSize": "x"}
    )
    body = assert_problem(reply, 400)
    assert set(body["errors"]) == {"businessUnitId", "_page", "_pageSize", "orderId"}


async def test_paging_parameters_do_not_apply_to_single_resources(api, fake):
    reply = await api.get(f"/api/v2/orders/{fake.order_ids()[0]}", params={"_page": "x"})
    assert reply.status == 200


# -- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v2/products/abc", "productId"),
        ("/api/v2/products/abc/feature_sets", "productId"),
        ("/api/v2/products/{product}/feature_sets/abc", "featureSetId"),
        ("/api/v2/orders/abc", "orderId"),
        ("/api/v2/orders/1.5/items", "orderId"),
        ("/api/v2/orders/99999999999999999999", "orderId"),
    ],
)
async def test_malformed_ids_are_400(api, fake, path, field):
    path = path.format(product=fake.products()[0]["id"])
    body = assert_problem(await api.get(path), 400)
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v2/products/{UNKNOWN_UUID}",
        f"/api/v2/products/{UNKNOWN_UUID}/feature_sets",
        f"/api/v2/products/{UNKNOWN_UUID}/feature_sets/{UNKNOWN_UUID}",
        "/api/v2/products/{product}/feature_sets/" + UNKNOWN_UUID,
        "/api/v2/products/{product}/feature_sets/{foreign_set}",
        "/api/v2/orders/0",
        "/api/v2/orders/-5",
        "/api/v2/orders/999999999",
        "/api/v2/orders/999999999/items",
    ],
)
async def test_unknown_ids_are_404(api, fake, path):
    product, another = fake.products()[:2]
    path = path.format(product=product["id"], foreign_set=fake.feature_sets(another["id"])[0]["id"])
    body = assert_problem(await api.get(path), 404)
    assert "errors" not in body


async def test_uppercase_ids_are_the_same_ids(api, fake):
    product = fake.products()[5]
    reply = await api.get(f"/api/v2/products/{str(product['id']).upper()}")
    assert reply.status == 200
    assert reply.json()["id"] == str(product["id"])


# -- routing, methods and Accept ------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.id)
async def test_every_generated_operation_is_served_as_the_spec_says(
    api, fake, operation: Operation
):
    """The router is the generated table: each operation reaches its handler under its id and
    answers its first success status; a list pages (`_page=2` is page 2), nothing else does."""
    body = api.order_body() if operation.has_body else {}
    params = {"_page": "2", "_pageSize": "1"}
    reply = await api.call(
        operation.method, example_path(operation.id, fake), json_body=body, params=params
    )
    assert (fake.requests[-1].route, reply.status) == (operation.id, operation.success[0])
    page = reply.json().get("_pageInfo", {}).get("pageNumber")
    assert page == (2 if operation.paginated else None)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v2/orders", "GET, POST"),
        ("PUT", "/api/v2/orders/1", "GET"),
        ("PATCH", "/api/v2/orders/1/items", "GET"),
        ("POST", "/api/v2/products", "GET"),
        ("POST", "/api/v2/products/{product}/feature_sets", "GET"),
        ("HEAD", "/api/v2/products", "GET"),
    ],
)
async def test_a_wrong_method_on_a_known_path_is_405(api, fake, method, path, allowed):
    path = path.format(product=fake.products()[0]["id"])
    reply = await api.call(method, path)
    assert reply.status == 405
    assert reply.headers["Allow"] == allowed
    if method != "HEAD":
        assert_problem(reply, 405)


@pytest.mark.parametrize("path", ["/", "/api/v2/order", "/api/v1/orders", "/api/v2/orders/1/x"])
async def test_unknown_paths_are_404(api, path):
    assert_problem(await api.get(path), 404)


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/json", 200),
        ("*/*", 200),
        ("application/*", 200),
        ("text/html, application/json;q=0.5", 200),
        ("text/html", 406),
        ("application/xml, text/plain", 406),
        ("application/json;q=0", 406),
    ],
)
async def test_accept_must_allow_json(api, accept, status):
    reply = await api.get("/api/v2/orders", headers={"Accept": accept})
    assert reply.status == status
    if status == 406:
        assert_problem(reply, 406)


async def test_auth_is_checked_before_parameters(api):
    reply = await api.get("/api/v2/orders/abc", token=None, unit=None)
    assert reply.status == 401
