"""The JSON example bodies of the vendor's reference (openapi/ copy), labelled by operation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi" / "orders-v2.yaml"
REFERENCE_PATH = ROOT / "openapi" / "order-api-reference.md"

# The `codegen` package sits at the repository root, which the editable install leaves off the path.


@dataclass(frozen=True)
class ReferenceExample:
    """One ```json block of the reference and where it belongs in the spec."""

    heading: str
    kind: str  # "Request" or "Response", from the reference's "> Example ..." line
    operation_id: str
    status: str | None  # the response status it is filed under; None for a request body
    schema: str  # the component schema (and generated model) it is an instance of
    text: str

    @property
    def id(self) -> str:
        return f"{self.operation_id}-{self.kind.lower()}"


# (section heading, "Request"/"Response") -> (operationId, status, schema name)
EXAMPLE_LABELS: dict[tuple[str, str], tuple[str, str | None, str]] = {
    ("Get All Products", "Response"): ("listProducts", "200", "ProductPage"),
    ("Get a Specific Product", "Response"): ("getProduct", "200", "Product"),
    ("Get All Feature Sets for a Product", "Response"): (
        "listFeatureSets",
        "200",
        "FeatureSetPage",
    ),
    ("Get a Specific Feature Set for a Product", "Response"): (
        "getFeatureSet",
        "200",
        "FeatureSet",
    ),
    ("Get All Orders", "Response"): ("listOrders", "200", "OrderPage"),
    ("Get a Specific Order", "Response"): ("getOrder", "200", "Order"),
    ("Create an Order", "Request"): ("createOrder", None, "CreateOrderRequest"),
    ("Create an Order", "Response"): ("createOrder", "201", "Order"),
    ("Get All Order Items for an Order", "Response"): ("listOrderItems", "200", "OrderItemPage"),
}

_HEADING = re.compile(r"^## (.+?)\s*$")
_EXAMPLE = re.compile(r"^> Example (Request|Response):")


def load_reference_examples(text: str | None = None) -> list[ReferenceExample]:
    """Every ```json block of the reference, labelled by its section and example line."""
    lines = (REFERENCE_PATH.read_text(encoding="utf-8") if text is None else text).splitlines()
    examples: list[ReferenceExample] = []
    heading = kind = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if match := _HEADING.match(line):
            heading, kind = match.group(1), None
        elif match := _EXAMPLE.match(line):
            kind = match.group(1)
        elif line.strip() == "```json":
            end = lines.index("```", index + 1)
            if heading is None or kind is None:
                raise AssertionError(f"line {index + 1}: a JSON block with no section or kind")
            operation_id, status, schema = EXAMPLE_LABELS[(heading, kind)]
            body = "\n".join(lines[index + 1 : end]) + "\n"
            examples.append(ReferenceExample(heading, kind, operation_id, status, schema, body))
            index = end
        index += 1
    return examples


REFERENCE_EXAMPLES = load_reference_examples()
