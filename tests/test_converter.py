"""The converter: every reference body decodes into its generated model and re-encodes to itself;
a body that does not fit fails with `ResponseValidationError` naming the place in API key names."""

from __future__ import annotations

import gc
import json
import re
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godeploy import _converter, dumps, loads
from godeploy._converter import decode_json, structure, structure_json, unstructure
from godeploy._exceptions import ResponseValidationError
from godeploy._generated import models
from godeploy._generated.models import (
    CreateOrderItem,
    CreateOrderRequest,
    FeatureSet,
    FeatureSetPage,
    Order,
    OrderItemPage,
    OrderPage,
    OrderStatus,
    Price,
    ProblemDetails,
    Product,
    ProductPage,
)
from tests._support.reference_examples import REFERENCE_EXAMPLES, ReferenceExample

EXAMPLES = {e.id: e for e in REFERENCE_EXAMPLES}
MODELS = {
    "listProducts-response": ProductPage,
    "getProduct-response": Product,
    "listFeatureSets-response": FeatureSetPage,
    "getFeatureSet-response": FeatureSet,
    "listOrders-response": OrderPage,
    "getOrder-response": Order,
    "createOrder-request": CreateOrderRequest,
    "createOrder-response": Order,
    "listOrderItems-response": OrderItemPage,
}


def body(example_id: str) -> Any:
    """A reference body as the SDK decodes it (floats as Decimals)."""
    return json.loads(EXAMPLES[example_id].text, parse_float=Decimal)


