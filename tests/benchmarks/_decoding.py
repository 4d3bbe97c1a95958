"""Section 4: JSON bytes to models, the SDK's converter against cattrs, pydantic v2 and msgspec.

The payloads come from the fake: its first 10,000 orders as one OrderPage-like body (UUIDs, an
offset-less datetime, an open enum, nested objects) and every feature set of the unit as a
FeatureSetPage-like body (Decimal prices; orders carry no money). Each contender decodes the
same bytes once per round, in rotating order; all must read the same values. "cattrs" is
cattrs' own generated structure functions (`make_dict_structure_fn`) on a converter with
`detailed_validation=False` configured by the SDK's `configure_converter`: the SDK's rules, no
generated decoders (the collector paused for both, as the SDK pauses it). The SDK's
UUID cache is emptied before each of its decodes, so no decode profits from an earlier one.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from cattrs import Converter

from godeploy import _converter, dumps, loads
from godeploy._converter import configure_converter, structure_json
from godeploy._generated.models import FeatureSetPage, OrderPage

from . import _msgspec_models, _pydantic_models
from ._harness import Cores, Fake, Samples, fake_process, rotations
from ._report import Row, Target, per_second, times

ORDERS = 10_000
PYDANTIC_TARGET = Target(">=", 1.5)

Decode = Callable[[bytes], Any]


@dataclass(frozen=True)
class Payload:
    """One body to decode, how many items it holds, and each contender's decoder."""

    name: str
    body: bytes
    items: int
    decoders: dict[str, Decode]


async def _get(session: aiohttp.ClientSession, fake: Fake, path: str, page: int) -> Any:
    query = {"businessUnitId": fake.business_unit_id, "_page": page, "_pageSize": 100}
    async with session.get(f"{fake.url}{path}", params=query) as answer:
        answer.raise_for_status()
        return loads(await answer.read())


async def _every_item(session: aiohttp.ClientSession, fake: Fake, path: str) -> list[Any]:
    """Every item of a listing, page after page."""
    items: list[Any] = []
    page = 1
    while True:
        body = await _get(session, fake, path, page)
        items += body["items"]
        if not body["_pageInfo"]["hasNextPage"]:
            return items
        page += 1


async def _fetch_bodies(fake: Fake) -> tuple[list[Any], list[Any]]:
    """The orders and the feature sets of the fake's unit, as decoded JSON."""
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        orders = await _every_item(session, fake, "/api/v2/orders")
        products = await _every_item(session, fake, "/api/v2/products")
        feature_sets: list[Any] = []
        for product in products:
            path = f"/api/v2/products/{product['id']}/feature_sets"
            feature_sets += await _every_item(session, fake, path)
    return orders, feature_sets


def _page_body(items: list[Any], path: str) -> bytes:
    """One page holding every item, with a consistent `_pageInfo`."""
    count = len(items)
    page_info = {
        "pageCount": 1,
        "totalItemCount": count,
        "pageNumber": 1,
        "pageSize": count,
        "hasPreviousPage": False,
        "hasNextPage": False,
        "isFirstPage": True,
        "isLastPage": True,
        "firstItemOnPage": 1,
        "lastItemOnPage": count,
    }
    page = {"items": items, "_pageInfo": page_info, "_links": {"self": f"{path}?_page=1"}}
    # Money goes back as the API writes it (`48.0000`), not through a binary float.
    return dumps(page).encode()


def _sdk(model: type[Any]) -> Decode:
    """The SDK's decoder, from a cold start each time (its UUID cache emptied)."""

    def decode(body: bytes) -> Any:
        _converter._UUID_CACHE.clear()
        return structure_json(body, model)

    return decode


def _cattrs(model: type[Any]) -> Decode:
    """cattrs' generated functions under the SDK's rules, without detailed validation."""
    converter = configure_converter(Converter(detailed_validation=False))

    def decode(body: bytes) -> Any:
        _converter._UUID_CACHE.clear()
        # With the collector paused as the SDK pauses it: only the decoders differ.
        gc.disable()
        try:
            return converter.structure(loads(body), model)
        finally:
            gc.enable()

    return decode


