"""The fake's data: the reference's scale and shapes, deterministic for a seed."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from decimal import Decimal

import pytest

from godeploy.testing import FakeGoDeploy
from tests._support.fake import NEW_CREATED, STORED_CREATED, Api

CODE = re.compile(r"^(M\d{5}[A-D]|[A-Z]{2}-\d{3})$")
DESCRIPTION = re.compile(r"^\S+ - .+ \((Standard|Premium|Lab Only|Exam Prep) - \d+ days\)$")


async def all_items(api: Api, path: str, **params: str) -> list[dict]:
    items: list[dict] = []
    page = 1
    while True:
        body = (
            await api.get(path, params={"_pageSize": "100", "_page": str(page), **params})
        ).json()
        items += body["items"]
        if not body["_pageInfo"]["hasNextPage"]:
            return items
        page += 1


async def test_default_scale_is_the_reference_scale(api):
    products = (await api.get("/api/v2/products")).json()["_pageInfo"]
    orders = (await api.get("/api/v2/orders")).json()["_pageInfo"]
    assert (products["totalItemCount"], products["pageCount"]) == (287, 29)
    assert (orders["totalItemCount"], orders["pageCount"]) == (4150, 415)


async def test_products_look_like_the_reference(api):
    products = await all_items(api, "/api/v2/products")
    assert len(products) == 287
    first = products[0]
    assert (first["code"], first["name"], first["courseIds"]) == (
        "AZ-300",
        "AZ-300 (Packaged Set) - (Azure Pass)",
        [],
    )
    assert all(CODE.match(p["code"]) for p in products)
    assert len({p["code"] for p in products}) == 287
    assert len({p["id"] for p in products}) == 287
    assert any(p["name"].endswith("(Packaged Set) - (Azure Pass)") for p in products[1:])
    assert any(p["courseIds"] for p in products), "some products list courses"
    assert all(isinstance(c, str) for p in products for c in p["courseIds"])


async def test_feature_sets_are_one_to_four_priced_in_exact_gbp(api):
    products = (await api.get("/api/v2/products", params={"_pageSize": "60"})).json()["items"]
    counts = Counter()
    for product in products:
        reply = await api.get(f"/api/v2/products/{product['id']}/feature_sets")
        sets = reply.json()["items"]
        counts[len(sets)] += 1
        # The raw text carries four decimal places, as the reference writes money.
        assert re.findall(rb'"value":(\d+\.\d{4})[,}]', reply.body)
        assert not re.search(rb'"value":\d+(\.\d{0,3})?[,}]', reply.body)
        for feature_set in sets:
            assert feature_set["productId"] == product["id"]
            assert re.match(r"^.+ - (\d+) days$", feature_set["name"])
            days = int(feature_set["name"].rsplit(" - ", 1)[1].split()[0])
            assert feature_set["courseAccessPeriodDays"] == days
            assert 1 <= feature_set["moduleSavePeriodDays"] <= days
            [price] = feature_set["prices"]
            assert price["currency"] == "GBP"
            assert isinstance(price["value"], Decimal)
            assert price["value"].as_tuple().exponent == -4
            assert price["value"] > 0
    assert set(counts) == {1, 2, 3, 4}


async def test_the_reference_feature_set_exists(api):
    az300 = (await api.get("/api/v2/products", params={"_pageSize": "1"})).json()["items"][0]
    reply = await api.get(f"/api/v2/products/{az300['id']}/feature_sets")
    [feature_set] = reply.json()["items"]
    assert feature_set["name"] == "Standard - 180 days"
    assert (feature_set["courseAccessPeriodDays"], feature_set["moduleSavePeriodDays"]) == (180, 1)
    assert b'"prices":[{"currency":"GBP","value":48.0000}]' in reply.body


async def test_orders_have_the_documented_statuses_and_a_few_undocumented(api):
    orders = (await all_items(api, "/api/v2/orders"))[:1500]
    statuses = Counter(order["orderStatus"] for order in orders)
    documented = statuses["New"] + statuses["Cancelled"]
    assert statuses["New"] > 300
    assert statuses["Cancelled"] > 500
    assert 0 < len(orders) - documented < len(orders) * 0.1, statuses
    assert set(statuses) - {"New", "Cancelled"} == {"Processing"}


async def test_orders_vary_users_sources_and_contacts(api):
    orders = (await api.get("/api/v2/orders", params={"_pageSize": "100"})).json()["items"]
    assert len({o["createdByUserId"] for o in orders}) >= 3
    assert {o["orderSource"]["name"] for o in orders} >= {"go deploy", "Reseller Portal"}
    assert orders[0]["createdByUser"]["userName"] == "johnsmith@example.com"
    ids = [o["id"] for o in orders]
    assert ids == sorted(ids)
    assert ids[0] == 1
    assert len(set(ids)) == len(ids)


async def test_stored_orders_created_times_are_offsetless_and_grow(api):
    orders = (await api.get("/api/v2/orders", params={"_pageSize": "100"})).json()["items"]
    assert orders[0]["created"] == "2019-02-24T20:04:30.473"
    assert all(STORED_CREATED.match(o["created"]) for o in orders)
    moments = [datetime.fromisoformat(o["created"]) for o in orders]
    assert moments == sorted(moments)
    # SQL Server datetime precision: milliseconds end in 0, 3 or 7.
    assert {m.microsecond // 1000 % 10 for m in moments} <= {0, 3, 7}
    assert not NEW_CREATED.match(orders[0]["created"])


async def test_orders_have_one_to_five_items_described_like_the_reference(api, fake):
    sizes = Counter()
    for order_id in fake.order_ids()[:150]:
        items = (await api.get(f"/api/v2/orders/{order_id}/items")).json()["items"]
        sizes[len(items)] += 1
        for item in items:
            assert item["orderId"] == order_id
            assert DESCRIPTION.match(item["description"]), item["description"]
            assert item["quantity"] >= 1
    assert set(sizes) == {1, 2, 3, 4, 5}


async def test_item_descriptions_name_the_feature_set_they_order(api, fake):
    sets = {fs["id"]: (p, fs) for p in fake.products() for fs in fake.feature_sets(p["id"])}
    for order_id in fake.order_ids()[:20]:
        for item in fake.order_items(order_id):
            product, feature_set = sets[item["featureSetId"]]
            assert item["description"].startswith(f"{product['code']} - ")
            assert item["description"].endswith(f"({feature_set['name']})")


async def test_same_seed_same_answers_other_seed_other_answers(session):
    bodies = []
    for seed in (7, 7, 8):
        async with FakeGoDeploy(seed=seed) as fake:
            api = Api(fake, session)
            bodies.append(
                (
                    (await api.get("/api/v2/orders", params={"_page": "37"})).body,
                    (await api.get("/api/v2/products", params={"_page": "5"})).body,
                    (await api.get(f"/api/v2/orders/{fake.order_ids()[500]}/items")).body,
                )
            )
    assert bodies[0] == bodies[1]
    assert bodies[0][0] != bodies[2][0]
    assert bodies[0][1] != bodies[2][1]


async def test_sizes_are_configurable(session):
    async with FakeGoDeploy(product_count=12, order_count=30) as fake:
        api = Api(fake, session)
        assert (await api.get("/api/v2/products")).json()["_pageInfo"]["totalItemCount"] == 12
        assert (await api.get("/api/v2/orders")).json()["_pageInfo"]["totalItemCount"] == 30
        assert len(fake.order_ids()) == fake.order_count() == 30


async def test_a_hundred_thousand_orders_serve_their_end(session):
    async with FakeGoDeploy(seed=3, order_count=100_000) as fake:
        api = Api(fake, session)
        last = await api.get("/api/v2/orders", params={"_page": "1000", "_pageSize": "100"})
        body = last.json()
        assert body["_pageInfo"]["totalItemCount"] == 100_000
        assert body["_pageInfo"]["isLastPage"]
        assert [o["id"] for o in body["items"]] == fake.order_ids()[-100:]


async def test_the_other_business_unit_has_its_own_data(api, fake):
    other = fake.other_business_unit_id
    products = (await api.get("/api/v2/products", unit=other)).json()
    orders = (await api.get("/api/v2/orders", unit=other)).json()
    assert 0 < products["_pageInfo"]["totalItemCount"] < 287
    assert 0 < orders["_pageInfo"]["totalItemCount"] < 4150
    assert {o["businessUnitId"] for o in orders["items"]} == {str(other)}
    assert {o["businessUnit"]["name"] for o in orders["items"]} == {"Ireland"}
    main_ids = set(fake.order_ids())
    assert main_ids.isdisjoint(fake.order_ids(other))


async def test_another_units_order_and_product_are_404(api, fake):
    other = fake.other_business_unit_id
    order_id = fake.order_ids(other)[0]
    product = fake.products(other)[0]
    feature_set = fake.feature_sets(product["id"])[0]
    assert (await api.get(f"/api/v2/orders/{order_id}", unit=other)).status == 200
    assert (await api.get(f"/api/v2/orders/{order_id}")).status == 404
    assert (await api.get(f"/api/v2/orders/{order_id}/items")).status == 404
    assert (await api.get(f"/api/v2/products/{product['id']}")).status == 404
    assert (await api.get(f"/api/v2/products/{product['id']}/feature_sets")).status == 404
    path = f"/api/v2/products/{product['id']}/feature_sets/{feature_set['id']}"
    assert (await api.get(path)).status == 404
    assert (await api.get(path, unit=other)).status == 200


async def test_an_unknown_business_unit_is_forbidden(api):
    reply = await api.get("/api/v2/orders", unit="00000000-0000-4000-8000-000000000000")
    assert reply.status == 403
    assert reply.json()["status"] == 403


@pytest.mark.parametrize("order_count", [0, 1, 7])
def test_small_stores_are_consistent(order_count):
    fake = FakeGoDeploy(order_count=order_count)
    assert fake.order_count() == order_count
    assert fake.order_ids() == sorted(fake.order_ids())
    if order_count:
        assert fake.order_ids()[0] == 1
        assert fake.order(1) is not None