def parse_time(text: str) -> datetime:
    """What a `created` value means: an offset-less time is UTC (the API's quirk)."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def literal(text: str | bytes) -> Any:
    """JSON text with every number kept as the digits it was written with."""
    return json.loads(text, parse_float=lambda s: ("number", s), parse_int=lambda s: ("number", s))


def meaning(value: Any, key: str | None = None) -> Any:
    """JSON data with `created` as the instant it names; bools kept apart from 0 and 1."""
    if key == "created" and isinstance(value, str):
        return parse_time(value)
    if isinstance(value, dict):
        return {k: meaning(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [meaning(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    return value


# -- the reference's bodies ----------------------------------------------------------------------


def test_each_reference_example_has_a_model() -> None:
    assert set(MODELS) == set(EXAMPLES)
    for example_id, model in MODELS.items():
        assert model is getattr(models, EXAMPLES[example_id].schema)


def test_reference_example_round_trips(reference_example: ReferenceExample) -> None:
    model = MODELS[reference_example.id]
    decoded = structure_json(reference_example.text, model)
    assert type(decoded) is model
    original = json.loads(reference_example.text, parse_float=Decimal)

    assert meaning(unstructure(decoded)) == meaning(original)
    text = dumps(decoded)
    assert meaning(json.loads(text, parse_float=Decimal)) == meaning(original)
    # Numbers are written as the reference wrote them, digit for digit (`48.0000`, not `48.0`).
    assert meaning(literal(text)) == meaning(literal(reference_example.text))
    # Decoding what was written gives the same model back.
    assert structure_json(text, model) == decoded


@pytest.mark.parametrize("example_id", ["listFeatureSets-response", "getFeatureSet-response"])
def test_money_stays_exact(example_id: str) -> None:
    decoded = structure_json(EXAMPLES[example_id].text, MODELS[example_id])
    feature_set = decoded.items[0] if isinstance(decoded, FeatureSetPage) else decoded
    value = feature_set.prices[0].value
    assert type(value) is Decimal
    assert str(value) == "48.0000"
    assert '"value":48.0000' in dumps(decoded)
    assert "48.0," not in dumps(decoded)


@pytest.mark.parametrize(
    "value", ["48.0000", "0.1000000000000000000000001", "1E+2", "0E-7", "-12.50", "7"]
)
def test_decimals_are_written_digit_for_digit(value: str) -> None:
    price = structure_json(f'{{"currency":"GBP","value":{value}}}', Price)
    assert str(price.value) == value
    assert dumps(price) == f'{{"currency":"GBP","value":{value}}}'


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_decimals_are_not_written(value: str) -> None:
    with pytest.raises(ValueError, match="JSON"):
        dumps(Price(currency="GBP", value=Decimal(value)))


def test_the_seven_digit_z_timestamp_is_kept_to_the_microsecond() -> None:
    order = structure_json(EXAMPLES["createOrder-response"].text, Order)
    assert order.created == datetime(2023, 4, 21, 12, 49, 24, 761340, tzinfo=UTC)
    assert json.loads(dumps(order))["created"] == "2023-04-21T12:49:24.761340Z"


def test_the_offset_less_timestamp_is_read_as_utc() -> None:
    order = structure_json(EXAMPLES["getOrder-response"].text, Order)
    assert order.created == datetime(2019, 2, 24, 20, 4, 30, 473000, tzinfo=UTC)
    assert order.created.utcoffset() == timedelta(0)
    assert json.loads(dumps(order))["created"] == "2019-02-24T20:04:30.473000Z"


def test_typed_values() -> None:
    page = structure_json(EXAMPLES["listOrders-response"].text, OrderPage)
    order = page.items[0]
    assert order.business_unit_id == UUID("0bb7a818-cecb-4c5a-9822-22e62f85589a")
    assert type(order.id) is int
    assert order.editable is False
    assert order.order_source is not None
    assert order.order_source.invoiceable is True
    assert order.links is not None
    assert order.links.self_ == "/api/v2/orders/1"
    assert page.links.next == "/api/v2/orders?_page=2"
    assert page.page_info.page_count == 415


def test_an_empty_links_object_stays_empty() -> None:
    page = structure_json(EXAMPLES["listOrderItems-response"].text, OrderItemPage)
    assert page.links == models.Links()
    assert unstructure(page)["_links"] == {}


# -- bodies that do not fit ----------------------------------------------------------------------


DELETE = object()
PAGE_OF_ORDERS, ORDER, PAGE_OF_FEATURE_SETS, FEATURE_SET, PRODUCT, PAGE_OF_ITEMS, REQUEST = (
    "listOrders-response",
    "getOrder-response",
    "listFeatureSets-response",
    "getFeatureSet-response",
    "getProduct-response",
    "listOrderItems-response",
    "createOrder-request",
)


def change_at(data: Any, path: str, value: Any) -> Any:
    """Set (or with DELETE remove) the value at a JSON path like `$.items[0].orderStatus`."""
    steps: list[str | int] = [
        int(index) if index else key
        for key, index in re.findall(r"\.([A-Za-z_]\w*)|\[(\d+)\]", path.removeprefix("$"))
    ]
    if not steps:
        return value
    node = data
    for step in steps[:-1]:
        node = node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return data


# test id -> (example, where to change, new value[, the path the error names if not that place])
BAD_BODIES: dict[str, tuple[Any, ...]] = {
    # a required field is missing
    "missing-orderStatus": (PAGE_OF_ORDERS, "$.items[0].orderStatus", DELETE),
    "missing-pageCount": (PAGE_OF_ORDERS, "$._pageInfo.pageCount", DELETE),
    "missing-items": (PAGE_OF_ORDERS, "$.items", DELETE),
    "missing-nested-name": (PAGE_OF_ORDERS, "$.items[0].businessUnit.name", DELETE),
    "missing-created": (ORDER, "$.created", DELETE),
    "missing-currency": (FEATURE_SET, "$.prices[0].currency", DELETE),
    "missing-quantity": (PAGE_OF_ITEMS, "$.items[0].quantity", DELETE),
    "missing-featureSetId": (REQUEST, "$.orderItems[0].featureSetId", DELETE),
    # a wrong type
    "int-as-string": (PAGE_OF_ORDERS, "$._pageInfo.pageCount", "1"),
    "int-as-float": (PAGE_OF_ORDERS, "$._pageInfo.pageCount", Decimal("1.5")),
    "int-as-bool": (PAGE_OF_ORDERS, "$.items[0].id", True),
    "orderStatus-as-number": (PAGE_OF_ORDERS, "$.items[0].orderStatus", 5),
    "bool-as-string": (PAGE_OF_ORDERS, "$.items[0].editable", "true"),
    "bool-as-number": (PAGE_OF_ORDERS, "$.items[0].orderSource.invoiceable", 1),
    "uuid-not-a-uuid": (PAGE_OF_ORDERS, "$.items[0].businessUnitId", "UK"),
    "uuid-as-number": (PAGE_OF_ORDERS, "$.items[0].createdByUserId", 7),
    "created-not-a-time": (PAGE_OF_ORDERS, "$.items[0].created", "yesterday"),
    "created-as-number": (PAGE_OF_ORDERS, "$.items[0].created", 1550000000),
    "string-as-number": (PAGE_OF_ORDERS, "$.items[0].purchasingOrderReference", 423432432),
    "link-as-number": (PAGE_OF_ORDERS, "$._links.next", 2),
    "money-as-string": (PAGE_OF_FEATURE_SETS, "$.items[0].prices[0].value", "48.00"),
    "money-as-bool": (PAGE_OF_FEATURE_SETS, "$.items[0].prices[0].value", True),
    "money-as-string-single": (FEATURE_SET, "$.prices[0].value", "48.00"),
    "list-item-wrong-type": (PRODUCT, "$.courseIds", ["c1", 2], "$.courseIds[1]"),
    "quantity-as-string": (REQUEST, "$.orderItems[0].quantity", "1"),
    # a list where an object is expected, and the other way round
    "list-for-object": (PAGE_OF_ORDERS, "$._pageInfo", []),
    "list-for-item": (PAGE_OF_ORDERS, "$.items[0]", [1, 2]),
    "list-for-body": (ORDER, "$", []),
    "object-for-list": (PAGE_OF_ORDERS, "$.items", {}),
    "string-for-list": (PAGE_OF_ORDERS, "$.items", "abc"),
    "string-for-list-of-strings": (PRODUCT, "$.courseIds", "c1"),
    "string-for-object": (PRODUCT, "$._links", "/api/v2/products"),
    "string-for-body": (ORDER, "$", "Cancelled"),
    "number-for-body": (ORDER, "$", 1),
    # null in a required field
    "null-orderStatus": (PAGE_OF_ORDERS, "$.items[0].orderStatus", None),
    "null-pageInfo": (PAGE_OF_ORDERS, "$._pageInfo", None),
    "null-items": (PAGE_OF_ORDERS, "$.items", None),
    "null-item": (PAGE_OF_ORDERS, "$.items[0]", None),
    "null-money": (FEATURE_SET, "$.prices[0].value", None),
    "null-id": (ORDER, "$.id", None),
    "null-body": (ORDER, "$", None),
}


def bad_body(test_id: str) -> tuple[str, Any, str]:
    """The example, the changed body and the path the error must name."""
    example_id, where, value, *named = BAD_BODIES[test_id]
    return example_id, change_at(body(example_id), where, value), (named or [where])[0]


@pytest.mark.parametrize("test_id", BAD_BODIES)
def test_a_body_that_does_not_fit_names_the_place(test_id: str) -> None:
    example_id, data, path = bad_body(test_id)
    model = MODELS[example_id]
    with pytest.raises(ResponseValidationError) as caught:
        structure(data, model, url="https://lms.godeploy.it/api/v2/orders")
    error = caught.value
    assert type(error) is ResponseValidationError
    assert error.path == path
    assert path in str(error)
    assert model.__name__ in str(error)
    # Nothing of cattrs (or a KeyError inside it) leaks out as the cause.
    assert error.__cause__ is None
    assert error.__suppress_context__ is True
    assert str(error.url) == "https://lms.godeploy.it/api/v2/orders"


@pytest.mark.parametrize("test_id", BAD_BODIES)
def test_a_bad_body_is_bad_by_the_spec_too(test_id: str) -> None:
    """Each bad body above is bad by the contract, not only by the converter."""
    from tests.test_spec import schema_errors

    example_id, data, _ = bad_body(test_id)
    assert schema_errors(EXAMPLES[example_id].schema, json.loads(json.dumps(data, default=float)))


def test_change_at() -> None:
    data = {"items": [{"a": 1}], "_links": {}}
    assert change_at(data, "$.items[0].a", 2) == {"items": [{"a": 2}], "_links": {}}
    assert change_at(data, "$._links", DELETE) == {"items": [{"a": 2}]}
    assert change_at(data, "$", None) is None


def test_the_same_failure_through_structure_json() -> None:
    text = EXAMPLES["listFeatureSets-response"].text.replace("48.0000", '"48.00"')
    with pytest.raises(ResponseValidationError) as caught:
        structure_json(text, FeatureSetPage)
    assert caught.value.path == "$.items[0].prices[0].value"
    assert "expected a number, got a string" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "<html><body>502 Bad Gateway</body></html>",
        '{"id": 1,',
        b"\xff\xfe\x00",
        b'{"name": "\xff"}',
        '{"currency": "GBP", "value": NaN}',
        '{"currency": "GBP", "value": Infinity}',
    ],
    ids=["empty", "text", "html", "truncated", "binary", "bad-utf8", "nan", "infinity"],
)
def test_a_body_that_is_not_json(text: str | bytes) -> None:
    with pytest.raises(ResponseValidationError, match="not JSON") as caught:
        structure_json(text, Price)
    assert caught.value.path == "$"
    assert caught.value.__cause__ is None
    with pytest.raises(ResponseValidationError, match="not JSON"):
        decode_json(text)


def test_a_problem_details_map_names_its_key() -> None:
    with pytest.raises(ResponseValidationError) as caught:
        structure({"errors": {"contactEmail": ["ok"], "order Items": ["a", 2]}}, ProblemDetails)
    assert caught.value.path == '$.errors["order Items"][1]'
    with pytest.raises(ResponseValidationError) as caught:
        structure({"errors": ["contactEmail is required"]}, ProblemDetails)
    assert caught.value.path == "$.errors"
    problem = structure({"errors": {"contactEmail": ["required"]}, "status": 400}, ProblemDetails)
    assert problem.errors == {"contactEmail": ["required"]}


# -- what does fit -------------------------------------------------------------------------------


def test_unknown_fields_are_ignored() -> None:
    data = body("listOrders-response")
    data["newTopLevel"] = {"anything": [1, 2]}
    data["items"][0]["vatNumber"] = "GB123"
    data["items"][0]["businessUnit"]["region"] = "EMEA"
    data["_pageInfo"]["cursor"] = None
    page = structure(data, OrderPage)
    assert page == structure(body("listOrders-response"), OrderPage)
    assert "vatNumber" not in dumps(page)


def test_an_unknown_order_status_is_kept() -> None:
    text = EXAMPLES["getOrder-response"].text.replace('"Cancelled"', '"Shipped"')
    order = structure_json(text, Order)
    assert order.order_status == "Shipped"
    assert isinstance(order.order_status, OrderStatus)
    assert isinstance(order.order_status, str)
    assert order.order_status.value == "Shipped"
    assert order.order_status not in (OrderStatus("New"), OrderStatus("Cancelled"))
    assert json.loads(dumps(order))["orderStatus"] == "Shipped"
    assert unstructure(order)["orderStatus"] == "Shipped"


@pytest.mark.parametrize("status", ["New", "Cancelled"])
def test_known_order_statuses_are_members_equal_to_their_strings(status: str) -> None:
    text = EXAMPLES["getOrder-response"].text.replace('"Cancelled"', json.dumps(status))
    order = structure_json(text, Order)
    assert order.order_status is OrderStatus(status)
    assert order.order_status in list(OrderStatus)
    assert order.order_status == status
    assert {status: True}[order.order_status]
    assert json.loads(dumps(order))["orderStatus"] == status


def test_absent_and_null_optional_fields_both_read_as_none() -> None:
    with_null = {**body("getOrder-response"), "contactEmail": None, "_links": None}
    order = structure(with_null, Order)
    assert order.contact_email is None
    assert order.links is None
    assert order.business_unit is None
    # Both are written as absent: the models do not tell null from absent.
    assert "contactEmail" not in unstructure(order)
    assert "businessUnit" not in unstructure(order)


# -- request models ------------------------------------------------------------------------------


def test_a_minimal_request_writes_only_what_was_set() -> None:
    request = CreateOrderRequest(
        purchase_order_reference="PO-1",
        email_keys=False,
        order_items=[
            CreateOrderItem(feature_set_id="a6c1cb36-43b3-4969-a8a0-48e4915e6df0", quantity=2)
        ],
    )
    assert unstructure(request) == {
        "purchaseOrderReference": "PO-1",
        "emailKeys": False,
        "orderItems": [{"featureSetId": "a6c1cb36-43b3-4969-a8a0-48e4915e6df0", "quantity": 2}],
    }
    assert json.loads(dumps(request)) == unstructure(request)


def test_a_full_request_writes_exactly_the_documented_keys() -> None:
    request = CreateOrderRequest(
        purchase_order_reference="your Order Reference",
        contact_email="contact email address",
        email_keys=True,
        order_items=[
            CreateOrderItem(
                feature_set_id="feature set id",
                quantity=1,
                source_reference="Your source reference",
                feedback_link_uri="Your feedback link uri",
                feedback_link_text="Submit feedback",
                enable_feedback_link=True,
                achievement_code="",
            )
        ],
    )
    # The reference's example request sets every documented field.
    assert unstructure(request) == body("createOrder-request")
    assert json.loads(dumps(request)) == body("createOrder-request")


def test_set_falsy_values_are_written() -> None:
    item = CreateOrderItem(
        feature_set_id="f", quantity=1, enable_feedback_link=False, achievement_code=""
    )
    assert unstructure(item) == {
        "featureSetId": "f",
        "quantity": 1,
        "enableFeedbackLink": False,
        "achievementCode": "",
    }


def test_request_keys_are_the_api_spelling() -> None:
    keys = {attrs.fields(CreateOrderRequest).purchase_order_reference.metadata["json"]}
    assert keys == {"purchaseOrderReference"}  # not the order's `purchasingOrderReference`
    assert attrs.fields(Order).purchasing_order_reference.metadata["json"] == (
        "purchasingOrderReference"
    )


# -- property: random valid orders round-trip ----------------------------------------------------

UUID_TEXT = st.uuids().map(str)
TEXT = st.text(max_size=20)
OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])


@st.composite
def created_texts(draw: st.DrawFn) -> str:
    """`created` in the shapes the API sends (and RFC 3339 with an offset)."""
    moment = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)))
    shape = draw(st.sampled_from(["offset-less", "seven-digits-z", "offset"]))
    if shape == "offset-less":
        return moment.isoformat(timespec="milliseconds")
    if shape == "seven-digits-z":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + str(draw(st.integers(0, 9))) + "Z"
    return moment.replace(tzinfo=draw(OFFSETS)).isoformat()


LINKS = st.fixed_dictionaries({}, optional={"self": TEXT, "next": TEXT})
ORDERS = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "businessUnitId": UUID_TEXT,
        "createdByUserId": UUID_TEXT,
        "orderSourceId": UUID_TEXT,
        "purchasingOrderReference": TEXT,
        "orderStatus": st.sampled_from(["New", "Cancelled"]) | TEXT,
        "created": created_texts(),
        "editable": st.booleans(),
        "cancellable": st.booleans(),
    },
    optional={
        "businessUnit": st.fixed_dictionaries({"name": TEXT}),
        "createdByUser": st.fixed_dictionaries(
            {"forename": TEXT, "surname": TEXT, "name": TEXT, "userName": TEXT}
        ),
        "orderSource": st.fixed_dictionaries({"name": TEXT, "invoiceable": st.booleans()}),
        "contactForename": st.none() | TEXT,
        "contactSurname": st.none() | TEXT,
        "contactEmail": st.none() | TEXT,
        "_links": LINKS,
    },
)


@settings(max_examples=200, deadline=None)
@given(ORDERS)
def test_random_valid_orders_round_trip(data: dict[str, Any]) -> None:
    from tests.test_spec import schema_errors

    assert schema_errors("Order", data) == []  # the strategy makes valid orders only
    order = structure_json(json.dumps(data), Order)
    written = json.loads(dumps(order), parse_float=Decimal)
    # null and absent are the same to the models; everything else comes back as it went.
    expected = {k: v for k, v in data.items() if v is not None}
    assert meaning(written) == meaning(expected)
    assert structure_json(dumps(order), Order) == order


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_random_money_round_trips_exactly(value: Decimal) -> None:
    text = '{"currency":"GBP","value":' + str(value) + "}"
    price = structure_json(text, Price)
    assert price.value == value
    assert json.loads(dumps(price), parse_float=Decimal)["value"] == value
    if not re.fullmatch(r"-?\d+", str(value)):  # a JSON integer cannot say `-0`
        assert dumps(price) == text
        assert str(price.value) == str(value)


def test_round_trip_check_can_fail() -> None:
    original = body("getOrder-response")
    assert meaning({**original, "created": "2019-02-24T20:04:30.474"}) != meaning(original)
    assert meaning({**original, "editable": 0}) != meaning(original)
    assert meaning({**original, "created": "2019-02-24T20:04:30.473Z"}) == meaning(original)
    assert meaning(literal('{"value": 48.0000}')) != meaning(literal('{"value": 48.0}'))


# -- date-times: the spec's pattern, not everything fromisoformat takes --------------------------


def order_created(created: str) -> dict[str, Any]:
    data = body("getOrder-response")
    data["created"] = created
    return data


@pytest.mark.parametrize(
    "created",
    [
        "2019-02-24",
        "2019-02-24T20:04",
        "2019-02-24 20:04:30",
        "20190224T200430",
        "2019-02-24T20:04:30.",
        "2019-02-24T20:04:30+01:00:30",
        "2019-02-24T20:04:30+0100",
        "2019-02-24T20:04:30.473\n",
        "2019-W08-7T20:04:30",
        "\uff12019-02-24T20:04:30",
    ],
    ids=[
        "bare-date",
        "no-seconds",
        "space",
        "basic-format",
        "empty-fraction",
        "offset-seconds",
        "offset-no-colon",
        "trailing-newline",
        "week-date",
        "fullwidth-digit",
    ],
)
def test_a_created_outside_the_spec_pattern_is_refused(created: str) -> None:
    from tests.test_spec import schema_errors

    if not created.endswith("\n"):
        # jsonschema runs the pattern with Python's re.search, whose `$` also matches before a
        # final newline; in the ECMA-262 regexes OpenAPI means, it does not.
        assert schema_errors("Order", order_created(created))
    with pytest.raises(ResponseValidationError) as caught:
        structure(order_created(created), Order)
    assert caught.value.path == "$.created"


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2019-02-24T20:04:30.473", datetime(2019, 2, 24, 20, 4, 30, 473000, tzinfo=UTC)),
        ("2019-02-24T20:04:31.47", datetime(2019, 2, 24, 20, 4, 31, 470000, tzinfo=UTC)),
        ("2019-02-24T20:04:32", datetime(2019, 2, 24, 20, 4, 32, tzinfo=UTC)),
        ("2023-04-21T12:49:24.7613405Z", datetime(2023, 4, 21, 12, 49, 24, 761340, tzinfo=UTC)),
        (
            "2023-04-21T12:49:24+01:00",
            datetime(2023, 4, 21, 12, 49, 24, tzinfo=timezone(timedelta(hours=1))),
        ),
    ],
)
def test_a_created_inside_the_spec_pattern_is_read(created: str, expected: datetime) -> None:
    from tests.test_spec import schema_errors

    assert not schema_errors("Order", order_created(created))
    assert structure(order_created(created), Order).created == expected


def test_the_date_time_pattern_is_the_specs() -> None:
    import yaml

    from godeploy._converter import DATE_TIME_PATTERN
    from tests._support.reference_examples import SPEC_PATH

    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    created = spec["components"]["schemas"]["Order"]["properties"]["created"]
    assert created["pattern"] == DATE_TIME_PATTERN


# -- the fast path and its explanation -----------------------------------------------------------


def test_a_fast_path_failure_the_converter_does_not_share_keeps_its_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the generated decoder ever refuses what the converter takes, its error is the cause."""
    from godeploy import _converter

    refusal = RuntimeError("the decoder refused")

    def refuse(_: Any) -> Any:
        raise refusal

    monkeypatch.setitem(_converter._DECODERS, Price, refuse)
    with pytest.raises(ResponseValidationError, match="does not fit Price") as caught:
        structure({"currency": "GBP", "value": Decimal("48.0000")}, Price, url="https://x/y")
    assert caught.value.__cause__ is refusal
    assert str(caught.value.url) == "https://x/y"


