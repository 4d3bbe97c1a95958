"""Orders: list, get, create (never repeated blindly) and create_once (one order per reference)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Mapping
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Unpack
from uuid import UUID

import attrs

from godeploy._config import Timeout, check_option, check_uuid, integer_at_least, positive
from godeploy._converter import unstructure
from godeploy._core import CallOptions, ClientCore
from godeploy._exceptions import (
    APIConnectionError,
    ClientClosedError,
    GoDeployError,
    InternalServerError,
    OrderOutcomeUnknownError,
    RequestValidationError,
    ResponseValidationError,
)
from godeploy._generated.models import CreateOrderItem, CreateOrderRequest, Order, OrderPage
from godeploy._generated.operations import CREATE_ORDER, GET_ORDER, LIST_ORDERS
from godeploy._json import json_name
from godeploy.pagination import AsyncPager, Page
from godeploy.resources._base import ListOptions, Resource, check_order_id
from godeploy.resources._raw import OrdersWithRawResponse

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


_DEFAULT_LOOKBACK = timedelta(hours=24)
_SEARCH_PAGE_SIZE = 100
"""Orders per page when searching for a reference: the most the API is known to send."""
_SEARCH_PAUSE = 0.5
_SEARCH_PAUSE_CAP = 8.0
"""Seconds between searches after an unknown outcome (doubling), as the retries back off."""


class Orders(Resource):
    """The orders of a business unit."""

    @cached_property
    def with_raw_response(self) -> OrdersWithRawResponse:
        """`get` and `create` returning an `APIResponse`: status, headers, request id."""
        return OrdersWithRawResponse(self)

    def __init__(self, core: ClientCore) -> None:
        super().__init__(core)
        # create_once's memory, per business unit: what this client has seen of the orders.
        self._seen: dict[str, _SeenReferences] = {}

    def list(self, **options: Unpack[ListOptions]) -> AsyncPager[Order]:
        """Page through every order (`GET /api/v2/orders`), oldest first, as the API lists them.

        Args:
            **options: `page_size`, `start_page`, `max_items`, `concurrency`,
                `business_unit_id`, `timeout`, `max_retries`, `extra_headers`,
                `extra_query` (see `ListOptions`).

        Returns:
            A pager: `async for order in ...`, or `.pages()`.
        """
        return self._pager(LIST_ORDERS, self._core.url("api/v2/orders"), OrderPage, options)

    async def get(
        self,
        order_id: int,
        *,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> Order:
        """Get one order (`GET /api/v2/orders/{orderId}`).

        The API leaves `business_unit`, `created_by_user`, `order_source` and `links` out of
        this answer (the list has them): they are None here.

        Raises:
            NotFoundError: no such order in the business unit.
        """
        order = check_order_id(order_id)
        options = self._options(business_unit_id, timeout, max_retries, extra_headers, extra_query)
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
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
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
            extra_headers: headers to add to the request(s) (not `Authorization`).
            extra_query: query parameters to add (not `businessUnitId`, `_page`, `_pageSize`).

        Returns:
            The created order (status `New`).

        Raises:
            RequestValidationError: the input is invalid; nothing was sent.
            OrderOutcomeUnknownError: the request may have created the order.
            BadRequestError: the API refused the order; nothing was created.
        """
        request = _checked(
            request, purchase_order_reference, email_keys, order_items, contact_email
        )
        options = self._options(business_unit_id, timeout, max_retries, extra_headers, extra_query)
        return await self._send(request, options)

    async def create_once(
        self,
        request: CreateOrderRequest | None = None,
        *,
        purchase_order_reference: str | None = None,
        email_keys: bool | None = None,
        order_items: Iterable[OrderItemInput] | None = None,
        contact_email: str | None = None,
        lookback: float | timedelta = _DEFAULT_LOOKBACK,
        concurrency: int = 8,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int] | None = None,
    ) -> Order:
        """Create an order at most once per purchase order reference, and return it.

        The API has no idempotency key; the purchase order reference is the natural one.
        First the orders created within `lookback` are searched for the reference, and the
        newest order carrying it is returned if there is one. Otherwise the order is created.
        When the outcome of the create is unknown (the connection dropped after sending, a 5xx,
        an unreadable answer), the orders are searched again, retrying until an answer comes
        or the call's deadline (`Timeout.total`) passes, and the order is created again only
        when it is not there.

        The search reads the newest orders first (the API lists the oldest first, so from the
        last page down), `concurrency` pages at a time, and stops at orders older than
        `lookback`. The client keeps the references it has seen per business unit and
        refreshes them from the newest page, so N calls cost about N creates and a page
        each, not N searches.

        Guarantees: one call, its retries, a dropped connection, `OrderOutcomeUnknownError`, a
        client closed mid-call, or a caller that crashed and calls again (with a new client)
        lead to at most one order for the reference, provided the next call comes within
        `lookback`. Calls with the same reference on one client wait for each other.

        Limits: the reference must be unique per order (an older order with it, within
        `lookback`, is returned instead of creating one); two processes racing on the same
        reference at the same instant are not protected (give each reference one owner, such
        as one fleet job); a create still being processed by the API when the search runs is
        not seen; `created` is compared with this machine's clock.

        Args:
            request: the whole request, as the generated model.
            purchase_order_reference: your reference for the order, unique per order.
            email_keys: whether the API emails the keys to `contact_email`.
            order_items: the items: `CreateOrderItem`s or dicts with snake_case keys.
            contact_email: required when `email_keys` is true.
            lookback: how far back to search, seconds or a `timedelta` (default 24 h).
            concurrency: the most pages of orders fetched at once while searching.
            business_unit_id: overrides the client's business unit.
            timeout: seconds, or a `Timeout`, for each request; its `total` also bounds how
                long an unknown outcome is searched for.
            max_retries: overrides the client's retries.
            extra_headers: headers to add to every request of the call (not `Authorization`).
            extra_query: query parameters to add to every request of the call (not
                `businessUnitId`, `_page`, `_pageSize`).

        Returns:
            The order with that reference: found, or created by this call.

        Raises:
            RequestValidationError: the input is invalid; nothing was sent.
            OrderOutcomeUnknownError: the deadline passed (or the client was closed) before
                the search could tell; call `create_once` again to settle it.
            BadRequestError: the API refused the order; nothing was created.
        """
        request = _checked(
            request, purchase_order_reference, email_keys, order_items, contact_email
        )
        options = self._options(business_unit_id, timeout, max_retries, extra_headers, extra_query)
        window = _check_lookback(lookback)
        check_option("concurrency", concurrency, integer_at_least(1))
        total = options.timeout.total
        deadline = None if total is None else asyncio.get_running_loop().time() + total
        reference = request.purchase_order_reference
        seen = self._seen.get(options.business_unit_id)
        if seen is None:
            seen = self._seen[options.business_unit_id] = _SeenReferences()
        search = _Search(self, seen, options, window, concurrency)
        async with seen.owner(reference):
            found = await search.find(reference)
            while found is None:
                try:
                    # A client closed before the create was sent raises ClientClosedError;
                    # closed after, the outcome is unknown and the search below says so.
                    order = await self._send(request, options)
                except OrderOutcomeUnknownError as unknown:
                    found = await search.find_until(reference, deadline, unknown)
                    continue
                seen.add(order)
                return order
            return found

    async def _send(self, request: CreateOrderRequest, options: CallOptions) -> Order:
        """POST a checked request once; a failure after sending raises the unknown outcome."""
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


