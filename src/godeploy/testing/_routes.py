"""The fake's routes: the spec's operations as codegen wrote them (`godeploy._generated`).

Nothing here is stated by hand: a new operation in openapi/orders-v2.yaml reaches the fake's
router through `make codegen` (and the fake refuses to start until it has a handler for it).
"""

from __future__ import annotations

from typing import Final

from godeploy._generated.operations import OPERATIONS, Operation, OperationId

__all__ = ["LIST_ROUTES", "ROUTES", "RouteName", "check_route", "operation_of"]

RouteName = OperationId
"""An operationId of openapi/orders-v2.yaml; faults and counters name routes by it."""

_BY_ID: Final[dict[str, Operation]] = {operation.id: operation for operation in OPERATIONS}

ROUTES: Final[dict[str, tuple[str, str]]] = {
    operation.id: (operation.method, operation.path) for operation in OPERATIONS
}
"""operationId -> (method, path template), in spec order."""

LIST_ROUTES: Final[frozenset[str]] = frozenset(
    operation.id for operation in OPERATIONS if operation.paginated
)
"""The paginated operations: the only ones pagination faults can touch."""


def operation_of(route: str) -> Operation:
    """The generated descriptor of a route (an operationId)."""
    return _BY_ID[check_route(route)]


def check_route(route: str) -> str:
    """Return `route` if it is an operationId of the spec, else raise ValueError."""
    if route not in _BY_ID:
        known = ", ".join(sorted(_BY_ID))
        raise ValueError(f"unknown route {route!r}; routes are the spec's operationIds: {known}")
    return route
