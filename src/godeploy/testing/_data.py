"""The fake's data: deterministic for a seed, shaped and sized like the reference's examples.

Two business units exist. The first ("UK") is the one a test works with; the second ("Ireland")
has its own products and orders so that reaching into another unit can be seen to fail.

Products and feature sets are few and built eagerly, with their JSON. Orders can be many
(100,000 must start in a few seconds), so only their ids are laid out at start; each stored
order is derived from (seed, order id) when first asked for and its JSON is kept in a bounded
cache. Orders created through the API are kept for good.

JSON follows what the reference shows of the vendor's (ASP.NET) serializer: compact, keys in
the reference's order, null fields left out (its order item example has no `sourceReference`),
money as exact decimals (`48.0000`), and date-times with trailing fractional zeros trimmed, as
.NET writes them: stored orders in SQL Server `datetime` precision without an offset
(`2019-02-24T20:04:30.473`, `2019-02-24T20:04:31.47`, `2019-02-24T20:04:32`), new orders with
up to seven fractional digits and `Z` (`2023-04-21T12:49:24.7613405Z`).
"""

from __future__ import annotations

import functools
import random
import time
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, NamedTuple
from uuid import UUID

from godeploy._json import dumps

__all__ = [
    "MAX_PAGE_SIZE",
    "FeatureSetRecord",
    "ItemRecord",
    "NewItem",
    "OrderRecord",
    "ProductRecord",
    "SourceRecord",
    "Store",
    "UnitRecord",
    "UserRecord",
]

MAX_PAGE_SIZE: Final = 100
"""The largest `_pageSize` the fake applies; larger requests are clamped to it."""

_ITEM_ID_STRIDE: Final = 5
"""Stored order N owns item ids (N-1)*5+1 .. (N-1)*5+5 (at most five items), so order 1 item 1
is item 1, as in the reference."""

_ORDER_CACHE_SIZE: Final = 16384
"""Derived orders kept. A walk of the whole list in order never hits a cache smaller than the
list, so it holds the 10,000 orders the benchmarks list (a few KiB each)."""

_FIRST_ORDER_CREATED: Final = datetime(2019, 2, 24, 20, 4, 30, 473000)
_LAST_ORDER_CREATED: Final = datetime(2023, 3, 31, 17, 0, 0)


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _trim_fraction(whole_seconds: str, fraction: str) -> str:
    """Join a time and its fractional digits the way .NET writes them: no trailing zeros."""
    fraction = fraction.rstrip("0")
    return f"{whole_seconds}.{fraction}" if fraction else whole_seconds


def format_stored_created(moment: datetime) -> str:
    """A stored order's `created`: SQL `datetime` precision, no offset, zeros trimmed."""
    milliseconds = moment.microsecond // 1000
    # SQL Server `datetime` keeps milliseconds in steps of .000, .003 and .007.
    tenths, last = divmod(milliseconds, 10)
    rounded = (0, 0, 3, 3, 3, 7, 7, 7, 7, 10)[last]
    moment = moment.replace(microsecond=0) + timedelta(milliseconds=tenths * 10 + rounded)
    whole = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return _trim_fraction(whole, f"{moment.microsecond // 1000:03d}")


def format_new_created(nanoseconds_since_epoch: int) -> str:
    """A newly created order's `created`: 100 ns ticks, `Z`, zeros trimmed (.NET `DateTime`)."""
    ticks = nanoseconds_since_epoch // 100
    seconds, fraction = divmod(ticks, 10_000_000)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return _trim_fraction(whole, f"{fraction:07d}") + "Z"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user of a business unit; orders name the one who created them."""

    id: UUID
    forename: str
    surname: str
    user_name: str

    @property
    def name(self) -> str:
        """The display name, `forename surname`."""
        return f"{self.forename} {self.surname}"

    def as_json(self) -> dict[str, str]:
        """The `createdByUser` object."""
        return {
            "forename": self.forename,
            "surname": self.surname,
            "name": self.name,
            "userName": self.user_name,
        }


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """Where an order came from (`go deploy` is the API itself)."""

    id: UUID
    name: str
    invoiceable: bool


@dataclass(frozen=True, slots=True)
class FeatureSetRecord:
    """A priced variant of a product, with its JSON and the text order items show for it."""

    id: UUID
    product_id: UUID
    name: str
    course_access_period_days: int
    module_save_period_days: int
    prices: tuple[tuple[str, Decimal], ...]
    item_description: str
    json: bytes


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A product of a business unit and its feature sets."""

    id: UUID
    code: str
    name: str
    course_ids: tuple[str, ...]
    feature_sets: tuple[FeatureSetRecord, ...]
    json: bytes

    def feature_set(self, feature_set_id: UUID) -> FeatureSetRecord | None:
        """Return this product's feature set with that id, if it has one."""
        for feature_set in self.feature_sets:
            if feature_set.id == feature_set_id:
                return feature_set
        return None


