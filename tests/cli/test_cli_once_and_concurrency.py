"""`godeploy orders create --once` and `godeploy orders list --concurrency N`."""

from __future__ import annotations

import json
from pathlib import Path

from godeploy.testing import FakeGoDeploy


def write_order(fake: FakeGoDeploy, directory: Path) -> Path:
    """A create-order body file for `fake`."""
    feature_set = fake.feature_sets(fake.products()[0]["id"])[0]
    body = {
        "purchaseOrderReference": "CLI-ONCE-1",
        "emailKeys": False,
        "orderItems": [{"featureSetId": feature_set["id"], "quantity": 1}],
    }
    order_file = directory / "order.json"
    order_file.write_text(json.dumps(body), encoding="utf-8")
    return order_file


async def test_create_once_twice_makes_one_order(godeploy, fake_godeploy: FakeGoDeploy, tmp_path):
    order_file = write_order(fake_godeploy, tmp_path)

    first = await godeploy("orders", "create", "--once", "--file", str(order_file), "--json")
    second = await godeploy("orders", "create", "--once", "--file", str(order_file), "--json")

    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    assert first.json_lines()[0]["id"] == second.json_lines()[0]["id"]
    assert fake_godeploy.orders_created == 1
    assert fake_godeploy.count("createOrder") == 1


async def test_orders_list_with_concurrency_lists_what_a_serial_walk_does(
    godeploy, fake_godeploy: FakeGoDeploy
):
    result = await godeploy("orders", "list", "--json", "--limit", "450", "--concurrency", "4")

    assert result.exit_code == 0, result.stderr
    assert [order["id"] for order in result.json_lines()] == fake_godeploy.order_ids()[:450]