def test_every_generated_model_has_a_decoder() -> None:
    from godeploy import _converter

    generated = {
        value for value in vars(models).values() if isinstance(value, type) and attrs.has(value)
    }
    assert set(_converter._DECODERS) == generated


def test_a_class_without_a_decoder_goes_through_the_converter() -> None:
    @attrs.frozen(kw_only=True)
    class Local:
        when: datetime
        count: int = attrs.field(metadata={"json": "countOf"})

    local = structure({"when": "2019-02-24T20:04:30", "countOf": 2}, Local)
    assert local == Local(when=datetime(2019, 2, 24, 20, 4, 30, tzinfo=UTC), count=2)
    with pytest.raises(ResponseValidationError) as caught:
        structure({"when": "2019-02-24", "countOf": 2}, Local)
    assert caught.value.path == "$.when"
    with pytest.raises(ResponseValidationError) as caught:
        structure([{"when": "2019-02-24T20:04:30", "countOf": "2"}], list[Local])
    assert caught.value.path == "$[0].countOf"


@pytest.mark.parametrize("collecting", [True, False], ids=["gc-on", "gc-off"])
@pytest.mark.parametrize("valid", [True, False], ids=["fits", "refused"])
def test_decoding_a_page_sets_off_no_collection_and_leaves_the_collector_as_it_was(
    collecting: bool, valid: bool
) -> None:
    """Thousands of new containers, no collection walking them while they are made."""
    order = loads(EXAMPLES["listOrders-response"].text)["items"][0]
    items = [{**order, "id": number} for number in range(1, 3001)]
    if not valid:
        items[-1] = {**order, "id": "last"}
    page = loads(EXAMPLES["listOrders-response"].text)
    body = dumps({**page, "items": items}).encode()
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        # Only the collections that start while a decode is running (one may come right after).
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != _converter.__file__:
            frame = frame.f_back
        if phase == "start" and frame is not None:
            collections.append(info["generation"])

    if not collecting:
        gc.disable()
    gc.callbacks.append(count)
    try:
        if valid:
            assert len(structure_json(body, OrderPage).items) == 3000
        else:
            with pytest.raises(ResponseValidationError) as caught:
                structure_json(body, OrderPage)
            assert caught.value.path == "$.items[2999].id"
        assert gc.isenabled() is collecting
    finally:
        gc.callbacks.remove(count)
        gc.enable()
    assert collections == []


