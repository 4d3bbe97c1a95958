"""What every resource shares: the client core and the resolution of per-call options."""

from __future__ import annotations

from collections.abc import Mapping

from godeploy._config import Timeout
from godeploy._core import CallOptions, ClientCore
from godeploy._exceptions import RequestValidationError

__all__ = ["Resource", "check_order_id"]


class Resource:
    """A group of API operations over one client core."""

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    def _options(
        self,
        business_unit_id: object,
        timeout: float | Timeout | None,
        max_retries: int | None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> CallOptions:
        """Check and resolve a call's overrides before any I/O."""
        return self._core.options(
            business_unit_id=business_unit_id,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
            extra_query=extra_query,
        )


def check_order_id(value: object) -> int:
    """Return an order id (a positive integer), or raise before any I/O."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestValidationError(
            f"orderId must be a positive integer, got {value!r}", {"orderId": ["must be >= 1"]}
        )
    return value
