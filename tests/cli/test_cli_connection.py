"""Where `godeploy` connects: its flags or environment, or an explicit --fake; never by surprise.

Only `demo` and `fake-server` start a fake on their own. Every other command without a token
and a business unit refuses with exit code 2 and one line that names the variables to set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from yarl import URL

from godeploy.testing import FakeGoDeploy

INPUT_REFUSED = 2
SOME_UUID = "9a3f1c52-6f2e-4d11-8a55-3c1f0e7b2d90"

# Each command gets its options from the same decorator (test_cli_structure checks they all
# have them); these run it for real, the create of the incident first.
WITHOUT_CONNECTION = [
    pytest.param(("orders", "create", "--file", "{order_file}"), id="orders-create"),
    pytest.param(("orders", "list"), id="orders-list"),
    pytest.param(("products", "get", SOME_UUID), id="products-get"),
    pytest.param(("order-items", "fan-out", "1", "2"), id="order-items-fan-out"),
]


def _order_file(directory: Path) -> Path:
    """A valid create body: what a user with a forgotten GODEPLOY_TOKEN would send."""
    path = directory / "order.json"
    body = {
        "purchaseOrderReference": "PO-NO-TOKEN",
        "emailKeys": False,
        "orderItems": [{"featureSetId": SOME_UUID, "quantity": 1}],
    }
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


@pytest.mark.parametrize("args", WITHOUT_CONNECTION)
async def test_without_connection_options_a_command_refuses_with_exit_2(
    run_godeploy, tmp_path: Path, args: tuple[str, ...]
):
    order_file = str(_order_file(tmp_path))

    result = await run_godeploy(*(arg.format(order_file=order_file) for arg in args))

    assert result.exit_code == INPUT_REFUSED
    assert result.stdout == ""  # no made-up order id, no table from a fake
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    for name in ("GODEPLOY_TOKEN", "GODEPLOY_BUSINESS_UNIT_ID", "--fake"):
        assert name in line
    assert "fake server at" not in result.stderr


async def test_empty_variables_count_as_unset(run_godeploy, cli_environment):
    env = cli_environment(GODEPLOY_TOKEN="", GODEPLOY_BUSINESS_UNIT_ID="", GODEPLOY_BASE_URL="")

    result = await run_godeploy("orders", "list", env=env)

    assert result.exit_code == INPUT_REFUSED
    (line,) = result.stderr.splitlines()
    assert "GODEPLOY_TOKEN" in line


async def test_half_configured_names_only_what_is_missing(
    run_godeploy, cli_environment, fake_godeploy: FakeGoDeploy
):
    env = cli_environment(GODEPLOY_TOKEN=fake_godeploy.token)

    result = await run_godeploy("orders", "list", env=env, secret=fake_godeploy.token)

    assert result.exit_code == INPUT_REFUSED
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: missing GODEPLOY_BUSINESS_UNIT_ID (--business-unit-id)")
    assert "GODEPLOY_TOKEN" not in line
    assert fake_godeploy.requests == []


async def test_the_refusal_stays_on_one_line_in_a_narrow_terminal(run_godeploy, cli_environment):
    result = await run_godeploy("orders", "list", env=cli_environment(COLUMNS="40"))

    assert result.exit_code == INPUT_REFUSED
    assert len(result.stderr.splitlines()) == 1


async def test_fake_is_used_only_when_asked_for(run_godeploy, cli_environment):
    forced = await run_godeploy(
        "products",
        "list",
        "--limit",
        "1",
        "--json",
        "--fake",
        env=cli_environment(GODEPLOY_BASE_URL="https://nowhere.invalid/"),
    )

    assert forced.exit_code == 0, forced.stderr
    assert len(forced.json_lines()) == 1
    (note,) = forced.stderr.splitlines()
    assert note.startswith("note: --fake: using an embedded fake server at http://127.0.0.1:")


async def test_flags_after_the_subcommand_override_the_environment(
    run_godeploy, cli_environment, fake_godeploy: FakeGoDeploy
):
    env = cli_environment(
        GODEPLOY_TOKEN="wrong-token-" + "y" * 20,
        GODEPLOY_BUSINESS_UNIT_ID=str(fake_godeploy.business_unit_id),
        GODEPLOY_BASE_URL="https://nowhere.invalid/",
    )

    result = await run_godeploy(
        "orders",
        "get",
        str(fake_godeploy.order_ids()[0]),
        "--json",
        "--token",
        fake_godeploy.token,
        "--base-url",
        str(fake_godeploy.url),
        env=env,
        secret=fake_godeploy.token,
    )

    assert result.exit_code == 0, result.stderr
    assert result.json_lines()[0]["id"] == fake_godeploy.order_ids()[0]


def _over_plain_http(fake: FakeGoDeploy) -> list[str]:
    """The fake's flags, its URL on 0.0.0.0: not a loopback host, yet Linux connects it there."""
    url = URL(str(fake.url)).with_host("0.0.0.0")
    return [
        *("--base-url", str(url)),
        *("--token", fake.token),
        *("--business-unit-id", str(fake.business_unit_id)),
    ]


async def test_plain_http_is_refused_naming_the_cli_flag(run_godeploy, fake_godeploy: FakeGoDeploy):
    result = await run_godeploy(
        "orders", "list", *_over_plain_http(fake_godeploy), secret=fake_godeploy.token
    )

    assert result.exit_code == INPUT_REFUSED
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert "refusing plain http to 0.0.0.0" in line
    assert "--allow-insecure-http" in line
    assert "allow_insecure_http" not in line
    assert fake_godeploy.requests == []


async def test_allow_insecure_http_flag_lets_plain_http_through(
    run_godeploy, fake_godeploy: FakeGoDeploy
):
    result = await run_godeploy(
        "orders",
        "list",
        "--limit",
        "1",
        "--json",
        "--allow-insecure-http",
        *_over_plain_http(fake_godeploy),
        secret=fake_godeploy.token,
    )

    assert result.exit_code == 0, result.stderr
    assert len(result.json_lines()) == 1


async def test_a_bad_base_url_is_a_usage_error(
    run_godeploy, cli_environment, fake_godeploy: FakeGoDeploy
):
    env = cli_environment(
        GODEPLOY_TOKEN=fake_godeploy.token,
        GODEPLOY_BUSINESS_UNIT_ID=str(fake_godeploy.business_unit_id),
        GODEPLOY_BASE_URL="ftp://example.com/",
    )

    result = await run_godeploy("orders", "list", env=env, secret=fake_godeploy.token)

    assert result.exit_code == INPUT_REFUSED
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: Invalid value for '--base-url': ")
    assert "absolute http(s) URL" in line
