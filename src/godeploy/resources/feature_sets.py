"""Feature sets of a product, with their prices."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Unpack
from uuid import UUID

from godeploy._config import Timeout, check_uuid
from godeploy._generated.models import FeatureSet, FeatureSetPage
from godeploy._generated.operations import GET_FEATURE_SET, LIST_FEATURE_SETS
from godeploy.pagination import AsyncPager
from godeploy.resources._base import ListOptions, Resource
from godeploy.resources._raw import FeatureSetsWithRawResponse

__all__ = ["FeatureSets"]


class FeatureSets(Resource):
    """The feature sets (and prices) of products."""

    @cached_property
    def with_raw_response(self) -> FeatureSetsWithRawResponse:
        """The same calls (`get`) returning an `APIResponse`: status, headers, request id."""
        return FeatureSetsWithRawResponse(self)

    def list(
        self, product_id: UUID | str, **options: Unpack[ListOptions]
    ) -> AsyncPager[FeatureSet]:
        """Page through a product's feature sets (`GET .../products/{productId}/feature_sets`).

        Args:
            product_id: the product.
            **options: `page_size`, `start_page`, `max_items`, `concurrency`,
                `business_unit_id`, `timeout`, `max_retries`, `extra_headers`,
                `extra_query` (see `ListOptions`).

        Returns:
            A pager: `async for feature_set in ...`, or `.pages()`.
        """
        product = check_uuid(product_id, "productId")
        url = self._core.url("api/v2/products", product, "feature_sets")
        return self._pager(LIST_FEATURE_SETS, url, FeatureSetPage, options)

    async def get(
        self,
        product_id: UUID | str,
        feature_set_id: UUID | str,
        *,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> FeatureSet:
        """Get one feature set of a product (`GET .../feature_sets/{featureSetId}`).

        Raises:
            NotFoundError: no such product or feature set in the business unit.
        """
        product = check_uuid(product_id, "productId")
        feature_set = check_uuid(feature_set_id, "featureSetId")
        options = self._options(business_unit_id, timeout, max_retries, extra_headers, extra_query)
        url = self._core.url("api/v2/products", product, "feature_sets", feature_set)
        return await self._core.request(GET_FEATURE_SET, url, FeatureSet, options)
