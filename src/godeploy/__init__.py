"""godeploy: the asyncio SDK for the go deploy Order API.

from godeploy import GoDeployClient

async with GoDeployClient(token="…", business_unit_id="…") as client:
async for order in client.orders.list():
...
"""

from godeploy._auth import TokenProvider
from godeploy._client import GoDeployClient
from godeploy._config import DEFAULT_BASE_URL, Timeout
from godeploy._converter import configure_converter, structure, unstructure
from godeploy._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    EventLoopError,
    GoDeployError,
    GoneError,
    InternalServerError,
    MethodNotAllowedError,
    NotAcceptableError,
    NotFoundError,
    OrderOutcomeUnknownError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServiceUnavailableError,
)
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
from godeploy._hooks import (
    CallEvent,
    Hooks,
    ProgressEvent,
    RateLimitEvent,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from godeploy._json import dumps, loads
from godeploy._pacing import Admission, Limits, LocalLimits, RetryBudget
from godeploy._retry import RetryPolicy
from godeploy._transport import (
    AiohttpTransport,
    AsyncTransport,
    MockTransport,
    TransportRequest,
    TransportResponse,
)
from godeploy._version import __version__
from godeploy.fanout import FanOut
from godeploy.pagination import AsyncPager, Page
from godeploy.resources.order_items import OrderItemsResult

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Admission",
    "AiohttpTransport",
    "AsyncPager",
    "AsyncTransport",
    "AuthenticationError",
    "BadRequestError",
    "BusinessUnit",
    "CallEvent",
    "ClientClosedError",
    "CreateOrderItem",
    "CreateOrderRequest",
    "DEFAULT_BASE_URL",
    "EventLoopError",
    "FanOut",
    "FeatureSet",
    "GoDeployClient",
    "GoDeployError",
    "GoneError",
    "Hooks",
    "InternalServerError",
    "Limits",
    "Links",
    "LocalLimits",
    "MethodNotAllowedError",
    "MockTransport",
    "NotAcceptableError",
    "NotFoundError",
    "Order",
    "OrderItem",
    "OrderItemsResult",
    "OrderOutcomeUnknownError",
    "OrderSource",
    "OrderStatus",
    "Page",
    "PageInfo",
    "PaginationError",
    "PermissionDeniedError",
    "Price",
    "ProblemDetails",
    "Product",
    "ProgressEvent",
    "RateLimitError",
    "RateLimitEvent",
    "RequestEvent",
    "RequestValidationError",
    "ResponseEvent",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryBudget",
    "RetryEvent",
    "RetryPolicy",
    "ServiceUnavailableError",
    "Timeout",
    "TokenProvider",
    "TransportRequest",
    "TransportResponse",
    "User",
    "__version__",
    "configure_converter",
    "dumps",
    "loads",
    "structure",
    "unstructure",
]