class UnitRecord:
    """A business unit: its people, order sources, catalogue and the ids of its orders."""

    __slots__ = (
        "feature_set_by_id",
        "feature_sets",
        "id",
        "name",
        "order_ids",
        "product_by_id",
        "products",
        "sources",
        "users",
    )

    def __init__(
        self,
        *,
        unit_id: UUID,
        name: str,
        users: tuple[UserRecord, ...],
        sources: tuple[SourceRecord, ...],
        products: tuple[ProductRecord, ...],
    ) -> None:
        self.id = unit_id
        self.name = name
        self.users = users
        self.sources = sources
        self.products = products
        self.product_by_id = {product.id: product for product in products}
        self.feature_sets = tuple(fs for product in products for fs in product.feature_sets)
        self.feature_set_by_id = {fs.id: fs for fs in self.feature_sets}
        # Ascending, as the list shows them; ids created through the API are appended.
        self.order_ids: array[int] = array("q")

    def owns_order(self, order_id: int) -> bool:
        """Whether an order id belongs to this unit."""
        index = bisect_left(self.order_ids, order_id)
        return index < len(self.order_ids) and self.order_ids[index] == order_id


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One order item."""

    id: int
    order_id: int
    feature_set_id: UUID
    quantity: int
    enable_feedback_link: bool
    description: str
    source_reference: str | None = None
    feedback_link_uri: str | None = None
    feedback_link_text: str | None = None
    achievement_code: str | None = None

    def to_json(self) -> bytes:
        """The item as the item list shows it."""
        body: dict[str, Any] = {
            "orderId": self.order_id,
            "id": self.id,
            "featureSetId": str(self.feature_set_id),
            "quantity": self.quantity,
            "enableFeedbackLink": self.enable_feedback_link,
            "description": self.description,
        }
        for key, value in (
            ("sourceReference", self.source_reference),
            ("feedbackLinkUri", self.feedback_link_uri),
            ("feedbackLinkText", self.feedback_link_text),
            ("achievementCode", self.achievement_code),
        ):
            if value is not None:
                body[key] = value
        # QUIRK of the reference: an item's `self` is its order's item list, not the item.
        body["_links"] = {"self": f"/api/v2/orders/{self.order_id}/items"}
        return dumps(body).encode()


@dataclass(frozen=True, slots=True)
class NewItem:
    """A validated item of a create request."""

    feature_set: FeatureSetRecord
    quantity: int
    enable_feedback_link: bool
    source_reference: str | None
    feedback_link_uri: str | None
    feedback_link_text: str | None
    achievement_code: str | None


class OrderRecord:
    """An order and its items, with each JSON shape built once on first use."""

    __slots__ = (
        "_get_json",
        "_item_jsons",
        "_list_json",
        "cancellable",
        "contact_email",
        "contact_forename",
        "contact_surname",
        "created",
        "editable",
        "id",
        "items",
        "reference",
        "source",
        "status",
        "unit",
        "user",
    )

    def __init__(
        self,
        *,
        order_id: int,
        unit: UnitRecord,
        user: UserRecord,
        source: SourceRecord,
        reference: str,
        contact_forename: str | None,
        contact_surname: str | None,
        contact_email: str | None,
        status: str,
        created: str,
        editable: bool,
        cancellable: bool,
        items: tuple[ItemRecord, ...],
    ) -> None:
        self.id = order_id
        self.unit = unit
        self.user = user
        self.source = source
        self.reference = reference
        self.contact_forename = contact_forename
        self.contact_surname = contact_surname
        self.contact_email = contact_email
        self.status = status
        self.created = created
        self.editable = editable
        self.cancellable = cancellable
        self.items = items
        self._list_json: bytes | None = None
        self._get_json: bytes | None = None
        self._item_jsons: tuple[bytes, ...] | None = None

    def _body(self, *, in_list: bool, created_now: bool = False) -> dict[str, Any]:
        # Key order and the optional members follow the reference: the list item carries
        # businessUnit, createdByUser, orderSource and _links; the single GET none of them; the
        # create response all but orderSource.
        with_relations = in_list or created_now
        body: dict[str, Any] = {"id": self.id, "businessUnitId": str(self.unit.id)}
        if with_relations:
            body["businessUnit"] = {"name": self.unit.name}
        body["createdByUserId"] = str(self.user.id)
        if with_relations:
            body["createdByUser"] = self.user.as_json()
        body["orderSourceId"] = str(self.source.id)
        if in_list:
            body["orderSource"] = {"name": self.source.name, "invoiceable": self.source.invoiceable}
        body["purchasingOrderReference"] = self.reference
        for key, value in (
            ("contactForename", self.contact_forename),
            ("contactSurname", self.contact_surname),
            ("contactEmail", self.contact_email),
        ):
            if value is not None:
                body[key] = value
        body["orderStatus"] = self.status
        body["created"] = self.created
        body["editable"] = self.editable
        body["cancellable"] = self.cancellable
        if with_relations:
            body["_links"] = {"self": f"/api/v2/orders/{self.id}"}
        return body

    def list_json(self) -> bytes:
        """The order as an item of GET /api/v2/orders."""
        if self._list_json is None:
            self._list_json = dumps(self._body(in_list=True)).encode()
        return self._list_json

    def get_json(self) -> bytes:
        """The order as GET /api/v2/orders/{orderId} answers it."""
        if self._get_json is None:
            self._get_json = dumps(self._body(in_list=False)).encode()
        return self._get_json

    def create_json(self) -> bytes:
        """The order as POST /api/v2/orders answers it."""
        return dumps(self._body(in_list=False, created_now=True)).encode()

    def item_jsons(self) -> tuple[bytes, ...]:
        """The JSON of each item, in order."""
        if self._item_jsons is None:
            self._item_jsons = tuple(item.to_json() for item in self.items)
        return self._item_jsons


# ---------------------------------------------------------------------------------------------
# Generation

_FORENAMES: Final = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophie", "Emily", "Aoife", "Niamh",
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Liam", "Conor",
)  # fmt: skip
_SURNAMES: Final = (
    "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Roberts",
    "Johnson", "Walsh", "Byrne", "Murphy", "Kelly", "Patel", "Khan", "Clarke", "Hughes",
)  # fmt: skip
_COMPANIES: Final = (
    "contoso", "fabrikam", "northwind", "tailspin", "adventure-works", "litware", "proseware",
)  # fmt: skip

_TRACKS: Final = (
    ("AZ", True, (
        "Microsoft Azure Administrator", "Microsoft Azure Architect Technologies",
        "Developing Solutions for Microsoft Azure", "Microsoft Azure Fundamentals",
        "Designing Microsoft Azure Infrastructure Solutions",
        "Microsoft Azure Security Technologies",
        "Designing and Implementing Microsoft DevOps Solutions",
    )),
    ("DP", True, (
        "Microsoft Azure Data Fundamentals", "Data Engineering on Microsoft Azure",
        "Administering Relational Databases on Microsoft Azure",
        "Designing and Implementing a Data Science Solution on Azure",
    )),
    ("AI", True, (
        "Microsoft Azure AI Fundamentals",
        "Designing and Implementing a Microsoft Azure AI Solution",
    )),
    ("MS", False, (
        "Microsoft 365 Messaging", "Microsoft 365 Identity and Services",
        "Microsoft 365 Fundamentals", "Managing Microsoft Teams",
    )),
    ("PL", False, (
        "Microsoft Power Platform Fundamentals", "Power Platform Functional Consultant",
        "Microsoft Power BI Data Analyst", "Microsoft Power Platform Developer",
    )),
    ("SC", False, (
        "Security, Compliance, and Identity Fundamentals",
        "Microsoft Security Operations Analyst",
        "Microsoft Identity and Access Administrator",
        "Microsoft Information Protection Administrator",
    )),
    ("MB", False, (
        "Dynamics 365 Fundamentals (CRM)", "Dynamics 365 Sales Functional Consultant",
        "Dynamics 365 Customer Service Functional Consultant",
        "Dynamics 365 Finance Functional Consultant",
    )),
    ("MD", False, ("Modern Desktop Administrator", "Windows Client")),
)  # fmt: skip
_LEGACY_TITLES: Final = (
    "SQL Server on Linux", "Administering a SQL Database Infrastructure",
    "Querying Data with Transact-SQL", "Developing SQL Databases",
    "Installation, Storage, and Compute with Windows Server 2016",
    "Networking with Windows Server 2016", "Identity with Windows Server 2016",
    "Securing Windows Server 2016", "Developing ASP.NET Core MVC Web Applications",
    "Programming in C#", "Analyzing Data with Power BI", "Implementing a Data Warehouse with SQL",
)  # fmt: skip
_TIERS: Final = ("Standard", "Premium", "Lab Only", "Exam Prep")
_ACCESS_DAYS: Final = (30, 90, 180, 365)

# (status, cumulative weight): mostly the two documented statuses, plus an undocumented one
# so that clients prove they keep an unknown status instead of failing on it.
_STATUSES: Final = (("Cancelled", 0.55), ("New", 0.95), ("Processing", 1.0))


@dataclass(frozen=True, slots=True)
class _ProductSeed:
    code: str
    name: str
    title: str


def _product_seeds(rng: random.Random, count: int, *, reference_first: bool) -> list[_ProductSeed]:
    """Codes and names like the reference's (`AZ-300`, `AZ-300 (Packaged Set) - (Azure Pass)`)."""
    seeds: list[_ProductSeed] = []
    if reference_first:
        seeds += [
            _ProductSeed(
                "AZ-300",
                "AZ-300 (Packaged Set) - (Azure Pass)",
                "Microsoft Azure Architect Technologies",
            ),
            _ProductSeed("M10999A", "M10999A: SQL Server on Linux", "SQL Server on Linux"),
        ]
    codes = {seed.code for seed in seeds}
    while len(seeds) < count:
        if rng.random() < 0.25:
            code = f"M{rng.randrange(10000, 20999)}{rng.choice('ABCD')}"
            title = rng.choice(_LEGACY_TITLES)
            name = rng.choice((f"{code}: {title}", f"{code} - {title}", title))
        else:
            prefix, azure, titles = rng.choice(_TRACKS)
            code = f"{prefix}-{rng.randrange(100, 1000)}"
            title = rng.choice(titles)
            names = [f"{code} (Packaged Set)", f"{code}: {title}", title]
            if azure:
                names.append(f"{code} (Packaged Set) - (Azure Pass)")
            name = rng.choice(names)
        if code not in codes:
            codes.add(code)
            seeds.append(_ProductSeed(code, name, title))
    return seeds[:count]


