"""Hand-written pydantic v2 twins of the SDK's order models, for the decoding comparison.

They follow the SDK's rules: strict types (no coercion), JSON keys as aliases, unknown keys
ignored, frozen, an offset-less `created` read as UTC, an open `OrderStatus` (its `_missing_`
keeps an unseen status) and money as `Decimal`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from godeploy.models import OrderStatus


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")


class BusinessUnit(_Model):
    name: str


class User(_Model):
    forename: str
    surname: str
    name: str
    user_name: str = Field(alias="userName")


class OrderSource(_Model):
    name: str
    invoiceable: bool


class Links(_Model):
    self_: str | None = Field(default=None, alias="self")
    next: str | None = None


class Order(_Model):
    id: int
    business_unit_id: UUID = Field(alias="businessUnitId")
    created_by_user_id: UUID = Field(alias="createdByUserId")
    order_source_id: UUID = Field(alias="orderSourceId")
    purchasing_order_reference: str = Field(alias="purchasingOrderReference")
    order_status: OrderStatus = Field(alias="orderStatus")
    created: UtcDatetime
    editable: bool
    cancellable: bool
    business_unit: BusinessUnit | None = Field(default=None, alias="businessUnit")
    created_by_user: User | None = Field(default=None, alias="createdByUser")
    order_source: OrderSource | None = Field(default=None, alias="orderSource")
    contact_forename: str | None = Field(default=None, alias="contactForename")
    contact_surname: str | None = Field(default=None, alias="contactSurname")
    contact_email: str | None = Field(default=None, alias="contactEmail")
    links: Links | None = Field(default=None, alias="_links")


class PageInfo(_Model):
    page_count: int = Field(alias="pageCount")
    total_item_count: int = Field(alias="totalItemCount")
    page_number: int = Field(alias="pageNumber")
    page_size: int = Field(alias="pageSize")
    has_previous_page: bool = Field(alias="hasPreviousPage")
    has_next_page: bool = Field(alias="hasNextPage")
    is_first_page: bool = Field(alias="isFirstPage")
    is_last_page: bool = Field(alias="isLastPage")
    first_item_on_page: int = Field(alias="firstItemOnPage")
    last_item_on_page: int = Field(alias="lastItemOnPage")


class OrderPage(_Model):
    items: list[Order]
    page_info: PageInfo = Field(alias="_pageInfo")
    links: Links = Field(alias="_links")


class Price(_Model):
    currency: str
    value: Decimal


class FeatureSet(_Model):
    id: UUID
    product_id: UUID = Field(alias="productId")
    name: str
    course_access_period_days: int = Field(alias="courseAccessPeriodDays")
    module_save_period_days: int = Field(alias="moduleSavePeriodDays")
    prices: list[Price]
    links: Links | None = Field(default=None, alias="_links")


class FeatureSetPage(_Model):
    items: list[FeatureSet]
    page_info: PageInfo = Field(alias="_pageInfo")
    links: Links = Field(alias="_links")


ORDER_PAGE = TypeAdapter(OrderPage)
FEATURE_SET_PAGE = TypeAdapter(FeatureSetPage)
