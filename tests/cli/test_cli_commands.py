"""The `godeploy` commands that work: tables, JSON lines, --limit, create, fan-out."""

from __future__ import annotations

import json
from pathlib import Path

from godeploy import GoDeployClient
from godeploy.testing import FakeGoDeploy

ORDER_KEYS = {
    "id",
    "businessUnitId",
    "createdByUserId",
    "orderSourceId",
    "purchasingOrderReference",
    "orderStatus",
    "created",
    "editable",
    "cancellable",
}
ITEM_KEYS = {"orderId", "id", "featureSetId", "quantity", "enableFeedbackLink", "description"}


async def test_products_list_prints_a_table(godeploy):
    result = await godeploy("products", "list", "--limit", "3")

    assert result.exit_code == 0, result.stderr
    assert "Products (3)" in result.stdout
    for header in ("id", "code", "name", "courses"):
        assert header in result.stdout
    assert "AZ-300" in result.stdout  # the reference's first product leads the catalogue
    assert result.stderr == ""


async def test_orders_list_json_lines_have_the_api_keys_and_respect_limit(
    godeploy, godeploy_client: GoDeployClient
):
    result = await godeploy("orders", "list", "--json", "--limit", "7", "--page-size", "3")

    assert result.exit_code == 0, result.stderr
    orders = result.json_lines()
    assert len(orders) == 7
    for order in orders:
        assert order.keys() >= ORDER_KEYS
        assert "purchase_order_reference" not in order  # camelCase, as the API spells it
    expected = [order.id async for order in godeploy_client.orders.list(max_items=7)]
    assert [order["id"] for order in orders] == expected


async def test_feature_set_prices_keep_their_exact_decimals(godeploy, fake_godeploy: FakeGoDeploy):
    product = fake_godeploy.products()[0]
    expected = fake_godeploy.feature_sets(product["id"])

    result = await godeploy("feature-sets", "list", product["id"], "--json")

    assert result.exit_code == 0, result.stderr
    lines = result.json_lines()
    assert [line["id"] for line in lines] == [fs["id"] for fs in expected]
    for line, feature_set in zip(lines, expected, strict=True):
        assert [price["value"] for price in line["prices"]] == [
            price["value"] for price in feature_set["prices"]
        ]
    # Written exactly as the API sends money (`48.0000`), not through a binary float.
    first_price = expected[0]["prices"][0]["value"]
    assert f'"value":{first_price}' in result.stdout


async def test_get_commands_show_one_resource(godeploy, fake_godeploy: FakeGoDeploy):
    product = fake_godeploy.products()[0]
    feature_set = fake_godeploy.feature_sets(product["id"])[0]
    order_id = fake_godeploy.order_ids()[0]

    product_table = await godeploy("products", "get", product["id"])
    feature_set_json = await godeploy(
        "feature-sets", "get", product["id"], feature_set["id"], "--json"
    )
    order_table = await godeploy("orders", "get", str(order_id))

    assert product_table.exit_code == 0, product_table.stderr
    assert product["code"] in product_table.stdout
    assert "courseIds" in product_table.stdout
    assert feature_set_json.exit_code == 0, feature_set_json.stderr
    assert feature_set_json.json_lines()[0]["name"] == feature_set["name"]
    assert order_table.exit_code == 0, order_table.stderr
    assert f"Order {order_id}" in order_table.stdout
    assert "purchasingOrderReference" in order_table.stdout


async def test_order_items_list(godeploy, fake_godeploy: FakeGoDeploy):
    order_id = fake_godeploy.order_ids()[1]
    expected = fake_godeploy.order_items(order_id)

    result = await godeploy("order-items", "list", str(order_id), "--json")

    assert result.exit_code == 0, result.stderr
    items = result.json_lines()
    assert [item["id"] for item in items] == [item["id"] for item in expected]
    assert all(item.keys() >= ITEM_KEYS and item["orderId"] == order_id for item in items)


async def test_orders_create_from_a_file_then_read_it_back(
    godeploy, fake_godeploy: FakeGoDeploy, tmp_path: Path
):
    product = fake_godeploy.products()[0]
    feature_set = fake_godeploy.feature_sets(product["id"])[0]
    order_file = tmp_path / "order.json"
    body = {
        "purchaseOrderReference": "CLI-TEST-1",
        "contactEmail": "buyer@example.com",
        "emailKeys": True,
        "orderItems": [
            {"featureSetId": feature_set["id"], "quantity": 2, "sourceReference": "SR-1"}
        ],
    }
    order_file.write_text(json.dumps(body), encoding="utf-8")

    created = await godeploy("orders", "create", "--file", str(order_file), "--json")

    assert created.exit_code == 0, created.stderr
    (order,) = created.json_lines()
    assert order["purchasingOrderReference"] == "CLI-TEST-1"
    assert order["orderStatus"] == "New"
    assert fake_godeploy.orders_created == 1

    read_back = await godeploy("orders", "get", str(order["id"]), "--json")
    items = await godeploy("order-items", "list", str(order["id"]), "--json")

    assert read_back.json_lines()[0]["purchasingOrderReference"] == "CLI-TEST-1"
    (item,) = items.json_lines()
    assert item["featureSetId"] == feature_set["id"]
    assert item["quantity"] == 2
    assert item["sourceReference"] == "SR-1"


async def test_fan_out_over_order_ids(godeploy, fake_godeploy: FakeGoDeploy):
    order_ids = fake_godeploy.order_ids()[:5]
    expected = [
        item["id"] for order_id in order_ids for item in fake_godeploy.order_items(order_id)
    ]

    result = await godeploy(
        "order-items", "fan-out", *map(str, order_ids), "--concurrency", "2", "--json"
    )

    assert result.exit_code == 0, result.stderr
    items = result.json_lines()
    # In the order of the orders, whatever order the fetches finished in.
    assert [item["id"] for item in items] == expected
    assert f"fetched {len(expected)} items of 5 orders" in result.stderr


async def test_fan_out_table(godeploy, fake_godeploy: FakeGoDeploy):
    order_id = fake_godeploy.order_ids()[0]

    result = await godeploy("order-items", "fan-out", str(order_id))

    assert result.exit_code == 0, result.stderr
    assert "Order items (" in result.stdout
    assert fake_godeploy.order_items(order_id)[0]["description"][:20] in result.stdout


async def test_api_text_is_printed_as_it_is_not_as_rich_markup(
    godeploy, godeploy_client: GoDeployClient, fake_godeploy: FakeGoDeploy
):
    product = fake_godeploy.products()[0]
    feature_set = fake_godeploy.feature_sets(product["id"])[0]
    reference = "[bold]PO-7[/bold] :x:"
    order = await godeploy_client.orders.create(
        purchase_order_reference=reference,
        email_keys=False,
        order_items=[{"feature_set_id": feature_set["id"], "quantity": 1}],
    )

    table = await godeploy("orders", "get", str(order.id))

    assert table.exit_code == 0, table.stderr
    assert reference in table.stdout
