"""The contract: openapi/orders-v2.yaml is a valid OpenAPI 3.0 document that says what the vendor's
reference (openapi/order-api-reference.md) says, and embeds the reference's example bodies."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import OpenAPIV30SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests._support.reference_examples import (
    REFERENCE_EXAMPLES,
    REFERENCE_PATH,
    SPEC_PATH,
    ReferenceExample,
)

SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
REFERENCE = REFERENCE_PATH.read_text(encoding="utf-8")

# operationId -> (method, path, tag, summary, is a list)
OPERATIONS: dict[str, tuple[str, str, str, str, bool]] = {
    "listProducts": ("get", "/api/v2/products", "products", "Get all products", True),
    "getProduct": (
        "get",
        "/api/v2/products/{productId}",
        "products",
        "Get a specific product",
        False,
    ),
    "listFeatureSets": (
        "get",
        "/api/v2/products/{productId}/feature_sets",
        "feature_sets",
        "Get all feature sets for a product",
        True,
    ),
    "getFeatureSet": (
        "get",
        "/api/v2/products/{productId}/feature_sets/{featureSetId}",
        "feature_sets",
        "Get a specific feature set for a product",
        False,
    ),
    "listOrders": ("get", "/api/v2/orders", "orders", "Get all orders", True),
    "getOrder": ("get", "/api/v2/orders/{orderId}", "orders", "Get a specific order", False),
    "createOrder": ("post", "/api/v2/orders", "orders", "Create an order", False),
    "listOrderItems": (
        "get",
        "/api/v2/orders/{orderId}/items",
        "order_items",
        "Get all order items for an order",
        True,
    ),
}
LIST_OPERATIONS = [op for op, (*_, is_list) in OPERATIONS.items() if is_list]
ERROR_STATUSES = ["400", "401", "403", "404", "405", "406", "410", "429", "500", "503"]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def resolve(node: Any) -> Any:
    """Follow a local `$ref` (repeatedly) to the node it names."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        node = SPEC
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operation(operation_id: str) -> dict[str, Any]:
    method, path, *_ = OPERATIONS[operation_id]
    return SPEC["paths"][path][method]


