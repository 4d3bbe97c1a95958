"""Failures of `godeploy`: one `error:` line, the documented exit code, no traceback, no token.

Exit codes: 1 when the API or the network failed, 2 when the input was refused.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from godeploy.testing import FakeGoDeploy

API_FAILED = 1
INPUT_REFUSED = 2
FILE_REFUSED = "error: Invalid value for '--file'"
SOME_UUID = "9a3f1c52-6f2e-4d11-8a55-3c1f0e7b2d90"


def _unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_wrong_token_is_a_401_line_and_exit_1(run_godeploy, fake_godeploy: FakeGoDeploy):
    wrong_token = "not-the-token-" + "x" * 20
    result = await run_godeploy(
        "orders",
        "list",
        "--base-url",
        str(fake_godeploy.url),
        "--token",
        wrong_token,
        "--business-unit-id",
        str(fake_godeploy.business_unit_id),
        secret=wrong_token,
    )

    assert result.exit_code == API_FAILED
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: unauthorized: GET /api/v2/orders answered 401")
    assert "GODEPLOY_TOKEN" in line
    assert result.stdout == ""


async def test_the_token_from_the_environment_is_never_printed(
    run_godeploy, cli_environment, fake_godeploy: FakeGoDeploy
):
    env = cli_environment(
        GODEPLOY_TOKEN=fake_godeploy.token,
        GODEPLOY_BUSINESS_UNIT_ID=str(fake_godeploy.business_unit_id),
        GODEPLOY_BASE_URL=str(fake_godeploy.url),
    )

    listed = await run_godeploy(
        "orders", "list", "--limit", "2", env=env, secret=fake_godeploy.token
    )
    helped = await run_godeploy("orders", "list", "--help", env=env, secret=fake_godeploy.token)

    assert listed.exit_code == 0, listed.stderr
    assert "Orders (2)" in listed.stdout
    assert helped.exit_code == 0
    assert "GODEPLOY_TOKEN" in helped.stdout


async def test_unknown_order_is_a_404_line_and_exit_1(godeploy):
    result = await godeploy("orders", "get", "999999")

    assert result.exit_code == API_FAILED
    assert result.error_lines == result.stderr.splitlines()
    (line,) = result.error_lines
    assert line.startswith("error: not found: GET /api/v2/orders/999999 answered 404")


async def test_unreachable_api_is_one_line_and_exit_1(run_godeploy, fake_godeploy: FakeGoDeploy):
    result = await run_godeploy(
        "products",
        "list",
        "--base-url",
        f"http://127.0.0.1:{_unused_port()}",
        "--token",
        fake_godeploy.token,
        "--business-unit-id",
        str(fake_godeploy.business_unit_id),
        secret=fake_godeploy.token,
    )

    assert result.exit_code == API_FAILED
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot reach the API: cannot connect to 127.0.0.1")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            {
                "purchaseOrderReference": "PO-1",
                "emailKeys": True,
                "orderItems": [{"featureSetId": "not-a-uuid", "quantity": 0}],
            },
            [
                "error: invalid input: invalid order",
                "contactEmail: required when emailKeys is true",
                "orderItems[0].featureSetId",
                "orderItems[0].quantity: must be an integer >= 1, got 0",
            ],
            id="invalid-values",
        ),
        pytest.param(
            {
                "purchaseOrderReference": "PO-1",
                "emailKeys": "no",
                "orderItems": [{"featureSetId": SOME_UUID, "quantity": 1}],
            },
            ["error: invalid input: invalid order (emailKeys)", "emailKeys: must be true or false"],
            id="wrong-type-is-not-required",
        ),
        pytest.param(
            {"purchaseOrderReference": "PO-1", "emailKeys": False, "orderItems": [{"qty": 1}]},
            [FILE_REFUSED, "orderItems[0]: unknown keys ['qty']"],
            id="unknown-key",
        ),
        pytest.param("{not json", [FILE_REFUSED, "order.json is not JSON"], id="not-json"),
        pytest.param([1, 2], [FILE_REFUSED, "order.json is not a JSON object"], id="array"),
    ],
)
async def test_invalid_order_file_is_refused_with_exit_2(
    godeploy, fake_godeploy: FakeGoDeploy, tmp_path: Path, content: object, expected: list[str]
):
    order_file = tmp_path / "order.json"
    order_file.write_text(
        content if isinstance(content, str) else json.dumps(content), encoding="utf-8"
    )

    result = await godeploy("orders", "create", "--file", str(order_file))

    assert result.exit_code == INPUT_REFUSED
    (line,) = result.stderr.splitlines()
    for fragment in expected:
        assert fragment in line
    assert "required" not in line.replace("required when emailKeys is true", "")
    assert fake_godeploy.count("createOrder") == 0  # nothing was sent


async def test_missing_order_file_exit_2(godeploy, tmp_path: Path):
    result = await godeploy("orders", "create", "--file", str(tmp_path / "absent.json"))

    assert result.exit_code == INPUT_REFUSED
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{FILE_REFUSED}: cannot read {tmp_path / 'absent.json'}: ")


async def test_fan_out_with_an_unknown_order_goes_on_and_exits_1(
    godeploy, fake_godeploy: FakeGoDeploy
):
    known = fake_godeploy.order_ids()[0]

    result = await godeploy("order-items", "fan-out", str(known), "999999", "--json")

    assert result.exit_code == API_FAILED
    assert {item["orderId"] for item in result.json_lines()} == {known}
    assert "warning: order 999999: not found:" in result.stderr
    assert result.error_lines == ["error: the items of 1 of 2 orders could not be fetched"]


async def test_usage_errors_exit_2(godeploy, run_godeploy, fake_godeploy: FakeGoDeploy):
    neither = await godeploy("order-items", "fan-out")
    half_configured = await run_godeploy(
        "orders", "list", "--token", fake_godeploy.token, secret=fake_godeploy.token
    )
    bad_uuid = await godeploy("products", "get", "not-a-uuid")

    assert neither.exit_code == INPUT_REFUSED
    assert neither.error_lines == [
        "error: give either ORDER_ID... or --all (see 'godeploy order-items fan-out --help')"
    ]
    assert half_configured.exit_code == INPUT_REFUSED
    assert half_configured.error_lines[0].startswith("error: missing GODEPLOY_BUSINESS_UNIT_ID")
    assert bad_uuid.exit_code == INPUT_REFUSED
    # The SDK's check and words, naming the argument as the command's help does.
    assert bad_uuid.error_lines == [
        "error: Invalid value for 'PRODUCT_ID': productId must be a UUID, got 'not-a-uuid' "
        "(see 'godeploy products get --help')"
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("orders", "get", "abc"), "error: Invalid value for 'ORDER_ID'", id="not-int"),
        pytest.param(("orders", "get", "0"), "error: Invalid value for 'ORDER_ID'", id="below-min"),
        pytest.param(
            ("orders", "list", "--page-size", "0"),
            "error: Invalid value for '--page-size': page_size must be an integer >= 1, got 0",
            id="sdk-check-named-by-flag",
        ),
        pytest.param(
            ("order-items", "fan-out", "1", "--concurrency", "0"),
            "error: Invalid value for '--concurrency' / '-c': concurrency must be",
            id="fan-out-concurrency",
        ),
        pytest.param(("orders", "list", "--nope"), "error: No such option: --nope", id="option"),
        pytest.param(("orders", "create"), "error: Missing option '--file'", id="missing"),
    ],
)
async def test_click_usage_errors_are_one_line_and_exit_2(
    godeploy, args: tuple[str, ...], expected: str
):
    result = await godeploy(*args)

    assert result.exit_code == INPUT_REFUSED
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(expected), line
    assert line.endswith(f"(see 'godeploy {args[0]} {args[1]} --help')")
