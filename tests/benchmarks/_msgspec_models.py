"""Hand-written msgspec twins of the SDK's order models, for the decoding comparison.

Same rules as the SDK: strict types, JSON keys renamed, unknown keys ignored, frozen, an
offset-less `created` read as UTC and an open `OrderStatus` (msgspec refuses an enum value it
does not list, so the status is read as a string and turned into the SDK's open enum after).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import msgspec

from godeploy.models import OrderStatus


class _Struct(msgspec.Struct, frozen=True, kw_only=True):
    pass


class BusinessUnit(_Struct):
    name: str


class User(_Struct):
    forename: str
    surname: str
    name: str
    user_name: str = msgspec.field(name="userName")


class OrderSource(_Struct):
    name: str
    invoiceable: bool


class Links(_Struct):
    self_: str | None = msgspec.field(default=None, name="self")
    next: str | None = None


class Order(_Struct):
    id: int
    business_unit_id: UUID = msgspec.field(name="businessUnitId")
    created_by_user_id: UUID = msgspec.field(name="createdByUserId")
    order_source_id: UUID = msgspec.field(name="orderSourceId")
    purchasing_order_reference: str = msgspec.field(name="purchasingOrderReference")
    order_status: str = msgspec.field(name="orderStatus")
    created: datetime
    editable: bool
    cancellable: bool
    business_unit: BusinessUnit | None = msgspec.field(default=None, name="businessUnit")
    created_by_user: User | None = msgspec.field(default=None, name="createdByUser")
    order_source: OrderSource | None = msgspec.field(default=None, name="orderSource")
    contact_forename: str | None = msgspec.field(default=None, name="contactForename")
    contact_surname: str | None = msgspec.field(default=None, name="contactSurname")
    contact_email: str | None = msgspec.field(default=None, name="contactEmail")
    links: Links | None = msgspec.field(default=None, name="_links")

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "order_status", OrderStatus(self.order_status))
        if self.created.tzinfo is None:
            msgspec.structs.force_setattr(self, "created", self.created.replace(tzinfo=UTC))


class PageInfo(_Struct):
    page_count: int = msgspec.field(name="pageCount")
    total_item_count: int = msgspec.field(name="totalItemCount")
    page_number: int = msgspec.field(name="pageNumber")
    page_size: int = msgspec.field(name="pageSize")
    has_previous_page: bool = msgspec.field(name="hasPreviousPage")
    has_next_page: bool = msgspec.field(name="hasNextPage")
    is_first_page: bool = msgspec.field(name="isFirstPage")
    is_last_page: bool = msgspec.field(name="isLastPage")
    first_item_on_page: int = msgspec.field(name="firstItemOnPage")
    last_item_on_page: int = msgspec.field(name="lastItemOnPage")


class OrderPage(_Struct):
    items: list[Order]
    page_info: PageInfo = msgspec.field(name="_pageInfo")
    links: Links = msgspec.field(name="_links")


class Price(_Struct):
    currency: str
    value: Decimal


class FeatureSet(_Struct):
    id: UUID
    product_id: UUID = msgspec.field(name="productId")
    name: str
    course_access_period_days: int = msgspec.field(name="courseAccessPeriodDays")
    module_save_period_days: int = msgspec.field(name="moduleSavePeriodDays")
    prices: list[Price]
    links: Links | None = msgspec.field(default=None, name="_links")


class FeatureSetPage(_Struct):
    items: list[FeatureSet]
    page_info: PageInfo = msgspec.field(name="_pageInfo")
    links: Links = msgspec.field(name="_links")


ORDER_PAGE = msgspec.json.Decoder(OrderPage)
FEATURE_SET_PAGE = msgspec.json.Decoder(FeatureSetPage)
