"""The API's resources: products, feature sets, orders and order items."""

from godeploy.resources.feature_sets import FeatureSets
from godeploy.resources.order_items import OrderItems
from godeploy.resources.orders import Orders
from godeploy.resources.products import Products

__all__ = ["FeatureSets", "OrderItems", "Orders", "Products"]