class _SeenReferences:
    """The orders one client has seen in one business unit, by purchase order reference.

    Every order created after `since` is in `by_reference`, up to list position `covered`
    (the API appends new orders at the end of its list); what came after is read from the
    page holding position `covered` onwards.
    """

    def __init__(self) -> None:
        self.by_reference: dict[str, Order] = {}
        self.since: datetime | None = None
        self.covered = 0
        self.page_size = _SEARCH_PAGE_SIZE
        self.scanning = asyncio.Lock()
        # One lock per reference being created, dropped once nobody holds it.
        self._owners: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def owner(self, reference: str) -> asyncio.Lock:
        """The lock that calls with this reference take in turn."""
        lock = self._owners.get(reference)
        if lock is None:
            lock = self._owners[reference] = asyncio.Lock()
        return lock

    def add(self, order: Order) -> None:
        """Remember an order (the newer of two with the same reference wins)."""
        known = self.by_reference.get(order.purchasing_order_reference)
        if known is None or order.id > known.id:
            self.by_reference[order.purchasing_order_reference] = order

    def read(self, page: Page[Order]) -> None:
        """Remember a page's orders, and how far down the list has been read."""
        for order in page.items:
            self.add(order)
        if page.items:
            end = (page.number - 1) * page.page_info.page_size + len(page.items)
            self.covered = max(self.covered, end)
            self.page_size = page.page_info.page_size

    def forget_before(self, cutoff: datetime) -> None:
        """Drop what no search from `cutoff` on can return (keeps the memory bounded)."""
        if self.since is None or cutoff <= self.since:
            return
        self.since = cutoff
        stale = [ref for ref, order in self.by_reference.items() if order.created < cutoff]
        for ref in stale:
            del self.by_reference[ref]