def parameters(operation_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The operation's parameters (with the path item's), resolved, keyed by (in, name)."""
    _, path, *_ = OPERATIONS[operation_id]
    declared = [*SPEC["paths"][path].get("parameters", []), *operation(operation_id)["parameters"]]
    resolved = [resolve(p) for p in declared]
    return {(p["in"], p["name"]): p for p in resolved}


def schema_errors(schema_name: str, instance: Any) -> list[str]:
    """Validate an instance against a component schema the way OpenAPI 3.0 tools do."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]}
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def comparable(value: Any) -> Any:
    """JSON data in a form where equal means equal: numbers as Decimals, bools apart from 0/1."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, (int, float, Decimal)):
        return ("number", Decimal(str(value)))
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    raise TypeError(type(value))


def spec_example_location(example: ReferenceExample) -> dict[str, Any]:
    """The media type object of the spec where the reference example belongs."""
    op = operation(example.operation_id)
    if example.status is None:
        return op["requestBody"]["content"]["application/json"]
    return op["responses"][example.status]["content"]["application/json"]


# -- the document ------------------------------------------------------------------------------


def test_spec_is_a_valid_openapi_30_document() -> None:
    assert SPEC["openapi"].startswith("3.0.")
    validate(SPEC, cls=OpenAPIV30SpecValidator)


def test_the_validator_rejects_a_broken_copy() -> None:
    """The validity test above can fail: an operation without responses is caught."""
    broken = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    del broken["paths"]["/api/v2/orders"]["get"]["responses"]
    with pytest.raises(OpenAPIValidationError, match=r"responses.* is a required property"):
        validate(broken, cls=OpenAPIV30SpecValidator)


def test_operations_are_exactly_the_eight_of_the_reference() -> None:
    found = {
        op["operationId"]: (method, path)
        for path, item in SPEC["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }
    assert found == {op: (method, path) for op, (method, path, *_) in OPERATIONS.items()}


def test_paths_and_methods_are_the_references() -> None:
    documented = {
        (method.lower(), "/" + path)
        for method, path in re.findall(r"^`(GET|POST|PUT|PATCH|DELETE) ([^?`]+)", REFERENCE, re.M)
    }
    assert documented == {(method, path) for method, path, *_ in OPERATIONS.values()}


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_operation_tag_and_summary(operation_id: str) -> None:
    _, _, tag, summary, _ = OPERATIONS[operation_id]
    op = operation(operation_id)
    assert op["tags"] == [tag]
    assert tag in {t["name"] for t in SPEC["tags"]}
    assert op["summary"] == summary
    assert op.get("description")


def test_summaries_are_the_references_headings() -> None:
    headings = {h.lower() for h in re.findall(r"^## (.+?)\s*$", REFERENCE, re.M)}
    assert {summary.lower() for *_, summary, _ in OPERATIONS.values()} == headings


# -- security and parameters ---------------------------------------------------------------------


def test_bearer_scheme() -> None:
    scheme = SPEC["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert scheme["bearerFormat"] == "JWT"
    assert SPEC["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_every_operation_requires_the_bearer_token(operation_id: str) -> None:
    # Stated on the operation itself, so no global default can be lost on the way.
    assert operation(operation_id)["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_every_operation_requires_business_unit_id(operation_id: str) -> None:
    parameter = parameters(operation_id)[("query", "businessUnitId")]
    assert parameter["required"] is True
    assert parameter["schema"] == {"type": "string", "format": "uuid"}


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_every_path_template_variable_is_a_required_path_parameter(operation_id: str) -> None:
    _, path, *_ = OPERATIONS[operation_id]
    in_path = {name for (where, name) in parameters(operation_id) if where == "path"}
    assert in_path == set(re.findall(r"{(\w+)}", path))
    assert all(parameters(operation_id)[("path", name)]["required"] is True for name in in_path)


@pytest.mark.parametrize("operation_id", LIST_OPERATIONS)
def test_every_list_takes_page_and_page_size(operation_id: str) -> None:
    found = parameters(operation_id)
    page, page_size = found[("query", "_page")], found[("query", "_pageSize")]
    # The reference's defaults: `_page` 1, `_pageSize` 10.
    assert page.get("required", False) is False
    assert page["schema"] == {"type": "integer", "minimum": 1, "default": 1}
    assert page_size.get("required", False) is False
    assert page_size["schema"] == {"type": "integer", "minimum": 1, "default": 10}


@pytest.mark.parametrize("operation_id", sorted(set(OPERATIONS) - set(LIST_OPERATIONS)))
def test_single_resources_take_no_paging(operation_id: str) -> None:
    names = {name for _, name in parameters(operation_id)}
    assert not names & {"_page", "_pageSize"}


def test_lists_are_the_operations_returning_pages() -> None:
    pages = {
        op
        for op in OPERATIONS
        if operation(op)["responses"]["200" if op != "createOrder" else "201"]["content"][
            "application/json"
        ]["schema"]["$ref"].endswith("Page")
    }
    assert pages == set(LIST_OPERATIONS)


# -- error responses -----------------------------------------------------------------------------


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_every_operation_documents_the_error_statuses(operation_id: str) -> None:
    responses = operation(operation_id)["responses"]
    missing = [status for status in ERROR_STATUSES if status not in responses]
    assert not missing
    for status in [*ERROR_STATUSES, "default"]:
        response = resolve(responses[status])
        assert response["description"]
        content = response["content"]
        for media_type in ("application/json", "application/problem+json"):
            assert content[media_type]["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}
        for media_type in ("text/plain", "text/html"):
            assert content[media_type]["schema"] == {"type": "string"}


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_too_many_requests_carries_retry_after(operation_id: str) -> None:
    for status in ("429", "503"):
        response = resolve(operation(operation_id)["responses"][status])
        header = resolve(response["headers"]["Retry-After"])
        assert header["schema"] == {"type": "string"}  # seconds or an HTTP date


RFC_7807_BODIES = {
    "validation-problem": {
        "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "traceId": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        "errors": {
            "PurchaseOrderReference": ["The PurchaseOrderReference field is required."],
            "OrderItems[0].Quantity": ["Quantity must be at least 1.", "Another message."],
        },
    },
    "plain-problem": {"title": "Not Found", "status": 404, "detail": "No such order."},
    "extension-members": {"type": "about:blank", "status": 429, "instance": "/api/v2/orders"},
    "empty-object": {},
    "gateway-message": {"message": "Too many requests", "code": 429},
    "errors-empty-map": {"errors": {}},
}


@pytest.mark.parametrize("body", RFC_7807_BODIES.values(), ids=RFC_7807_BODIES)
def test_problem_details_accepts_rfc_7807_and_other_objects(body: dict[str, Any]) -> None:
    assert schema_errors("ProblemDetails", body) == []


@pytest.mark.parametrize(
    "body",
    [{"errors": {"quantity": "must be positive"}}, {"status": "400"}, ["not", "an", "object"]],
    ids=["errors-value-not-a-list", "status-not-an-integer", "array"],
)
def test_problem_details_is_not_vacuous(body: Any) -> None:
    """The RFC 7807 members it names keep their RFC types (so the tests above can fail)."""
    assert schema_errors("ProblemDetails", body) != []


@pytest.mark.parametrize("body", ["Unauthorized", "<html><body>502 Bad Gateway</body></html>", ""])
def test_error_responses_accept_text_bodies(body: str) -> None:
    for status in [*ERROR_STATUSES, "default"]:
        content = resolve(operation("listOrders")["responses"][status])["content"]
        for media_type in ("text/plain", "text/html"):
            schema = content[media_type]["schema"]
            assert list(OAS30Validator(schema).iter_errors(body)) == []


# -- the reference's example bodies --------------------------------------------------------------


def test_the_reference_has_nine_json_examples() -> None:
    assert len(REFERENCE_EXAMPLES) == REFERENCE.count("```json") == 9
    assert [e.kind for e in REFERENCE_EXAMPLES].count("Request") == 1
    assert len({(e.operation_id, e.status) for e in REFERENCE_EXAMPLES}) == 9


def test_the_spec_embeds_only_the_references_examples() -> None:
    def example_keys(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [k for k in node if k in ("example", "examples")]
            return own + [
                found for k, v in node.items() if k not in own for found in example_keys(v)
            ]
        if isinstance(node, list):
            return [found for v in node for found in example_keys(v)]
        return []

    assert example_keys(SPEC) == ["example"] * len(REFERENCE_EXAMPLES)


def test_reference_example_is_embedded_verbatim(reference_example: ReferenceExample) -> None:
    location = spec_example_location(reference_example)
    assert location["schema"] == {"$ref": f"#/components/schemas/{reference_example.schema}"}
    reference = json.loads(reference_example.text, parse_float=Decimal)
    # YAML read `48.0000` as the float 48.0: numbers are compared as numbers.
    assert comparable(location["example"]) == comparable(reference)


def test_reference_example_fits_its_schema(reference_example: ReferenceExample) -> None:
    body = json.loads(reference_example.text)
    assert schema_errors(reference_example.schema, body) == []


def test_comparison_of_examples_can_fail() -> None:
    reference = json.loads(REFERENCE_EXAMPLES[2].text, parse_float=Decimal)
    changed = json.loads(REFERENCE_EXAMPLES[2].text, parse_float=Decimal)
    changed["items"][0]["prices"][0]["value"] = Decimal("48.01")
    assert comparable(changed) != comparable(reference)
    assert comparable({"editable": True}) != comparable({"editable": 1})
    assert comparable({"value": 48.0}) == comparable({"value": Decimal("48.0000")})


ORDER = json.loads(next(e.text for e in REFERENCE_EXAMPLES if e.operation_id == "getOrder"))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"created": "yesterday"}, "created"),
        ({"created": "2019-02-24 20:04:30"}, "created"),
        ({"created": "2019-13-24T20:04:30.473"}, "created"),
        ({"created": "2019-02-24T20:04:30.473+0100"}, "created"),
        ({"orderStatus": 5}, "orderStatus"),
        ({"id": "1"}, "id"),
        ({"businessUnitId": "UK"}, "businessUnitId"),
        ({"editable": "false"}, "editable"),
    ],
)
def test_schemas_reject_a_wrong_order(change: dict[str, Any], where: str) -> None:
    errors = schema_errors("Order", {**ORDER, **change})
    assert len(errors) == 1
    assert errors[0].startswith(f"['{where}']")


@pytest.mark.parametrize(
    "created",
    [
        "2019-02-24T20:04:30.473",  # stored orders: no offset (QUIRK)
        "2023-04-21T12:49:24.7613405Z",  # a new order: seven digits and Z
        "2023-04-21T12:49:24Z",
        "2023-04-21T14:49:24.5+02:00",
    ],
)
def test_created_accepts_both_shapes_the_api_sends(created: str) -> None:
    assert schema_errors("Order", {**ORDER, "created": created}) == []


def test_created_is_still_typed_as_a_date_time_for_codegen() -> None:
    created = SPEC["components"]["schemas"]["Order"]["properties"]["created"]
    assert created["x-format"] == "date-time"
    assert "format" not in created  # RFC 3339 would refuse the stored orders' offset-less times
    assert "QUIRK" in created["description"]


def test_create_request_refuses_what_the_reference_does_not_list() -> None:
    request = json.loads(next(e.text for e in REFERENCE_EXAMPLES if e.kind == "Request"))
    assert schema_errors("CreateOrderRequest", {**request, "purchasingOrderReference": "x"})
    for required in ("purchaseOrderReference", "emailKeys", "orderItems"):
        assert schema_errors(
            "CreateOrderRequest", {k: v for k, v in request.items() if k != required}
        )
    item = request["orderItems"][0]
    for required in ("featureSetId", "quantity"):
        trimmed = {k: v for k, v in item.items() if k != required}
        assert schema_errors("CreateOrderRequest", {**request, "orderItems": [trimmed]})


def test_create_request_required_fields_are_the_references() -> None:
    table = re.search(r"### Request Parameters\n\n(.*?)\n\n", REFERENCE, re.S)
    assert table is not None
    rows = [line.split("|") for line in table.group(1).splitlines()[2:]]
    required = {name.strip() for name, flag in rows if flag.strip() == "true"}
    schemas = SPEC["components"]["schemas"]
    assert {n for n in required if "." not in n} == set(schemas["CreateOrderRequest"]["required"])
    assert {n.split(".")[1] for n in required if "." in n} == set(
        schemas["CreateOrderItem"]["required"]
    )
    documented = {name.strip().removeprefix("orderItems[].") for name, _ in rows}
    declared = set(schemas["CreateOrderRequest"]["properties"]) | set(
        schemas["CreateOrderItem"]["properties"]
    )
    assert documented == declared


def test_order_status_is_an_open_set() -> None:
    status = SPEC["components"]["schemas"]["OrderStatus"]
    assert status["x-extensible-enum"] == ["New", "Cancelled"]
    assert "enum" not in status
    assert schema_errors("Order", {**ORDER, "orderStatus": "Shipped"}) == []
