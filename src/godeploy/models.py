"""The API's models, generated from openapi/orders-v2.yaml (see `make codegen`).

Frozen, keyword-only attrs classes with snake_case attributes; each renamed attribute keeps its
JSON key in `attrs.fields(Model).attr.metadata["json"]`. The page envelopes the API wraps
lists in are not here: a pager hands out items, or `godeploy.Page`s with their `page_info`.
"""

from godeploy._generated.models import (
    BusinessUnit,
    CreateOrderItem,
    CreateOrderRequest,
    FeatureSet,
    Links,
    Order,
    OrderItem,
    OrderSource,
    OrderStatus,
    PageInfo,
    Price,
    ProblemDetails,
    Product,
    User,
)

__all__ = [
    "BusinessUnit",
    "CreateOrderItem",
    "CreateOrderRequest",
    "FeatureSet",
    "Links",
    "Order",
    "OrderItem",
    "OrderSource",
    "OrderStatus",
    "PageInfo",
    "Price",
    "ProblemDetails",
    "Product",
    "User",
]
