"""POST /api/v2/orders: the reference's validation table, one 400 naming every bad field, and
an order that list, get and items then show."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime

import pytest

from tests._support.fake import NEW_CREATED, assert_schema

FOREIGN = "foreign"  # placeholder for a feature set of the other business unit


async def test_a_created_order_is_stored_and_shown_everywhere(api, fake):
    before = fake.order_count()
    highest = max(fake.order_ids() + fake.order_ids(fake.other_business_unit_id))
    feature_set = api.feature_set_id(3)
    body = {
        "purchaseOrderReference": "PO-2024-0042",
        "contactEmail": "keys@customer.example",
        "emailKeys": True,
        "orderItems": [
            {"featureSetId": feature_set, "quantity": 3},
            {
                "featureSetId": api.feature_set_id(0),
                "quantity": 1,
                "sourceReference": "SR-1",
                "feedbackLinkUri": "https://feedback.example/x",
                "feedbackLinkText": "Submit feedback",
                "enableFeedbackLink": True,
                "achievementCode": "",
            },
        ],
    }
    started = datetime.now(UTC)
    reply = await api.post_order(body)
    assert reply.status == 201
    created = reply.json()
    assert created["id"] == highest + 1
    assert created["orderStatus"] == "New"
    assert created["purchasingOrderReference"] == "PO-2024-0042"
    assert created["contactEmail"] == "keys@customer.example"
    assert (created["contactForename"], created["contactSurname"]) == ("John", "Smith")
    assert created["createdByUser"]["userName"] == "johnsmith@example.com"
    assert created["businessUnitId"] == str(fake.business_unit_id)
    assert created["businessUnit"] == {"name": "UK"}
    assert (created["editable"], created["cancellable"]) == (False, False)
    assert NEW_CREATED.match(created["created"])
    moment = datetime.fromisoformat(created["created"])
    assert started.replace(microsecond=0) <= moment <= datetime.now(UTC)

    assert fake.order_count() == before + 1
    assert fake.orders_created == 1
    assert [o["id"] for o in fake.created_orders] == [created["id"]]

    single = (await api.get(f"/api/v2/orders/{created['id']}")).json()
    assert single["purchasingOrderReference"] == "PO-2024-0042"
    assert single["created"] == created["created"]
    assert "createdByUser" not in single

    last_page = (await api.get("/api/v2/orders", params={"_page": "416"})).json()
    assert last_page["_pageInfo"]["totalItemCount"] == 4151
    [listed] = last_page["items"]
    assert listed["id"] == created["id"]
    assert listed["orderSource"] == {"name": "go deploy", "invoiceable": True}

    items = (await api.get(f"/api/v2/orders/{created['id']}/items")).json()["items"]
    assert [i["featureSetId"] for i in items] == [feature_set, api.feature_set_id(0)]
    assert [i["quantity"] for i in items] == [3, 1]
    assert items[1]["id"] == items[0]["id"] + 1
    assert items[1]["sourceReference"] == "SR-1"
    assert items[1]["achievementCode"] == ""
    assert items[1]["enableFeedbackLink"] is True
    assert items[0]["enableFeedbackLink"] is False
    assert "sourceReference" not in items[0]
    product = next(
        p
        for p in fake.products()
        if any(fs["id"] == feature_set for fs in fake.feature_sets(p["id"]))
    )
    assert items[0]["description"].startswith(f"{product['code']} - ")


async def test_ids_keep_counting_across_creates_and_units(api, fake):
    first = (await api.post_order(api.order_body())).json()["id"]
    other = fake.other_business_unit_id
    foreign_set = str(fake.feature_sets(fake.products(other)[0]["id"])[0]["id"])
    body = api.order_body(orderItems=[{"featureSetId": foreign_set, "quantity": 1}])
    second = await api.post_order(body, unit=other)
    assert second.status == 201
    assert second.json()["id"] == first + 1
    assert second.json()["businessUnit"] == {"name": "Ireland"}
    assert (await api.get(f"/api/v2/orders/{first + 1}", unit=other)).status == 200
    assert (await api.get(f"/api/v2/orders/{first + 1}")).status == 404
    assert fake.orders_created == 2


async def test_contact_email_is_optional_without_email_keys(api):
    body = api.order_body(emailKeys=False)
    del body["contactEmail"]
    reply = await api.post_order(body)
    assert reply.status == 201
    assert "contactEmail" not in reply.json()


def _mutate(body: dict, change: dict) -> dict:
    body = copy.deepcopy(body)
    for path, value in change.items():
        target = body
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key = int(last) if last.isdigit() else last
        if value is ...:
            del target[key]
        else:
            target[key] = value
    return body


MISSING = ...

# (change applied to a valid body, error keys expected). `...` deletes the member.
INVALID = [
    ({"purchaseOrderReference": MISSING}, {"purchaseOrderReference"}),
    ({"purchaseOrderReference": ""}, {"purchaseOrderReference"}),
    ({"purchaseOrderReference": None}, {"purchaseOrderReference"}),
    ({"purchaseOrderReference": 123}, {"purchaseOrderReference"}),
    ({"emailKeys": MISSING}, {"emailKeys"}),
    ({"emailKeys": "true"}, {"emailKeys"}),
    ({"emailKeys": 1}, {"emailKeys"}),
    ({"contactEmail": MISSING}, {"contactEmail"}),
    ({"contactEmail": ""}, {"contactEmail"}),
    ({"contactEmail": None}, {"contactEmail"}),
    ({"contactEmail": 5, "emailKeys": False}, {"contactEmail"}),
    ({"orderItems": MISSING}, {"orderItems"}),
    ({"orderItems": []}, {"orderItems"}),
    ({"orderItems": {}}, {"orderItems"}),
    ({"orderItems": [5]}, {"orderItems[0]"}),
    ({"orderItems.0.featureSetId": MISSING}, {"orderItems[0].featureSetId"}),
    ({"orderItems.0.featureSetId": "feature set id"}, {"orderItems[0].featureSetId"}),
    (
        {"orderItems.0.featureSetId": "00000000-0000-4000-8000-000000000000"},
        {"orderItems[0].featureSetId"},
    ),
    ({"orderItems.0.featureSetId": FOREIGN}, {"orderItems[0].featureSetId"}),
    ({"orderItems.0.featureSetId": 7}, {"orderItems[0].featureSetId"}),
    ({"orderItems.0.quantity": MISSING}, {"orderItems[0].quantity"}),
    ({"orderItems.0.quantity": 0}, {"orderItems[0].quantity"}),
    ({"orderItems.0.quantity": -3}, {"orderItems[0].quantity"}),
    ({"orderItems.0.quantity": 1.5}, {"orderItems[0].quantity"}),
    ({"orderItems.0.quantity": 1.0}, {"orderItems[0].quantity"}),
    ({"orderItems.0.quantity": "1"}, {"orderItems[0].quantity"}),
    ({"orderItems.0.quantity": True}, {"orderItems[0].quantity"}),
    ({"orderItems.0.enableFeedbackLink": "yes"}, {"orderItems[0].enableFeedbackLink"}),
    ({"orderItems.0.sourceReference": 5}, {"orderItems[0].sourceReference"}),
    ({"orderItems.0.feedbackLinkUri": None}, {"orderItems[0].feedbackLinkUri"}),
    ({"orderItems.0.achievementCode": []}, {"orderItems[0].achievementCode"}),
    ({"orderItems.0.colour": "red"}, {"orderItems[0].colour"}),
    ({"purchasingOrderReference": "x"}, {"purchasingOrderReference"}),
    ({"businessUnitId": "x"}, {"businessUnitId"}),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    INVALID,
    ids=[str(sorted(e)) + str(i) for i, (_, e) in enumerate(INVALID)],
)
async def test_invalid_bodies_are_one_400_naming_the_fields(api, fake, change, expected):
    foreign = str(fake.feature_sets(fake.products(fake.other_business_unit_id)[0]["id"])[0]["id"])
    change = {k: (foreign if v == FOREIGN else v) for k, v in change.items()}
    before = fake.order_count()
    reply = await api.post_order(_mutate(api.order_body(), change))
    assert reply.status == 400
    assert reply.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    problem = reply.json()
    assert_schema("ProblemDetails", problem)
    assert set(problem["errors"]) == expected
    assert all(problem["errors"][key] for key in expected)
    assert fake.order_count() == before
    assert fake.orders_created == 0


async def test_every_bad_field_is_named_at_once(api, fake):
    body = {
        "purchaseOrderReference": "",
        "emailKeys": True,
        "extra": 1,
        "orderItems": [
            {"featureSetId": api.feature_set_id(), "quantity": 1},
            {"featureSetId": "nope", "quantity": 0, "enableFeedbackLink": 1},
            "not an item",
        ],
    }
    problem = (await api.post_order(body)).json()
    assert set(problem["errors"]) == {
        "purchaseOrderReference",
        "contactEmail",
        "extra",
        "orderItems[1].featureSetId",
        "orderItems[1].quantity",
        "orderItems[1].enableFeedbackLink",
        "orderItems[2]",
    }
    assert problem["title"] == "One or more validation errors occurred."
    assert fake.orders_created == 0


@pytest.mark.parametrize(
    "raw", [b"", b"   ", b"{", b"[]", b'"order"', b"null", b"{'a': 1}", b'{"a": NaN}']
)
async def test_bodies_that_are_no_json_object_are_400(api, fake, raw):
    reply = await api.call(
        "POST", "/api/v2/orders", data=raw, headers={"Content-Type": "application/json"}
    )
    assert reply.status == 400
    assert list(reply.json()["errors"]) == ["$"]
    assert fake.orders_created == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_bodies_that_are_not_sent_as_json_are_415(api, fake, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = await api.call(
        "POST",
        "/api/v2/orders",
        data=b'{"purchaseOrderReference": "x"}',
        headers=headers,
        skip_auto_headers=("Content-Type",),
    )
    assert reply.status == 415
    assert_schema("ProblemDetails", reply.json())
    assert fake.orders_created == 0


async def test_json_media_types_other_than_application_json_are_read(api):
    body = api.order_body()
    reply = await api.call(
        "POST",
        "/api/v2/orders",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/vnd.godeploy+json; charset=utf-8"},
    )
    assert reply.status == 201


async def test_query_and_body_errors_come_in_one_400(api):
    reply = await api.post_order({"emailKeys": "no"}, unit=None)
    assert reply.status == 400
    assert {"businessUnitId", "emailKeys", "purchaseOrderReference", "orderItems"} <= set(
        reply.json()["errors"]
    )


async def test_a_body_over_one_megabyte_is_413(api, fake):
    body = api.order_body(purchaseOrderReference="x" * 1_100_000)
    reply = await api.call(
        "POST",
        "/api/v2/orders",
        data=io.BytesIO(json.dumps(body).encode()),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 413
    assert fake.orders_created == 0


async def test_two_hundred_creates_make_two_hundred_orders(api, fake):
    body = api.order_body()
    for _ in range(200):
        assert (await api.post_order(body)).status == 201
    assert fake.orders_created == 200
    assert len(set(fake.order_ids()[-200:])) == 200
