"""Codegen of the operation descriptors: the committed module is what `make codegen` makes of the
spec, and it names every operation of the spec, in spec order, under the names the core uses."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
import yaml

import codegen
from codegen import load_module
from godeploy._generated import operations
from tests.codegen.test_codegen import assert_golden
from tests.reference_examples import ROOT, SPEC_PATH

COMMITTED = ROOT / "src" / "godeploy" / "_generated" / "operations.py"

# The names the core is written against, and what the fake's router binds: a spec change that
# renames one, moves a parameter or stops paging must be seen here.
UUID, INT64 = "uuid", "int64"
EXPECTED = [
    ("LIST_PRODUCTS", "listProducts", "GET", "/api/v2/products", (), True, False, (200,)),
    (
        "GET_PRODUCT",
        "getProduct",
        "GET",
        "/api/v2/products/{productId}",
        (("productId", UUID),),
        False,
        False,
        (200,),
    ),
    (
        "LIST_FEATURE_SETS",
        "listFeatureSets",
        "GET",
        "/api/v2/products/{productId}/feature_sets",
        (("productId", UUID),),
        True,
        False,
        (200,),
    ),
    (
        "GET_FEATURE_SET",
        "getFeatureSet",
        "GET",
        "/api/v2/products/{productId}/feature_sets/{featureSetId}",
        (("productId", UUID), ("featureSetId", UUID)),
        False,
        False,
        (200,),
    ),
    ("LIST_ORDERS", "listOrders", "GET", "/api/v2/orders", (), True, False, (200,)),
    ("CREATE_ORDER", "createOrder", "POST", "/api/v2/orders", (), False, True, (201, 200)),
    (
        "GET_ORDER",
        "getOrder",
        "GET",
        "/api/v2/orders/{orderId}",
        (("orderId", INT64),),
        False,
        False,
        (200,),
    ),
    (
        "LIST_ORDER_ITEMS",
        "listOrderItems",
        "GET",
        "/api/v2/orders/{orderId}/items",
        (("orderId", INT64),),
        True,
        False,
        (200,),
    ),
]
FIELDS = ["id", "method", "path", "path_params", "paginated", "has_body", "success"]


@pytest.fixture(scope="module")
def generated_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    return codegen.generate_operations(SPEC_PATH, tmp_path_factory.mktemp("ops") / "operations.py")


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generate from a copy of the spec with one more operation, a DELETE."""
    folder = tmp_path_factory.mktemp("ops-extended")
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    spec["paths"]["/api/v2/orders/{orderId}"]["delete"] = {
        "operationId": "cancelOrder",
        "summary": "Cancel an order",
        "parameters": [{"$ref": "#/components/parameters/orderId"}],
        "responses": {"204": {"description": "cancelled"}},
    }
    spec_copy = folder / "orders-v2.yaml"
    spec_copy.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    codegen.generate_operations(spec_copy, folder / "operations.py")
    yield load_module(folder / "operations.py", "_codegen_test_operations_extended")
    del sys.modules["_codegen_test_operations_extended"]


def test_committed_operations_are_what_codegen_makes(generated_text: str) -> None:
    assert_golden(COMMITTED, generated_text)


def test_generation_is_deterministic(generated_text: str, tmp_path: Path) -> None:
    assert codegen.generate_operations(SPEC_PATH, tmp_path / "operations.py") == generated_text


def test_every_operation_of_the_spec_in_spec_order() -> None:
    got = [(name, getattr(operations, name)) for name, *_ in EXPECTED]
    described = [(name, *(getattr(op, field) for field in FIELDS)) for name, op in got]
    assert described == EXPECTED
    assert tuple(op for _, op in got) == operations.OPERATIONS


def test_operations_match_the_spec_read_independently() -> None:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    in_spec = [
        (operation["operationId"], method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert [(op.id, op.method, op.path) for op in operations.OPERATIONS] == in_spec


def test_operation_is_a_frozen_kw_only_attrs_class() -> None:
    op = operations.GET_ORDER
    assert attrs.has(operations.Operation)
    assert [a.name for a in attrs.fields(operations.Operation)] == FIELDS
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        op.path = "/elsewhere"  # type: ignore[misc]
    with pytest.raises(TypeError):
        operations.Operation("getOrder", "GET", "/x")  # type: ignore[misc]
    assert (
        operations.Operation(
            id="getOrder",
            method="GET",
            path="/api/v2/orders/{orderId}",
            path_params=(("orderId", "int64"),),
        )
        == operations.GET_ORDER
    )
    assert hash(op) == hash(operations.GET_ORDER)


def test_a_new_operation_becomes_a_constant(extended: ModuleType) -> None:
    assert (
        extended.Operation(
            id="cancelOrder",
            method="DELETE",
            path="/api/v2/orders/{orderId}",
            path_params=(("orderId", "int64"),),
            success=(204,),
        )
        == extended.CANCEL_ORDER
    )
    # The path item's methods keep their place: the DELETE comes right after the GET.
    ids = [op.id for op in extended.OPERATIONS]
    assert ids[ids.index("getOrder") + 1] == "cancelOrder"
    assert "CANCEL_ORDER" in extended.__all__


@pytest.mark.parametrize(
    ("operation_id", "name"),
    [("listOrderItems", "LIST_ORDER_ITEMS"), ("getOrder", "GET_ORDER"), ("v2Thing", "V2_THING")],
)
def test_constant_name(operation_id: str, name: str) -> None:
    assert codegen.constant_name(operation_id) == name


def _one_operation(parameters: list[dict[str, Any]], path: str = "/things/{thingId}") -> Any:
    spec = {"paths": {path: {"get": {"operationId": "getThing", "parameters": parameters}}}}
    return codegen.spec_operations(spec)


def test_path_parameters_come_from_the_path_item_too_in_path_order() -> None:
    spec = {
        "paths": {
            "/a/{b}/c/{a}": {
                "parameters": [{"name": "a", "in": "path", "schema": {"format": "int64"}}],
                "get": {
                    "operationId": "getC",
                    "parameters": [
                        {"name": "b", "in": "path", "schema": {"format": "uuid"}},
                        {"name": "_page", "in": "query"},
                    ],
                    "responses": {"206": {}, "200": {}, "404": {}, "default": {}},
                },
            }
        }
    }
    ((_, _, _, _, fields),) = codegen.spec_operations(spec)
    assert fields["path_params"] == (("b", "uuid"), ("a", "int64"))
    assert fields["paginated"] is True
    assert fields["success"] == (206, 200)


def test_a_template_variable_that_is_not_declared_is_refused() -> None:
    with pytest.raises(ValueError, match=r"getThing: /things/\{thingId\} declares \[\]"):
        _one_operation([])


def test_a_path_parameter_format_the_fake_cannot_bind_is_refused() -> None:
    date = {"name": "thingId", "in": "path", "schema": {"type": "string", "format": "date"}}
    with pytest.raises(NotImplementedError, match="'thingId' has format 'date'"):
        _one_operation([date])