def payloads(cores: Cores) -> list[Payload]:
    """Fetch the bodies from a fake and pair them with the decoders."""
    with fake_process(cores, orders=ORDERS) as fake:
        orders, feature_sets = asyncio.run(_fetch_bodies(fake))
    return [
        Payload(
            "orders",
            _page_body(orders, "/api/v2/orders"),
            len(orders),
            {
                "sdk": _sdk(OrderPage),
                "cattrs": _cattrs(OrderPage),
                "pydantic": _pydantic_models.ORDER_PAGE.validate_json,
                "msgspec": _msgspec_models.ORDER_PAGE.decode,
            },
        ),
        Payload(
            "feature sets",
            _page_body(feature_sets, "/api/v2/products/x/feature_sets"),
            len(feature_sets),
            {
                "sdk": _sdk(FeatureSetPage),
                "cattrs": _cattrs(FeatureSetPage),
                "pydantic": _pydantic_models.FEATURE_SET_PAGE.validate_json,
                "msgspec": _msgspec_models.FEATURE_SET_PAGE.decode,
            },
        ),
    ]


def _projection(page: Any) -> list[tuple[Any, ...]]:
    """What every contender must have read alike: ids, UUIDs, times, statuses, users, money."""
    rows = []
    for item in page.items:
        if hasattr(item, "prices"):
            money = tuple((price.currency, price.value) for price in item.prices)
            rows.append((item.id, item.product_id, item.name, money))
        else:
            status = (item.order_status, type(item.order_status).__name__)
            user = None if item.created_by_user is None else item.created_by_user.user_name
            rows.append((item.id, item.business_unit_id, item.created, status, user))
    return rows


def check_agreement(payload: Payload) -> None:
    """Every contender reads the same values (Decimals compared by value)."""
    expected = _projection(payload.decoders["sdk"](payload.body))
    for name, decode in payload.decoders.items():
        if _projection(decode(payload.body)) != expected:
            raise RuntimeError(f"{name} reads the {payload.name} differently from the SDK")


def time_decode(decode: Decode, body: bytes, repeat: int) -> float:
    """Seconds for `repeat` decodes of the body, after a full collection."""
    gc.collect()
    started = time.perf_counter()
    for _ in range(repeat):
        decode(body)
    return time.perf_counter() - started


def measure(payload: Payload, runs: int, samples: Samples) -> None:
    """Alternate the decoders for `runs` rounds after one warm-up round; items/s per round."""
    repeat = max(1, ORDERS // payload.items)
    for number, order in enumerate(rotations(list(payload.decoders), runs + 1)):
        for name in order:
            elapsed = time_decode(payload.decoders[name], payload.body, repeat)
            if number:
                samples.add(f"{payload.name} {name}", payload.items * repeat / elapsed)


def run(cores: Cores, runs: int) -> list[Row]:
    """Decode both payloads with every contender."""
    rows: list[Row] = []
    for payload in payloads(cores):
        check_agreement(payload)
        samples = Samples()
        measure(payload, runs, samples)
        rows += _rows(payload, samples)
    return rows


def _rows(payload: Payload, samples: Samples) -> list[Row]:
    name = payload.name
    size = f"{payload.items:,} {name}, {len(payload.body) / 1e6:.1f} MB"
    is_orders = name == "orders"
    note = "" if is_orders else "pydantic reads JSON decimals through a float (48.0000 -> 48)"
    return [
        Row("4", f"SDK converter ({size}): {name}/s", samples.figure(f"{name} sdk"), per_second),
        Row(
            "4",
            f"cattrs generated, detailed_validation=False: {name}/s",
            samples.figure(f"{name} cattrs"),
            per_second,
        ),
        Row("4", f"pydantic v2: {name}/s", samples.figure(f"{name} pydantic"), per_second),
        Row("4", f"msgspec: {name}/s", samples.figure(f"{name} msgspec"), per_second),
        Row(
            "4",
            f"SDK / pydantic ({name})",
            samples.ratio(f"{name} sdk", f"{name} pydantic"),
            times,
            PYDANTIC_TARGET if is_orders else None,
            note,
        ),
        Row("4", f"SDK / cattrs ({name})", samples.ratio(f"{name} sdk", f"{name} cattrs"), times),
        Row("4", f"SDK / msgspec ({name})", samples.ratio(f"{name} sdk", f"{name} msgspec"), times),
    ]
