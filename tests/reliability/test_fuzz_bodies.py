"""Fuzzing what the API answers: every operation gives a model or a `ResponseValidationError`.

Bodies are drawn three ways: valid per the spec (built from the generated models' types with
the spec's formats), valid ones mutated (a field missing, extra, wrong-typed, null, a huge
number, deep nesting, odd unicode), and garbage bytes. They go through
`godeploy._converter.structure_json` for every page and resource model, and through the real
client against a tiny aiohttp server on loopback for all eight operations; error answers
(any status, any body) must give the status's typed error, and a page's `_links.next` of any
shape must give items or a `PaginationError`. Nothing else may escape.
"""

from __future__ import annotations

import asyncio
import json
import typing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godeploy import (
    APIStatusError,
    GoDeployClient,
    OrderOutcomeUnknownError,
    PaginationError,
    ResponseValidationError,
)
from godeploy import _converter as conversion
from godeploy._exceptions import status_error_class
from godeploy._generated.models import (
    BusinessUnit,
    FeatureSet,
    FeatureSetPage,
    Links,
    Order,
    OrderItem,
    OrderItemPage,
    OrderPage,
    OrderSource,
    PageInfo,
    Price,
    ProblemDetails,
    Product,
    ProductPage,
    User,
)
from godeploy._json import json_name
from tests.reliability.reliability_support import BodyServer, CannedResponse

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
THROUGH_THE_CLIENT = settings(FUZZ, max_examples=25)

MODELS = [
    Product,
    ProductPage,
    FeatureSet,
    FeatureSetPage,
    Order,
    OrderPage,
    OrderItem,
    OrderItemPage,
    Links,
    PageInfo,
    Price,
    User,
    BusinessUnit,
    OrderSource,
    ProblemDetails,
]

UNIT = "6f1b3a8e-2f0e-4d54-9a53-0f1b2c3d4e5f"
PRODUCT = "0b6e36a4-54a4-4b8b-9b9e-6b2a7c3f1d20"
FEATURE_SET = "8d3c2f1e-7a6b-4c5d-8e9f-0a1b2c3d4e5f"
TOKEN = "fuzz-token-not-a-jwt"


# --- bodies ---------------------------------------------------------------------------------------


