"""Helpers of the FakeGoDeploy tests: the spec, schema validation and a small HTTP caller."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import yaml
from jsonschema import FormatChecker
from multidict import CIMultiDictProxy
from openapi_schema_validator import OAS30Validator

from godeploy.testing import FakeGoDeploy

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi" / "orders-v2.yaml"
REFERENCE_PATH = ROOT / "openapi" / "order-api-reference.md"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))

STORED_CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?$")
NEW_CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z$")

# Formats checked strictly, except date-time: the spec's QUIRK allows `created` without an
# offset, which RFC 3339 (and so jsonschema's own date-time check) refuses.
FORMATS = FormatChecker(formats=())


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(UUID(value)) == value


@FORMATS.checks("date-time", raises=ValueError)
def _is_api_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not (STORED_CREATED.match(value) or NEW_CREATED.match(value)):
        return False
    datetime.fromisoformat(value)
    return True


@FORMATS.checks("int64")
def _is_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def schema_errors(schema_name: str, instance: Any) -> list[str]:
    """Every way `instance` breaks components/schemas/`schema_name` of the spec."""
    validator = OAS30Validator(
        {"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]},
        format_checker=FORMATS,
    )
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def assert_schema(schema_name: str, instance: Any) -> None:
    errors = schema_errors(schema_name, instance)
    assert not errors, f"{schema_name}: {errors[:5]}"


def operation(operation_id: str) -> tuple[str, str, dict[str, Any]]:
    """(method, path, operation object) of an operationId of the spec."""
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return method.upper(), path, op
    raise KeyError(operation_id)


def response_spec(operation_id: str, status: int) -> dict[str, Any]:
    """The spec's response object for a status of an operation (falling back to default)."""
    _, _, op = operation(operation_id)
    response = op["responses"].get(str(status), op["responses"].get("default"))
    assert response is not None, f"{operation_id} declares no {status} and no default"
    while "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return dict(response)


def assert_response_matches_spec(operation_id: str, reply: Reply) -> None:
    """Check a reply's status, media type and body against what the spec declares."""
    response = response_spec(operation_id, reply.status)
    media_type = reply.headers.get("Content-Type", "").split(";")[0].strip()
    content = response.get("content", {})
    assert media_type in content, f"{operation_id} {reply.status}: {media_type} not declared"
    schema = content[media_type]["schema"]
    if "$ref" in schema:
        assert_schema(schema["$ref"].rsplit("/", 1)[-1], reply.json())
    else:
        assert schema == {"type": "string"}
        reply.body.decode()


def reference_examples() -> list[dict[str, Any]]:
    """The reference's JSON examples, in document order (9 of them)."""
    text = REFERENCE_PATH.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    return [json.loads(block, parse_float=Decimal) for block in blocks]


REFERENCE = dict(
    zip(
        (
            "listProducts",
            "getProduct",
            "listFeatureSets",
            "getFeatureSet",
            "listOrders",
            "getOrder",
            "createOrderRequest",
            "createOrder",
            "listOrderItems",
        ),
        reference_examples(),
        strict=True,
    )
)


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body, parse_float=Decimal)


_DEFAULT = object()


class Api:
    """Calls the fake over real loopback HTTP, with its token and business unit by default."""

    def __init__(self, fake: FakeGoDeploy, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        unit: Any = _DEFAULT,
        token: Any = _DEFAULT,
        headers: dict[str, str] | None = None,
        json_body: Any = _DEFAULT,
        data: Any = None,
        timeout: float | None = None,
        skip_auto_headers: tuple[str, ...] = (),
    ) -> Reply:
        query = {} if unit is None else {"businessUnitId": str(self.fake.business_unit_id)}
        if unit is not _DEFAULT and unit is not None:
            query["businessUnitId"] = str(unit)
        query.update(params or {})
        all_headers = {} if token is None else {"Authorization": f"Bearer {self.fake.token}"}
        if token is not _DEFAULT and token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        kwargs: dict[str, Any] = {}
        if json_body is not _DEFAULT:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        async with self.session.request(
            method,
            self.fake.url.with_path(path),
            params=query,
            headers=all_headers,
            allow_redirects=False,
            skip_auto_headers=skip_auto_headers,
            **kwargs,
        ) as response:
            return Reply(response.status, response.headers, await response.read())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post_order(self, body: Any, **kwargs: Any) -> Reply:
        return await self.call("POST", "/api/v2/orders", json_body=body, **kwargs)

    def feature_set_id(self, index: int = 0) -> str:
        """A feature set of the main business unit."""
        sets = [fs for p in self.fake.products() for fs in self.fake.feature_sets(p["id"])]
        return str(sets[index]["id"])

    def order_body(self, **overrides: Any) -> dict[str, Any]:
        """A valid create-order body (emailKeys true with a contact email)."""
        body: dict[str, Any] = {
            "purchaseOrderReference": "PO-TEST-1",
            "contactEmail": "buyer@example.com",
            "emailKeys": True,
            "orderItems": [{"featureSetId": self.feature_set_id(), "quantity": 2}],
        }
        body.update(overrides)
        return body
