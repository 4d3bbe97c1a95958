"""Products: `client.products.list()` and `client.products.get(product_id)`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from uuid import UUID

from godeploy._config import Timeout, check_uuid
from godeploy._generated.models import Product, ProductPage
from godeploy._generated.operations import GET_PRODUCT, LIST_PRODUCTS
from godeploy.pagination import AsyncPager
from godeploy.resources._base import Resource
from godeploy.resources._raw import ProductsWithRawResponse

__all__ = ["Products"]


class Products(Resource):
    """The products that can be ordered."""

    @cached_property
    def with_raw_response(self) -> ProductsWithRawResponse:
        """The same calls (`get`) returning an `APIResponse`: status, headers, request id."""
        return ProductsWithRawResponse(self)

    def list(
        self,
        *,
        page_size: int | None = None,
        start_page: int = 1,
        max_items: int | None = None,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> AsyncPager[Product]:
        """Page through every product (`GET /api/v2/products`).

        Args:
            page_size: items per page (the API's default is 10).
            start_page: the first page to fetch.
            max_items: stop after this many items.
            business_unit_id: overrides the client's business unit.
            timeout: seconds, or a `Timeout`, for each page's request.
            max_retries: overrides the client's retries.
            extra_headers: headers to add to the request(s) (not `Authorization`).
            extra_query: query parameters to add (not `businessUnitId`, `_page`, `_pageSize`).

        Returns:
            A pager: `async for product in ...`, or `.pages()`.
        """
        options = self._options(business_unit_id, timeout, max_retries, extra_headers, extra_query)
        url = self._core.url("api/v2/products")
        return AsyncPager(
            self._core,
            LIST_PRODUCTS,
            url,
            ProductPage,
            options,
            page_size=page_size,
            start_page=start_page,
            max_items=max_items,
        )

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