def _price(rng: random.Random) -> Decimal:
    pounds = rng.randrange(9, 600)
    pence = rng.choice((0, 0, 0, 50, 99))
    # Four decimal places, as the reference writes money (`48.0000`).
    return Decimal(f"{pounds}.{pence:02d}00")


def _feature_set(
    rng: random.Random,
    product_id: UUID,
    seed: _ProductSeed,
    *,
    name: str,
    access_days: int,
    save_days: int,
    price: Decimal,
) -> FeatureSetRecord:
    feature_set_id = _uuid(rng)
    body = {
        "id": str(feature_set_id),
        "productId": str(product_id),
        "name": name,
        "courseAccessPeriodDays": access_days,
        "moduleSavePeriodDays": save_days,
        "prices": [{"currency": "GBP", "value": price}],
        "_links": {"self": f"/api/v2/products/{product_id}/feature_sets/{feature_set_id}"},
    }
    return FeatureSetRecord(
        id=feature_set_id,
        product_id=product_id,
        name=name,
        course_access_period_days=access_days,
        module_save_period_days=save_days,
        prices=(("GBP", price),),
        item_description=f"{seed.code} - {seed.title} ({name})",
        json=dumps(body).encode(),
    )


def _products(
    rng: random.Random, count: int, *, reference_first: bool
) -> tuple[ProductRecord, ...]:
    products: list[ProductRecord] = []
    for index, seed in enumerate(_product_seeds(rng, count, reference_first=reference_first)):
        product_id = _uuid(rng)
        is_reference = reference_first and index == 0
        if is_reference:
            # The reference's own example: AZ-300, one feature set "Standard - 180 days" at 48.
            variants = [("Standard", 180, 1, Decimal("48.0000"))]
            course_ids: tuple[str, ...] = ()
        else:
            count_of_sets = rng.choices((1, 2, 3, 4), weights=(40, 30, 20, 10))[0]
            combos = rng.sample([(t, d) for t in _TIERS for d in _ACCESS_DAYS], count_of_sets)
            combos.sort(key=lambda combo: (_TIERS.index(combo[0]), combo[1]))
            variants = [
                (tier, days, min(days, rng.choice((1, 1, 1, 7, 30, 90))), _price(rng))
                for tier, days in combos
            ]
            course_ids = (
                tuple(str(_uuid(rng)) for _ in range(rng.randrange(1, 4)))
                if rng.random() < 0.3
                else ()
            )
        feature_sets = tuple(
            _feature_set(
                rng,
                product_id,
                seed,
                name=f"{tier} - {days} days",
                access_days=days,
                save_days=save_days,
                price=price,
            )
            for tier, days, save_days, price in variants
        )
        body = {
            "id": str(product_id),
            "code": seed.code,
            "name": seed.name,
            "courseIds": list(course_ids),
            "_links": {"self": f"/api/v2/products/{product_id}"},
        }
        products.append(
            ProductRecord(
                id=product_id,
                code=seed.code,
                name=seed.name,
                course_ids=course_ids,
                feature_sets=feature_sets,
                json=dumps(body).encode(),
            )
        )
    return tuple(products)


