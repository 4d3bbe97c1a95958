"""Products: `client.products.list()` and `client.products.get(product_id)`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Unpack
from uuid import UUID

from godeploy._config import Timeout, check_uuid
from godeploy._generated.models import Product, ProductPage
from godeploy._generated.operations import GET_PRODUCT, LIST_PRODUCTS
from godeploy.pagination import AsyncPager
from godeploy.resources._base import ListOptions, Resource
from godeploy.resources._raw import ProductsWithRawResponse

__all__ = ["Products"]


class Products(Resource):
    """The products that can be ordered."""

    @cached_property
    def with_raw_response(self) -> ProductsWithRawResponse:
        """The same calls (`get`) returning an `APIResponse`: status, headers, request id."""
        return ProductsWithRawResponse(self)

    def list(self, **options: Unpack[ListOptions]) -> AsyncPager[Product]:
        """Page through every product (`GET /api/v2/products`).

        Args:
            **options: `page_size`, `start_page`, `max_items`, `concurrency`,
                `business_unit_id`, `timeout`, `max_retries`, `extra_headers`,
                `extra_query` (see `ListOptions`).

        Returns:
            A pager: `async for product in ...`, or `.pages()`.
        """
        return self._pager(LIST_PRODUCTS, self._core.url("api/v2/products"), ProductPage, options)

    async def get(
        self,
        product_id: UUID | str,
        *,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> Product:
        """Get one product (`GET /api/v2/products/{productId}`).

        Raises:
            NotFoundError: no such product in the business unit.
        """
        product = check_uuid(product_id, "productId")
        options = self._options(business_unit_id, timeout, max_retries, extra_headers, extra_query)
        url = self._core.url("api/v2/products", product)
        return await self._core.request(GET_PRODUCT, url, Product, options)
