"""Each response has the reference's shape: its keys, in its order, its links and its quirks."""

from __future__ import annotations

import re

from godeploy._converter import structure_json
from godeploy._generated import models
from tests._support.fake import REFERENCE

JSON = "application/json; charset=utf-8"


def keys(value: dict) -> list[str]:
    return list(value)


def plain_item_of(fake) -> int:
    """An order whose first item has none of the optional item fields, like the reference's."""
    return next(
        order_id
        for order_id in fake.order_ids()
        if "sourceReference" not in (item := fake.order_items(order_id)[0])
        and not item["enableFeedbackLink"]
    )


async def test_list_and_single_order_differ_as_in_the_reference(api, fake):
    order_id = next(i for i in fake.order_ids() if fake.order(i).get("contactEmail"))
    listed = (await api.get("/api/v2/orders")).json()["items"][0]
    single = await api.get(f"/api/v2/orders/{order_id}")
    assert single.headers["Content-Type"] == JSON
    assert keys(listed) == keys(REFERENCE["listOrders"]["items"][0])
    assert keys(single.json()) == keys(REFERENCE["getOrder"])
    assert listed["_links"] == {"self": f"/api/v2/orders/{listed['id']}"}
    for absent in ("businessUnit", "createdByUser", "orderSource", "_links"):
        assert absent not in single.json()


async def test_single_order_is_the_listed_order_minus_four_members(api, fake):
    listed = (await api.get("/api/v2/orders", params={"_page": "3"})).json()["items"]
    for order in listed:
        single = (await api.get(f"/api/v2/orders/{order['id']}")).json()
        trimmed = {
            k: v
            for k, v in order.items()
            if k not in ("businessUnit", "createdByUser", "orderSource", "_links")
        }
        assert single == trimmed


async def test_nested_order_members_have_the_reference_keys(api):
    order = (await api.get("/api/v2/orders")).json()["items"][0]
    reference = REFERENCE["listOrders"]["items"][0]
    for member in ("businessUnit", "createdByUser", "orderSource"):
        assert keys(order[member]) == keys(reference[member])
    assert order["createdByUser"]["name"] == (
        f"{order['createdByUser']['forename']} {order['createdByUser']['surname']}"
    )


async def test_products_and_feature_sets_have_the_reference_shape(api, fake):
    product = fake.products()[0]
    listed = (await api.get("/api/v2/products")).json()["items"][0]
    single = (await api.get(f"/api/v2/products/{product['id']}")).json()
    assert keys(listed) == keys(REFERENCE["listProducts"]["items"][0])
    assert single == listed
    assert single["_links"] == {"self": f"/api/v2/products/{product['id']}"}
    feature_set = fake.feature_sets(product["id"])[0]
    path = f"/api/v2/products/{product['id']}/feature_sets/{feature_set['id']}"
    listed_set = (await api.get(f"/api/v2/products/{product['id']}/feature_sets")).json()["items"][
        0
    ]
    single_set = (await api.get(path)).json()
    assert keys(single_set) == keys(REFERENCE["getFeatureSet"])
    assert listed_set == single_set
    assert single_set["_links"] == {"self": path}
    assert keys(single_set["prices"][0]) == ["currency", "value"]


async def test_order_items_link_to_their_orders_item_list(api, fake):
    order_id = plain_item_of(fake)
    item = (await api.get(f"/api/v2/orders/{order_id}/items")).json()["items"][0]
    assert keys(item) == keys(REFERENCE["listOrderItems"]["items"][0])
    # QUIRK of the reference: `self` is the order's item list, not the item.
    assert item["_links"] == {"self": f"/api/v2/orders/{order_id}/items"}


async def test_optional_item_fields_appear_only_when_set(api, fake):
    seen: set[str] = set()
    for order_id in fake.order_ids()[:60]:
        for item in (await api.get(f"/api/v2/orders/{order_id}/items")).json()["items"]:
            seen |= set(item)
            assert None not in item.values()
            if item["enableFeedbackLink"]:
                assert item["feedbackLinkUri"].startswith("https://")
                assert item["feedbackLinkText"]
            else:
                assert "feedbackLinkUri" not in item
    assert {"sourceReference", "feedbackLinkUri", "feedbackLinkText"} <= seen


async def test_contact_fields_are_left_out_when_unknown(api, fake):
    orders = [fake.order(i) for i in fake.order_ids()[:400]]
    without_email = [o for o in orders if "contactEmail" not in o]
    assert without_email, "some stored orders have no contact email"
    body = (await api.get(f"/api/v2/orders/{without_email[0]['id']}")).json()
    assert "contactEmail" not in body
    assert body["contactForename"]


async def test_created_order_has_the_reference_create_shape(api):
    reply = await api.post_order(api.order_body())
    assert reply.status == 201
    assert reply.headers["Content-Type"] == JSON
    created = reply.json()
    assert keys(created) == keys(REFERENCE["createOrder"])
    assert "orderSource" not in created
    assert created["_links"] == {"self": f"/api/v2/orders/{created['id']}"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z", created["created"])


async def test_every_success_body_parses_into_the_generated_models(api, fake):
    product = fake.products()[0]
    feature_set = fake.feature_sets(product["id"])[0]
    order_id = fake.order_ids()[0]
    cases = {
        "/api/v2/products": models.ProductPage,
        f"/api/v2/products/{product['id']}": models.Product,
        f"/api/v2/products/{product['id']}/feature_sets": models.FeatureSetPage,
        f"/api/v2/products/{product['id']}/feature_sets/{feature_set['id']}": models.FeatureSet,
        "/api/v2/orders": models.OrderPage,
        f"/api/v2/orders/{order_id}": models.Order,
        f"/api/v2/orders/{order_id}/items": models.OrderItemPage,
    }
    for path, model in cases.items():
        reply = await api.get(
            path, params={"_pageSize": "100"} if "Page" in model.__name__ else None
        )
        assert isinstance(structure_json(reply.body, model), model)
    created = await api.post_order(api.order_body())
    order = structure_json(created.body, models.Order)
    assert order.order_status == "New"
    assert order.created.tzinfo is not None


async def test_undocumented_statuses_survive_the_generated_models(api, fake):
    processing = next(i for i in fake.order_ids() if fake.order(i)["orderStatus"] == "Processing")
    order = structure_json((await api.get(f"/api/v2/orders/{processing}")).body, models.Order)
    assert order.order_status == "Processing"