def _users(rng: random.Random, count: int, *, reference_first: bool) -> tuple[UserRecord, ...]:
    names: list[tuple[str, str]] = [("John", "Smith")] if reference_first else []
    while len(names) < count:
        name = (rng.choice(_FORENAMES), rng.choice(_SURNAMES))
        if name not in names:
            names.append(name)
    return tuple(
        UserRecord(
            id=_uuid(rng),
            forename=forename,
            surname=surname,
            user_name=f"{forename}{surname}@example.com".lower(),
        )
        for forename, surname in names
    )


def _sources(rng: random.Random) -> tuple[SourceRecord, ...]:
    return (
        SourceRecord(_uuid(rng), "go deploy", True),
        SourceRecord(_uuid(rng), "Reseller Portal", True),
        SourceRecord(_uuid(rng), "Marketplace", False),
    )


class _Catalogue(NamedTuple):
    unit_id: UUID
    users: tuple[UserRecord, ...]
    sources: tuple[SourceRecord, ...]
    products: tuple[ProductRecord, ...]


@functools.lru_cache(maxsize=8)
def _catalogue(seed: int, product_count: int) -> tuple[_Catalogue, _Catalogue]:
    """Both units' ids, people, sources and products: made once per seed (they never change)."""
    rng = random.Random(f"godeploy-fake/{seed}/catalogue")
    main = _Catalogue(
        _uuid(rng),
        _users(rng, 5, reference_first=True),
        _sources(rng),
        _products(rng, product_count, reference_first=True),
    )
    other = _Catalogue(
        _uuid(rng),
        _users(rng, 3, reference_first=False),
        _sources(rng),
        _products(rng, 3 + product_count // 10, reference_first=False),
    )
    return main, other


@functools.lru_cache(maxsize=8)
def _order_ids(seed: int, main_count: int, other_count: int) -> tuple[array[int], array[int]]:
    """The stored order ids of each unit, ascending: ids are global, with gaps."""
    rng = random.Random(f"godeploy-fake/{seed}/order-ids")
    total = main_count + other_count
    # The reference's first order (id 1) is in the unit it lists, so position 0 is main's.
    first_other = 1 if main_count else 0
    other_positions = set(rng.sample(range(first_other, total), other_count))
    main_ids, other_ids = array("q"), array("q")
    order_id = 0
    for position in range(total):
        order_id += 1 if position == 0 or rng.random() < 0.6 else rng.randrange(2, 20)
        (other_ids if position in other_positions else main_ids).append(order_id)
    return main_ids, other_ids


class Store:
    """All the data of one fake: two business units, their catalogues and orders.

    Args:
        seed: makes every id, name, price and order the same on every run.
        product_count: products of the first business unit.
        order_count: stored orders of the first business unit.
    """

    def __init__(self, *, seed: int, product_count: int, order_count: int) -> None:
        if product_count < 1:
            raise ValueError("product_count must be at least 1: orders need feature sets")
        if order_count < 0:
            raise ValueError("order_count must not be negative")
        self.seed = seed
        main, other = _catalogue(seed, product_count)
        self.main = UnitRecord(
            unit_id=main.unit_id,
            name="UK",
            users=main.users,
            sources=main.sources,
            products=main.products,
        )
        self.other = UnitRecord(
            unit_id=other.unit_id,
            name="Ireland",
            users=other.users,
            sources=other.sources,
            products=other.products,
        )
        self.units = {self.main.id: self.main, self.other.id: self.other}
        self.api_user = self.main.users[0]
        """The user the token belongs to: it creates the orders made through the API."""

        self._last_stored_id = self._lay_out_order_ids(order_count, 3 + order_count // 20)
        self._next_order_id = self._last_stored_id + 1
        self._next_item_id = self._last_stored_id * _ITEM_ID_STRIDE + 1
        self._created: dict[int, OrderRecord] = {}
        self.created_ids: list[int] = []
        self._stored_order = functools.lru_cache(maxsize=_ORDER_CACHE_SIZE)(self._derive_order)

    def _lay_out_order_ids(self, main_count: int, other_count: int) -> int:
        """Give both units their order ids; return the highest. Ids are global, with gaps."""
        main_ids, other_ids = _order_ids(self.seed, main_count, other_count)
        self.main.order_ids.extend(main_ids)
        self.other.order_ids.extend(other_ids)
        order_id = max(main_ids[-1:] + other_ids[-1:], default=0)
        # Spread creation times evenly over the ids, so that `created` grows with the id.
        span_ms = (_LAST_ORDER_CREATED - _FIRST_ORDER_CREATED) // timedelta(milliseconds=1)
        self._ms_per_id = max(1, span_ms // max(order_id, 1))
        return order_id

    # -- orders ------------------------------------------------------------------------------

    def unit_of_order(self, order_id: int) -> UnitRecord | None:
        """The unit an order belongs to, or None when there is no such order."""
        for unit in (self.main, self.other):
            if unit.owns_order(order_id):
                return unit
        return None

    def order(self, unit: UnitRecord, order_id: int) -> OrderRecord | None:
        """An order of `unit`, or None (another unit's order is as absent as a missing one)."""
        if not unit.owns_order(order_id):
            return None
        created = self._created.get(order_id)
        return created if created is not None else self._stored_order(order_id)

    def orders(self, unit: UnitRecord, start: int, stop: int) -> list[OrderRecord]:
        """The unit's orders at list positions start..stop-1 (ascending ids)."""
        records = []
        for order_id in unit.order_ids[start:stop]:
            created = self._created.get(order_id)
            records.append(created if created is not None else self._stored_order(order_id))
        return records

    def _derive_order(self, order_id: int) -> OrderRecord:
        """Build stored order `order_id` from (seed, id): the same order every time."""
        unit = self.unit_of_order(order_id)
        assert unit is not None, f"order {order_id} is not stored"
        rng = random.Random(f"godeploy-fake/{self.seed}/order/{order_id}")
        user = unit.users[0] if rng.random() < 0.4 else rng.choice(unit.users)
        source = rng.choices(unit.sources, weights=(70, 20, 10))[0]
        draw = rng.random()
        if draw < 0.6:
            reference = str(rng.randrange(100_000_000, 1_000_000_000))
        elif draw < 0.9:
            reference = f"PO-{rng.randrange(2019, 2024)}-{rng.randrange(1, 100_000):05d}"
        else:
            reference = f"{rng.choice(_COMPANIES).title()} training {rng.randrange(1, 500)}"
        draw = rng.random()
        if draw < 0.8:
            contact_email: str | None = user.user_name
        elif draw < 0.95:
            contact_email = f"training@{rng.choice(_COMPANIES)}.example"
        else:
            contact_email = None
        draw = rng.random()
        status = next(name for name, weight in _STATUSES if draw < weight)
        offset_ms = (order_id - 1) * self._ms_per_id
        if order_id > 1:
            offset_ms += rng.randrange(max(1, self._ms_per_id * 3 // 4))
        created = format_stored_created(_FIRST_ORDER_CREATED + timedelta(milliseconds=offset_ms))
        item_count = rng.choices((1, 2, 3, 4, 5), weights=(50, 25, 12, 8, 5))[0]
        items = []
        for position in range(item_count):
            feature_set = rng.choice(unit.feature_sets)
            feedback = rng.random() < 0.2
            items.append(
                ItemRecord(
                    id=(order_id - 1) * _ITEM_ID_STRIDE + position + 1,
                    order_id=order_id,
                    feature_set_id=feature_set.id,
                    quantity=1 if rng.random() < 0.6 else rng.randrange(2, 26),
                    enable_feedback_link=feedback,
                    description=feature_set.item_description,
                    source_reference=f"SR-{rng.randrange(10_000, 100_000)}"
                    if rng.random() < 0.25
                    else None,
                    feedback_link_uri=f"https://feedback.{rng.choice(_COMPANIES)}.example/survey"
                    if feedback
                    else None,
                    feedback_link_text="Submit feedback" if feedback else None,
                )
            )
        return OrderRecord(
            order_id=order_id,
            unit=unit,
            user=user,
            source=source,
            reference=reference,
            contact_forename=user.forename,
            contact_surname=user.surname,
            contact_email=contact_email,
            status=status,
            created=created,
            editable=False,
            cancellable=status == "New" and rng.random() < 0.3,
            items=tuple(items),
        )

    def create_order(
        self,
        unit: UnitRecord,
        *,
        reference: str,
        contact_email: str | None,
        items: Sequence[NewItem],
        now_ns: int | None = None,
    ) -> OrderRecord:
        """Store a new order made through the API (status New, ids after the highest)."""
        order_id = self._next_order_id
        self._next_order_id += 1
        records = []
        for item in items:
            records.append(
                ItemRecord(
                    id=self._next_item_id,
                    order_id=order_id,
                    feature_set_id=item.feature_set.id,
                    quantity=item.quantity,
                    enable_feedback_link=item.enable_feedback_link,
                    description=item.feature_set.item_description,
                    source_reference=item.source_reference,
                    feedback_link_uri=item.feedback_link_uri,
                    feedback_link_text=item.feedback_link_text,
                    achievement_code=item.achievement_code,
                )
            )
            self._next_item_id += 1
        record = OrderRecord(
            order_id=order_id,
            unit=unit,
            user=self.api_user,
            source=unit.sources[0],
            reference=reference,
            contact_forename=self.api_user.forename,
            contact_surname=self.api_user.surname,
            contact_email=contact_email,
            status="New",
            created=format_new_created(time.time_ns() if now_ns is None else now_ns),
            editable=False,
            cancellable=False,
            items=tuple(records),
        )
        self._created[order_id] = record
        self.created_ids.append(order_id)
        unit.order_ids.append(order_id)
        return record

    def created_order(self, order_id: int) -> OrderRecord:
        """An order created through the API."""
        return self._created[order_id]