class Raw:
    """JSON text put into a body as it is: numbers and nesting `json.dumps` would not write."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}{'…' if len(self.text) > 40 else ''})"


def write(value: Any, *, ascii_only: bool = True) -> str:
    """JSON text of a drawn document (Decimal and Raw included)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                json.dumps(k, ensure_ascii=ascii_only) + ":" + write(v, ascii_only=ascii_only)
                for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(write(v, ascii_only=ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


class Body(bytes):
    """A drawn body; its repr stays short however large it is (hypothesis prints examples)."""

    def __repr__(self) -> str:
        head = bytes(self[:60])
        return f"Body({head!r}{'…' if len(self) > 60 else ''}, {len(self)} bytes)"


def encode(value: Any, ascii_only: bool = True) -> Body:
    return Body(write(value, ascii_only=ascii_only).encode("utf-8", errors="surrogatepass"))


printable = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@st.composite
def created(draw: st.DrawFn) -> str:
    """Both of the API's `created` shapes, and what the spec's pattern allows besides."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    digits = draw(st.text("0123456789", max_size=9))
    if digits:
        text += "." + digits
    zone = draw(
        st.one_of(
            st.just(""),
            st.just("Z"),
            st.builds(
                lambda h, m, sign: f"{sign}{h:02d}:{m:02d}",
                st.integers(0, 23),
                st.integers(0, 59),
                st.sampled_from("+-"),
            ),
        )
    )
    return text + zone


def json_of(tp: Any) -> st.SearchStrategy[Any]:
    """Valid JSON for a model type, per the spec's types and formats."""
    if attrs.has(tp):
        hints = typing.get_type_hints(tp)
        required: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for attribute in attrs.fields(tp):
            key = json_name(attribute)
            strategy = created() if attribute.name == "created" else json_of(hints[attribute.name])
            if attribute.default is attrs.NOTHING:
                required[key] = strategy
            else:
                optional[key] = strategy
        return st.fixed_dictionaries(required, optional=optional)
    origin, arguments = typing.get_origin(tp), typing.get_args(tp)
    if arguments and type(None) in arguments:
        (inner,) = [a for a in arguments if a is not type(None)]
        return st.none() | json_of(inner)
    if origin is list:
        return st.lists(json_of(arguments[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(printable, json_of(arguments[1]), max_size=3)
    if isinstance(tp, type) and issubclass(tp, Enum):
        # An open enum: the documented values and any other string.
        return st.sampled_from([m.value for m in tp]) | printable
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: printable,
        bool: st.booleans(),
        int: st.integers(min_value=0, max_value=2**63 - 1),
        UUID: st.uuids().map(str),
        Decimal: st.decimals(allow_nan=False, allow_infinity=False),
        datetime: created(),
    }
    return simple[tp]


valid_bodies = {model: json_of(model) for model in MODELS}

odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
    st.sampled_from(["", "\u0000", "\u202e", "💥", "1", "true", "null", "NaN", "-0"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(
        [
            Raw("1" * 30),
            Raw("1" * 5000),  # more digits than int() reads
            Raw("1e400"),
            Raw("-1e400"),
            Raw("1e-400"),
            Raw("123456789012345678901234567890.5"),
            Raw("[" * 100 + "]" * 100),
            Raw("[" * 100_000 + "]" * 100_000),  # deeper than the decoder goes
            Raw('{"a":' * 5000 + "1" + "}" * 5000),
        ]
    ),
)


def paths_of(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document, the root included."""
    places = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            places += paths_of(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            places += paths_of(value, (*prefix, index))
    return places


def mutate(document: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    """A copy of `document` with one change at `path`."""
    if not path:
        return value if how != "extra" or not isinstance(document, dict) else {**document}
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        copy: Any = dict(document)
    else:
        copy = list(document)
    if rest:
        copy[head] = mutate(copy[head], rest, how, value)
    elif how == "missing":
        del copy[head]
    elif how == "extra" and isinstance(copy[head], dict):
        copy[head] = {**copy[head], "unexpectedField": value}
    else:
        copy[head] = value
    return copy


@st.composite
def mutated_bodies(draw: st.DrawFn, model: type) -> Any:
    document = draw(valid_bodies[model])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(document)))
        how = draw(st.sampled_from(["missing", "extra", "wrong", "null"]))
        value = None if how == "null" else draw(odd_values)
        document = mutate(document, path, how, value)
    return document


def bodies(model: type) -> st.SearchStrategy[tuple[str, bytes]]:
    """(kind, body): valid, mutated, or garbage."""
    return st.one_of(
        st.tuples(st.just("valid"), valid_bodies[model].map(encode)),
        st.tuples(
            st.just("mutated"),
            st.builds(encode, mutated_bodies(model), st.booleans()),
        ),
        st.tuples(
            st.just("garbage"),
            st.one_of(
                st.binary(max_size=64),
                st.sampled_from([b"", b"null", b"[]", b"\xff\xfe{}", b"{" * 10_000, b"\x00"]),
            ).map(Body),
        ),
    )


# --- structure_json on its own --------------------------------------------------------------------


def decode(body: bytes, model: type) -> Any:
    """structure_json, which may raise ResponseValidationError and nothing else."""
    try:
        return conversion.structure_json(body, model)
    except ResponseValidationError as error:
        failure = error
    assert failure.path.startswith("$")
    return failure


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
@FUZZ
@given(data=st.data())
def test_structure_json_gives_a_model_or_response_validation_error(model, data):
    kind, body = data.draw(bodies(model), label="body")
    outcome = decode(body, model)
    if kind == "valid":
        assert isinstance(outcome, model), outcome
        # What the SDK writes back reads back the same.
        again = conversion.structure(conversion.unstructure(outcome), model)
        assert again == outcome
    else:
        assert isinstance(outcome, (model, ResponseValidationError)), outcome


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
@FUZZ
@given(data=st.data())
def test_generated_decoders_and_the_converter_agree(model, data):
    """The generated decoder (the fast path) accepts exactly what the converter accepts."""
    _, body = data.draw(bodies(model), label="body")
    try:
        document = conversion.decode_json(body)
    except ResponseValidationError:
        return
    outcomes = []
    decoder = conversion._DECODERS[model]
    for structure in (decoder, lambda document: conversion._CONVERTER.structure(document, model)):
        try:
            outcomes.append(("ok", structure(document)))
        except Exception:  # noqa: BLE001 - compared, not hidden (the errors' types differ)
            outcomes.append(("error", None))
    (fast, fast_value), (detailed, detailed_value) = outcomes
    assert fast == detailed, outcomes
    if fast == "ok":
        assert fast_value == detailed_value


def test_a_datetime_without_an_offset_is_utc_and_seven_digits_are_kept():
    order = {
        "id": 1,
        "businessUnitId": UNIT,
        "createdByUserId": UNIT,
        "orderSourceId": UNIT,
        "purchasingOrderReference": "PO",
        "orderStatus": "Processing",
        "created": "2019-02-24T20:04:30.473",
        "editable": True,
        "cancellable": False,
    }
    stored = conversion.structure_json(json.dumps(order), Order)
    assert stored.created == datetime(2019, 2, 24, 20, 4, 30, 473000, tzinfo=UTC)
    new = conversion.structure_json(
        json.dumps({**order, "created": "2023-04-21T12:49:24.7613405+01:30"}), Order
    )
    assert new.created == datetime(
        2023, 4, 21, 12, 49, 24, 761340, tzinfo=timezone(timedelta(hours=1, minutes=30))
    )


# --- through the client, against a loopback server ------------------------------------------------


async def first_pages(pager: Any) -> list[Any]:
    """At most two pages of a listing."""
    pages = []
    async for page in pager.pages():
        pages.append(page)
        if len(pages) == 2:
            break
    return pages


OPERATIONS: dict[str, tuple[type, Any]] = {
    "listProducts": (ProductPage, lambda c: first_pages(c.products.list())),
    "getProduct": (Product, lambda c: c.products.get(PRODUCT)),
    "listFeatureSets": (FeatureSetPage, lambda c: first_pages(c.feature_sets.list(PRODUCT))),
    "getFeatureSet": (FeatureSet, lambda c: c.feature_sets.get(PRODUCT, FEATURE_SET)),
    "listOrders": (OrderPage, lambda c: first_pages(c.orders.list())),
    "getOrder": (Order, lambda c: c.orders.get(7)),
    "createOrder": (
        Order,
        lambda c: c.orders.create(
            purchase_order_reference="PO-FUZZ",
            email_keys=False,
            order_items=[{"feature_set_id": FEATURE_SET, "quantity": 1}],
        ),
    ),
    "listOrderItems": (OrderItemPage, lambda c: first_pages(c.order_items.list(7))),
}


async def call(server: BodyServer, operation: str) -> Any:
    """Run one operation with a fresh client; return its result or the GoDeployError it raised.

    Anything else that escapes fails the test (it is not caught here).
    """
    _, run = OPERATIONS[operation]
    async with GoDeployClient(TOKEN, UNIT, base_url=server.url, max_retries=0) as client:
        try:
            return await run(client)
        except (ResponseValidationError, PaginationError, OrderOutcomeUnknownError) as error:
            return error
        except APIStatusError as error:
            return error


@pytest.fixture(scope="module")
def body_server():
    with BodyServer() as server:
        yield server


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_every_operation_gives_a_model_or_response_validation_error(body_server, operation):
    model, _ = OPERATIONS[operation]
    status = 201 if operation == "createOrder" else 200

    @THROUGH_THE_CLIENT
    @given(drawn=bodies(model))
    def example(drawn: tuple[str, bytes]) -> None:
        kind, body = drawn
        body_server.response = CannedResponse(status=status, body=body)
        outcome = asyncio.run(call(body_server, operation))
        expected = decode(body, model)
        if isinstance(outcome, OrderOutcomeUnknownError):
            # A created order whose answer cannot be read: it may exist.
            assert isinstance(outcome.__cause__, ResponseValidationError)
            outcome = outcome.__cause__
        if isinstance(expected, ResponseValidationError):
            assert isinstance(outcome, ResponseValidationError), outcome
            assert outcome.path == expected.path
        elif operation.startswith("list"):
            # A valid page, though maybe not the page asked for, or a next link to follow.
            assert isinstance(outcome, (list, PaginationError, ResponseValidationError)), outcome
            if isinstance(outcome, list):
                assert outcome and outcome[0].items == list(expected.items)
        else:
            assert outcome == expected
        assert kind != "valid" or not isinstance(outcome, ResponseValidationError)

    example()


error_bodies = st.one_of(
    st.binary(max_size=64).map(Body),
    st.builds(
        encode,
        st.fixed_dictionaries(
            {},
            optional={
                "type": odd_values,
                "title": odd_values,
                "status": odd_values,
                "detail": odd_values,
                "traceId": odd_values,
                "errors": st.one_of(
                    odd_values, st.dictionaries(printable, st.lists(printable), max_size=3)
                ),
            },
        ),
    ),
    st.sampled_from([b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000]).map(
        Body
    ),
    st.builds(encode, odd_values),
)


@THROUGH_THE_CLIENT
@given(
    status=st.sampled_from([*range(300, 309), 400, 401, 403, 404, 405, 406, 408, 410, 418, 422])
    | st.sampled_from([429, 500, 501, 502, 503, 504, 599]),
    body=error_bodies,
    content_type=st.sampled_from(
        ["application/json", "application/problem+json; charset=utf-8", "text/html", "text/plain"]
    ),
    retry_after=st.none()
    | st.sampled_from(["0", "1e400", "-5", "nan", "soon", "inf", "Wed, 21 Oct 2015 07:28:00 GMT"]),
)
def test_error_answers_give_the_typed_error_of_their_status(
    body_server, status, body, content_type, retry_after
):
    headers = {"Content-Type": content_type}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    body_server.response = CannedResponse(status=status, body=body, headers=headers)
    outcome = asyncio.run(call(body_server, "getOrder"))
    assert type(outcome) is status_error_class(status), outcome
    assert outcome.status == status
    assert isinstance(outcome.body, (dict, list, str, int, float, Decimal, bool, type(None)))
    assert TOKEN not in str(outcome) and TOKEN not in repr(outcome)


next_links = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "/api/v2/orders?_page=2",
            "?_page=2",
            "/api/v2/orders?_page=abc",
            "/api/v2/orders?_page=-1",
            "/api/v2/orders?_page=" + "9" * 5000,
            "http://[::1",
            "http://[",
            "//evil.example/api/v2/orders?_page=2",
            "http://evil.example/api/v2/orders?_page=2",
            "https://127.0.0.1/api/v2/orders?_page=2",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "\\\\evil.example\\share",
            "/\\evil.example/api",
            "http://user:pass@127.0.0.1/api/v2/orders?_page=2",
            "%zz",
            "\x00",
        ]
    ),
)


@THROUGH_THE_CLIENT
@given(link=next_links, same_origin_credentials=st.booleans())
def test_any_next_link_gives_pages_or_a_pagination_error(
    body_server, link, same_origin_credentials
):
    if same_origin_credentials and link.startswith("http://user:pass@127.0.0.1"):
        link = str(body_server.url.with_user("user").with_password("pass")) + "/x?_page=2"
    page = {
        "items": [],
        "_pageInfo": {
            "pageCount": 2,
            "totalItemCount": 1,
            "pageNumber": 1,
            "pageSize": 1,
            "hasPreviousPage": False,
            "hasNextPage": True,
            "isFirstPage": True,
            "isLastPage": False,
            "firstItemOnPage": 1,
            "lastItemOnPage": 1,
        },
        "_links": {"next": link},
    }
    # A page with an item, so that the pager goes on to the next link.
    page["items"] = [
        {
            "id": PRODUCT,
            "code": "C",
            "name": "N",
            "courseIds": [],
        }
    ]
    body_server.response = CannedResponse(body=encode(page))
    outcome = asyncio.run(call(body_server, "listProducts"))
    # Whatever the link, the server answers page 1 again: the pager must stop, and say why.
    assert isinstance(outcome, PaginationError), outcome
