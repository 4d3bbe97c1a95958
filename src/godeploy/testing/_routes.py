"""The operations of the API as the fake serves them: operationId, method and path, per the spec."""

from __future__ import annotations

from typing import Final, Literal

RouteName = Literal[
    "listProducts",
    "getProduct",
    "listFeatureSets",
    "getFeatureSet",
    "listOrders",
    "getOrder",
    "createOrder",
    "listOrderItems",
]
"""An operationId of openapi/orders-v2.yaml; faults and counters name routes by it."""

ROUTES: Final[dict[str, tuple[str, str]]] = {
    "listProducts": ("GET", "/api/v2/products"),
    "getProduct": ("GET", "/api/v2/products/{productId}"),
    "listFeatureSets": ("GET", "/api/v2/products/{productId}/feature_sets"),
    "getFeatureSet": ("GET", "/api/v2/products/{productId}/feature_sets/{featureSetId}"),
    "listOrders": ("GET", "/api/v2/orders"),
    "createOrder": ("POST", "/api/v2/orders"),
    "getOrder": ("GET", "/api/v2/orders/{orderId}"),
    "listOrderItems": ("GET", "/api/v2/orders/{orderId}/items"),
}
"""operationId -> (method, path template), exactly as in openapi/orders-v2.yaml."""

LIST_ROUTES: Final[frozenset[str]] = frozenset(
    {"listProducts", "listFeatureSets", "listOrders", "listOrderItems"}
)
"""The paginated operations: the only ones pagination faults can touch."""


def check_route(route: str) -> str:
    """Return `route` if it is an operationId of the spec, else raise ValueError."""
    if route not in ROUTES:
        known = ", ".join(sorted(ROUTES))
        raise ValueError(f"unknown route {route!r}; routes are the spec's operationIds: {known}")
    return route
