"""`with_raw_response` of each resource: `get` (and `orders.create`) giving an `APIResponse`.

Each wraps the resource's own method, so a raw call is checked, retried and decoded as the
plain call is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from godeploy._response import raw_response_wrapper

if TYPE_CHECKING:
    from godeploy.resources.feature_sets import FeatureSets
    from godeploy.resources.orders import Orders
    from godeploy.resources.products import Products

__all__ = ["FeatureSetsWithRawResponse", "OrdersWithRawResponse", "ProductsWithRawResponse"]


class ProductsWithRawResponse:
    """`client.products.with_raw_response`: `get` returns an `APIResponse[Product]`."""

    def __init__(self, products: Products) -> None:
        self.get = raw_response_wrapper(products.get)


class FeatureSetsWithRawResponse:
    """`client.feature_sets.with_raw_response`: `get` returns an `APIResponse[FeatureSet]`."""

    def __init__(self, feature_sets: FeatureSets) -> None:
        self.get = raw_response_wrapper(feature_sets.get)


class OrdersWithRawResponse:
    """`client.orders.with_raw_response`: `get` and `create` return an `APIResponse[Order]`.

    `create` keeps every guarantee of the plain `create`: it is never repeated blindly, and an
    answer that may or may not have made the order raises `OrderOutcomeUnknownError`.
    """

    def __init__(self, orders: Orders) -> None:
        self.get = raw_response_wrapper(orders.get)
        self.create = raw_response_wrapper(orders.create)
