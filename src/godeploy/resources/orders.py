"""Orders: list, get, and create, which is never repeated blindly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import attrs

from godeploy._config import Timeout, check_uuid
from godeploy._converter import unstructure
from godeploy._exceptions import (
    APIConnectionError,
    InternalServerError,
    OrderOutcomeUnknownError,
    RequestValidationError,
    ResponseValidationError,
)
from godeploy._generated.models import CreateOrderItem, CreateOrderRequest, Order, OrderPage
from godeploy._generated.operations import CREATE_ORDER, GET_ORDER, LIST_ORDERS
from godeploy._json import json_name
from godeploy.pagination import AsyncPager
from godeploy.resources._base import Resource, check_order_id

__all__ = ["Orders", "build_create_order_request"]

OrderItemInput = CreateOrderItem | Mapping[str, Any]
"""An item to order: a `CreateOrderItem`, or a dict with its snake_case keys."""

_ITEM_FIELDS = {a.name: a for a in attrs.fields(CreateOrderItem)}
_ITEM_OPTIONAL_STRINGS = (
    "source_reference",
    "feedback_link_uri",
    "feedback_link_text",
    "achievement_code",
)


class Orders(Resource):
    """The orders of a business unit."""

    def list(
        self,
        *,
        page_size: int | None = None,
        start_page: int = 1,
        max_items: int | None = None,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
    ) -> AsyncPager[Order]:
        """Page through every order (`GET /api/v2/orders`).

        Args:
            page_size: items per page (the API's default is 10).
            start_page: the first page to fetch.
            max_items: stop after this many items.
            business_unit_id: overrides the client's business unit.
            timeout: seconds, or a `Timeout`, for each page's request.
            max_retries: overrides the client's retries.

        Returns:
            A pager: `async for order in ...`, or `.pages()`.
        """
        options = self._options(business_unit_id, timeout, max_retries)
        return AsyncPager(
            self._core,
            LIST_ORDERS,
            self._core.url("api/v2/orders"),
            OrderPage,
            options,
            page_size=page_size,
            start_page=start_page,
            max_items=max_items,
        )

    async def get(
        self,
        order_id: int,
        *,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
    ) -> Order:
        """Get one order (`GET /api/v2/orders/{orderId}`).

        The API leaves `business_unit`, `created_by_user`, `order_source` and `links` out of
        this answer (the list has them): they are None here.

        Raises:
            NotFoundError: no such order in the business unit.
        """
        order = check_order_id(order_id)
        options = self._options(business_unit_id, timeout, max_retries)
        return await self._core.request(
            GET_ORDER, self._core.url("api/v2/orders", order), Order, options
        )

    async def create(
        self,
        request: CreateOrderRequest | None = None,
        *,
        purchase_order_reference: str | None = None,
        email_keys: bool | None = None,
        order_items: Iterable[OrderItemInput] | None = None,
        contact_email: str | None = None,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
    ) -> Order:
        """Create an order (`POST /api/v2/orders`).

        Pass either a `CreateOrderRequest` or its fields as keywords. The API has no
        idempotency key, so the request is repeated only after a failure that provably
        happened before it was sent (a connect error) or an answer that proves the API
        refused it (a 429, after its pause; a 408); any other failure after it was sent
        raises `OrderOutcomeUnknownError` and the order may exist, closing the client
        meanwhile included.

        Args:
            request: the whole request, as the generated model.
            purchase_order_reference: your reference for the order.
            email_keys: whether the API emails the keys to `contact_email`.
            order_items: the items: `CreateOrderItem`s or dicts with snake_case keys.
            contact_email: required when `email_keys` is true.
            business_unit_id: overrides the client's business unit.
            timeout: seconds, or a `Timeout`.
            max_retries: overrides the client's retries (of connect errors and refusals).

        Returns:
            The created order (status `New`).

        Raises:
            RequestValidationError: the input is invalid; nothing was sent.
            OrderOutcomeUnknownError: the request may have created the order.
            BadRequestError: the API refused the order; nothing was created.
        """
        if request is None:
            request = build_create_order_request(
                purchase_order_reference=purchase_order_reference,
                email_keys=email_keys,
                order_items=order_items,
                contact_email=contact_email,
            )
        elif any(
            value is not None
            for value in (purchase_order_reference, email_keys, order_items, contact_email)
        ):
            raise RequestValidationError("pass either a CreateOrderRequest or keywords, not both")
        else:
            request = _validated(request)
        options = self._options(business_unit_id, timeout, max_retries)
        reference = request.purchase_order_reference
        try:
            return await self._core.request(
                CREATE_ORDER,
                self._core.url("api/v2/orders"),
                Order,
                options,
                json_body=unstructure(request),
            )
        except APIConnectionError as error:
            if not error.request_sent:
                raise
            raise _outcome_unknown(
                reference, f"the request failed after it was sent ({error})"
            ) from error
        except InternalServerError as error:
            raise _outcome_unknown(reference, f"the API answered {error.status}") from error
        except ResponseValidationError as error:
            raise _outcome_unknown(reference, f"the answer could not be read ({error})") from error


def _outcome_unknown(reference: str, why: str) -> OrderOutcomeUnknownError:
    """The error for a create that may have happened."""
    return OrderOutcomeUnknownError(
        f"order {reference!r} may or may not exist: {why}. It was not sent again; list the "
        f"orders and look for purchasing_order_reference == {reference!r} before retrying",
        purchase_order_reference=reference,
    )


def build_create_order_request(
    *,
    purchase_order_reference: object,
    email_keys: object,
    order_items: object,
    contact_email: object = None,
) -> CreateOrderRequest:
    """Check create-order input as the API would and build the request model.

    Every problem is collected, so one `RequestValidationError` names every bad field (with
    the API's JSON names, like the API's own 400 answer).
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(purchase_order_reference, str) or not purchase_order_reference.strip():
        errors["purchaseOrderReference"] = [
            _problem(purchase_order_reference, "a non-empty string")
        ]
    if not isinstance(email_keys, bool):
        errors["emailKeys"] = [_problem(email_keys, "true or false")]
    if contact_email is not None and (
        not isinstance(contact_email, str) or "@" not in contact_email
    ):
        errors["contactEmail"] = ["must be an email address"]
    elif email_keys is True and contact_email is None:
        errors["contactEmail"] = ["required when emailKeys is true"]
    items: list[CreateOrderItem] = []
    if isinstance(order_items, (str, bytes, Mapping)) or not isinstance(order_items, Iterable):
        errors["orderItems"] = [_problem(order_items, "a list of items")]
    else:
        for index, entry in enumerate(order_items):
            item = _build_item(entry, f"orderItems[{index}]", errors)
            if item is not None:
                items.append(item)
        if (
            not items
            and "orderItems" not in errors
            and not any(key.startswith("orderItems[") for key in errors)
        ):
            errors["orderItems"] = ["at least one item is required"]
    if errors:
        fields = ", ".join(sorted(errors))
        raise RequestValidationError(f"invalid order ({fields}); nothing was sent", errors)
    return CreateOrderRequest(
        purchase_order_reference=str(purchase_order_reference),
        email_keys=bool(email_keys),
        order_items=items,
        contact_email=contact_email if isinstance(contact_email, str) else None,
    )


def _validated(request: CreateOrderRequest) -> CreateOrderRequest:
    """Check a request model the caller built, the same way as keyword input."""
    if not isinstance(request, CreateOrderRequest):
        raise RequestValidationError(
            f"request must be a CreateOrderRequest, got {type(request).__name__}"
        )
    return build_create_order_request(
        purchase_order_reference=request.purchase_order_reference,
        email_keys=request.email_keys,
        order_items=request.order_items,
        contact_email=request.contact_email,
    )


def _problem(value: object, expected: str) -> str:
    """`required: <expected>` when the value is missing, else what it is instead."""
    if value is None:
        return f"required: {expected}"
    return f"must be {expected}, got {value!r}"


def _build_item(entry: object, place: str, errors: dict[str, list[str]]) -> CreateOrderItem | None:
    """Check one item to order; record its problems under `place`."""
    if isinstance(entry, CreateOrderItem):
        values: dict[str, Any] = attrs.asdict(entry, recurse=False)
    elif isinstance(entry, Mapping):
        values = dict(entry)
        unknown = sorted(str(key) for key in values if key not in _ITEM_FIELDS)
        if unknown:
            errors[place] = [f"unknown keys {unknown} (use snake_case names)"]
            return None
    else:
        errors[place] = ["must be a CreateOrderItem or a dict"]
        return None
    problems_before = len(errors)
    feature_set_id = values.get("feature_set_id")
    try:
        feature_set = check_uuid(feature_set_id, "featureSetId")
    except RequestValidationError:
        errors[f"{place}.featureSetId"] = [_problem(feature_set_id, "a feature set id (UUID)")]
    quantity = values.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        errors[f"{place}.quantity"] = [_problem(quantity, "an integer >= 1")]
    for name in _ITEM_OPTIONAL_STRINGS:
        if values.get(name) is not None and not isinstance(values[name], str):
            errors[f"{place}.{json_name(_ITEM_FIELDS[name])}"] = ["must be a string"]
    enable = values.get("enable_feedback_link")
    if enable is not None and not isinstance(enable, bool):
        errors[f"{place}.enableFeedbackLink"] = ["must be true or false"]
    if len(errors) > problems_before:
        return None
    return CreateOrderItem(**{**values, "feature_set_id": feature_set})