class _Search:
    """The look-ups of one `create_once` call."""

    def __init__(
        self,
        orders: Orders,
        seen: _SeenReferences,
        options: CallOptions,
        window: timedelta,
        concurrency: int,
    ) -> None:
        self._orders = orders
        self._seen = seen
        self._options = options
        self._window = window
        self._concurrency = concurrency

    async def find(self, reference: str) -> Order | None:
        """The newest order with this reference created within the window, if any."""
        seen = self._seen
        cutoff = datetime.now(UTC) - self._window
        scanned = False
        if seen.since is None or cutoff < seen.since:
            async with seen.scanning:
                if seen.since is None or cutoff < seen.since:
                    await self._scan(cutoff)
                    scanned = True
        if not scanned:
            await self._refresh()
        seen.forget_before(cutoff)
        order = seen.by_reference.get(reference)
        return order if order is not None and order.created >= cutoff else None

    async def find_until(
        self, reference: str, deadline: float | None, unknown: OrderOutcomeUnknownError
    ) -> Order | None:
        """`find`, retried until it answers; past the deadline the outcome stays unknown."""
        core = self._orders._core
        loop = asyncio.get_running_loop()
        pause = _SEARCH_PAUSE
        while True:
            try:
                return await self.find(reference)
            except ClientClosedError as error:
                raise _outcome_unknown(
                    reference,
                    "the client was closed before the orders could be searched",
                    again=True,
                ) from error
            except GoDeployError as error:
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= pause:
                    raise unknown from error
                await core.sleep(pause)
                pause = min(pause * 2, _SEARCH_PAUSE_CAP)

    def _pager(self, start_page: int = 1) -> AsyncPager[Order]:
        orders = self._orders
        return AsyncPager(
            orders._core,
            LIST_ORDERS,
            orders._core.url("api/v2/orders"),
            OrderPage,
            self._options,
            page_size=self._seen.page_size,
            start_page=start_page,
            concurrency=self._concurrency,
        )

    async def _scan(self, cutoff: datetime) -> None:
        """Read the orders from the newest back to `cutoff` (the first search of a client)."""
        seen = self._seen
        async with aclosing(self._pager()._newest_first()) as pages:
            async for page in pages:
                seen.read(page)
                if not page.items or min(order.created for order in page.items) < cutoff:
                    break
        seen.since = cutoff if seen.since is None else min(seen.since, cutoff)

    async def _refresh(self) -> None:
        """Read the orders added since the last look: from the page where it ended on."""
        seen = self._seen
        pager = self._pager(start_page=seen.covered // seen.page_size + 1)
        # The walk closes itself at its end and on an error: nothing to close here.
        async for page in pager.pages():
            seen.read(page)


def _checked(
    request: CreateOrderRequest | None,
    purchase_order_reference: object,
    email_keys: object,
    order_items: object,
    contact_email: object,
) -> CreateOrderRequest:
    """The checked request, from the model or from its fields as keywords."""
    if request is None:
        return build_create_order_request(
            purchase_order_reference=purchase_order_reference,
            email_keys=email_keys,
            order_items=order_items,
            contact_email=contact_email,
        )
    if any(
        value is not None
        for value in (purchase_order_reference, email_keys, order_items, contact_email)
    ):
        raise RequestValidationError("pass either a CreateOrderRequest or keywords, not both")
    return _validated(request)


def _check_lookback(value: float | timedelta) -> timedelta:
    """`lookback` as a positive `timedelta`, or raise before any I/O."""
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise RequestValidationError(
                f"lookback must be positive, got {value!r}", {"lookback": ["positive"]}
            )
        return value
    return timedelta(seconds=check_option("lookback", value, positive))


def _outcome_unknown(reference: str, why: str, *, again: bool = False) -> OrderOutcomeUnknownError:
    """The error for a create that may have happened."""
    advice = (
        "call create_once again (with an open client): it finds the order if it was made"
        if again
        else f"list the orders and look for purchasing_order_reference == {reference!r} "
        "before retrying"
    )
    return OrderOutcomeUnknownError(
        f"order {reference!r} may or may not exist: {why}. It was not sent again; {advice}",
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
