"""The API's models, generated from openapi/orders-v2.yaml (see `make codegen`).

Frozen, keyword-only attrs classes with snake_case attributes; each renamed attribute keeps its
JSON key in `attrs.fields(Model).attr.metadata["json"]`.
"""

from godeploy._generated.models import (
    BusinessUnit,
    CreateOrderItem,
    CreateOrderRequest,
    FeatureSet,
    FeatureSetPage,
    Links,
    Order,
    OrderItem,
    OrderItemPage,
    OrderPage,
    OrderSource,
    OrderStatus,
    PageInfo,
    Price,
    ProblemDetails,
    Product,
    ProductPage,
    User,
)

__all__ = [
    "BusinessUnit",
    "CreateOrderItem",
    "CreateOrderRequest",
    "FeatureSet",
    "FeatureSetPage",
    "Links",
    "Order",
    "OrderItem",
    "OrderItemPage",
    "OrderPage",
    "OrderSource",
    "OrderStatus",
    "PageInfo",
    "Price",
    "ProblemDetails",
    "Product",
    "ProductPage",
    "User",
]
