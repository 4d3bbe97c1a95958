"""No drift: every answer of the fake, success or error, is what openapi/orders-v2.yaml says."""

from __future__ import annotations

import pytest

from godeploy.testing import LIST_ROUTES, ROUTES, Fault
from tests._support.fake import (
    SPEC,
    assert_response_matches_spec,
    assert_schema,
    operation,
    schema_errors,
)

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


def test_routes_are_the_specs_operations():
    declared = {
        op["operationId"]: (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    assert declared == ROUTES
    paged = {
        op_id
        for op_id in declared
        if any(p.get("$ref", "").endswith("/page") for p in operation(op_id)[2]["parameters"])
    }
    assert paged == LIST_ROUTES


def paths(fake, *, known: bool = True) -> dict[str, str]:
    product = fake.products()[0]
    product_id = product["id"] if known else UNKNOWN_UUID
    feature_set_id = fake.feature_sets(product["id"])[0]["id"] if known else UNKNOWN_UUID
    order_id = fake.order_ids()[0] if known else 999_999_999
    return {
        "listProducts": "/api/v2/products",
        "getProduct": f"/api/v2/products/{product_id}",
        "listFeatureSets": f"/api/v2/products/{product_id}/feature_sets",
        "getFeatureSet": f"/api/v2/products/{product_id}/feature_sets/{feature_set_id}",
        "listOrders": "/api/v2/orders",
        "getOrder": f"/api/v2/orders/{order_id}",
        "listOrderItems": f"/api/v2/orders/{order_id}/items",
        "createOrder": "/api/v2/orders",
    }


async def call(api, route: str, **kwargs):
    method, _ = ROUTES[route]
    if method == "POST":
        kwargs.setdefault("json_body", api.order_body())
    return await api.call(method, paths(api.fake)[route], **kwargs)


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_success_matches_the_spec(api, route):
    reply = await call(api, route)
    assert reply.status == (201 if route == "createOrder" else 200)
    assert_response_matches_spec(route, reply)


async def test_many_orders_items_and_feature_sets_match_the_spec(api, fake):
    for page in ("1", "17", "42"):
        reply = await api.get("/api/v2/orders", params={"_page": page, "_pageSize": "100"})
        assert_response_matches_spec("listOrders", reply)
    for order_id in fake.order_ids()[:150]:
        assert_response_matches_spec(
            "listOrderItems", await api.get(f"/api/v2/orders/{order_id}/items")
        )
        assert_response_matches_spec("getOrder", await api.get(f"/api/v2/orders/{order_id}"))
    for product in fake.products()[:60]:
        assert_response_matches_spec(
            "listFeatureSets", await api.get(f"/api/v2/products/{product['id']}/feature_sets")
        )
    assert_response_matches_spec(
        "listOrders", await api.get("/api/v2/orders", params={"_page": "999"})
    )


ERRORS = {
    400: {"unit": "not-a-uuid"},
    401: {"token": "wrong"},
    403: {"unit": UNKNOWN_UUID},
    406: {"headers": {"Accept": "text/html"}},
}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("status", sorted(ERRORS))
async def test_errors_match_the_spec(api, route, status):
    reply = await call(api, route, **ERRORS[status])
    assert reply.status == status
    assert_response_matches_spec(route, reply)


@pytest.mark.parametrize(
    "route", sorted(set(ROUTES) - {"listProducts", "listOrders", "createOrder"})
)
async def test_not_found_matches_the_spec(api, fake, route):
    reply = await api.call(ROUTES[route][0], paths(fake, known=False)[route])
    assert reply.status == 404
    assert_response_matches_spec(route, reply)


async def test_create_errors_match_the_spec(api):
    invalid = await api.post_order({"orderItems": []})
    unsupported = await api.call(
        "POST", "/api/v2/orders", data=b"x", headers={"Content-Type": "text/plain"}
    )
    assert (invalid.status, unsupported.status) == (400, 415)
    assert_response_matches_spec("createOrder", invalid)
    assert_response_matches_spec("createOrder", unsupported)


async def test_method_and_path_errors_match_the_spec(api):
    wrong_method = await api.call("DELETE", "/api/v2/orders")
    assert wrong_method.status == 405
    assert_response_matches_spec("listOrders", wrong_method)
    assert_schema("ProblemDetails", (await api.get("/api/v2/nothing")).json())


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(429, retry_after=1),
        Fault.status(500),
        Fault.status(502),
        Fault.status(503),
        Fault.status(504),
        Fault.html(502),
        Fault.html(504),
    ],
    ids=lambda f: f.label,
)
@pytest.mark.parametrize("route", ["listOrders", "getOrder", "createOrder"])
async def test_injected_errors_match_the_spec(api, fake, route, fault):
    fake.faults.add(fault, route=route, times=1)
    reply = await call(api, route)
    assert reply.status == fault.code
    assert_response_matches_spec(route, reply)


def test_the_schema_check_itself_catches_drift():
    # The validation the tests above rely on must reject what the spec forbids.
    assert schema_errors("Order", {"id": "1"})
    good_page_info = {
        "pageCount": 1, "totalItemCount": 1, "pageNumber": 1, "pageSize": 10,
        "hasPreviousPage": False, "hasNextPage": False, "isFirstPage": True,
        "isLastPage": True, "firstItemOnPage": 1, "lastItemOnPage": 1,
    }  # fmt: skip
    assert not schema_errors("PageInfo", good_page_info)
    assert schema_errors("PageInfo", {**good_page_info, "pageSize": 0})
    assert schema_errors("FeatureSet", {"id": "not-a-uuid"})
    assert schema_errors("Order", {"created": "2019-02-24 20:04:30"})