PAGE_INFO = {
    "pageCount": 1,
    "totalItemCount": 2,
    "pageNumber": 1,
    "pageSize": 100,
    "hasPreviousPage": False,
    "hasNextPage": False,
    "isFirstPage": True,
    "isLastPage": True,
    "firstItemOnPage": 1,
    "lastItemOnPage": 2,
}


def test_equal_page_infos_and_empty_links_are_one_shared_instance() -> None:
    # Frozen and equal: sharing them saves a model per page of `for_orders`.
    first = structure(dict(PAGE_INFO), models.PageInfo)
    assert structure(dict(PAGE_INFO), models.PageInfo) is first
    other = structure({**PAGE_INFO, "lastItemOnPage": 1}, models.PageInfo)
    assert other is not first and other.last_item_on_page == 1
    assert structure({}, models.Links) is structure({}, models.Links) == models.Links()
    assert structure({"self": "/a"}, models.Links) == models.Links(self_="/a")


@pytest.mark.parametrize("key", ["pageCount", "hasNextPage"])
def test_a_shared_page_info_is_no_shortcut_past_the_checks(key: str) -> None:
    # A boolean where a number goes (and the reverse) would hash like the number.
    structure(dict(PAGE_INFO), models.PageInfo)
    wrong = {**PAGE_INFO, key: True if key == "pageCount" else 1}
    with pytest.raises(ResponseValidationError, match=key):
        structure(wrong, models.PageInfo)


def test_shared_page_infos_are_bounded() -> None:
    # A long listing repeats no page info: the shared ones start again past the limit, so
    # they hold a few kilobytes, never one model per page.
    from godeploy._generated.decoders import SHARED_LIMIT

    first = structure({**PAGE_INFO, "pageNumber": 0}, models.PageInfo)
    for number in range(1, SHARED_LIMIT + 1):
        structure({**PAGE_INFO, "pageNumber": number}, models.PageInfo)
    assert structure({**PAGE_INFO, "pageNumber": 0}, models.PageInfo) is not first
