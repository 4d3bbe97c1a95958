"""The async pager: `async for item in client.orders.list()` walks every page.

`AsyncPager` owns the paging loop; a `Page` supplies its items and what comes next. The API's
next link carries only `_page` (`/api/v2/orders?_page=2`), so the pager merges the call's own
query (`_pageSize`; the core adds `businessUnitId`) into it. A link to another origin is refused
before anything is sent there, and a server that answers another page than the one asked, or
the same page twice, raises `PaginationError` instead of looping forever.

With `concurrency=N` the first page's `pageCount` says how many pages follow, and up to N of
them are fetched at once (through a `FanOut`, which owns their tasks); they are still handed
out in page order, each checked as the serial walk checks it, so a concurrent walk yields what
a serial one does. A list that grows meanwhile is followed further by its next links.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from attrs import define, evolve
from yarl import URL

from godeploy._config import check_option, integer_at_least, optional
from godeploy._core import CallOptions, ClientCore
from godeploy._exceptions import GoDeployError, PaginationError
from godeploy._generated.models import Links, PageInfo
from godeploy._generated.operations import Operation
from godeploy._slots import new, setters
from godeploy.fanout import FanOut

__all__ = ["AsyncPager", "Page"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# Made once, like the options' names (see check_option).
_AT_LEAST_1 = integer_at_least(1)
_NONE_OR_AT_LEAST_0 = optional(integer_at_least(0))
_NONE_OR_AT_LEAST_1 = optional(_AT_LEAST_1)


class _PageModel(Protocol[T_co]):
    """What the generated page models (`OrderPage`, ...) have in common."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def page_info(self) -> PageInfo: ...

    @property
    def links(self) -> Links: ...


@define(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One page of a listing.

    Attributes:
        items: the page's items.
        page_info: the API's `_pageInfo`, all ten fields.
        number: the page number (1-based).
        links: the API's `_links` (`next` only when there is a next page).
    """

    items: list[T]
    page_info: PageInfo
    number: int
    links: Links

    @property
    def has_next(self) -> bool:
        """Whether another page follows (an empty page ends the listing whatever it says)."""
        return bool(self.items) and self.page_info.has_next_page and not self.page_info.is_last_page


# A page is made for every page fetched (for every order, in `for_orders`): slot by slot.
_PAGE_SLOTS = setters(Page, ("items", "page_info", "number", "links"))


def _build_page(items: list[T], page_info: PageInfo, links: Links) -> Page[T]:
    """`Page(...)`, slot by slot (`godeploy._slots`), of a decoded page's parts."""
    page: Page[T] = new(Page)
    _PAGE_SLOTS[0](page, items)
    _PAGE_SLOTS[1](page, page_info)
    _PAGE_SLOTS[2](page, page_info.page_number)
    _PAGE_SLOTS[3](page, links)
    return page


class AsyncPager(Generic[T]):
    """Pages through a listing lazily; nothing is sent until iteration starts.

    Iterate it for items (`async for order in pager`), or call `pages()` for whole pages.
    With `concurrency` above 1, once the first page has said how many pages there are, up to
    that many pages are fetched at once; items and pages still come in page order.
    """

    def __init__(
        self,
        core: ClientCore,
        operation: Operation,
        url: URL,
        page_type: type[_PageModel[T]],
        options: CallOptions,
        *,
        page_size: int | None = None,
        start_page: int = 1,
        max_items: int | None = None,
        concurrency: int = 1,
    ) -> None:
        if not (
            (page_size is None or (type(page_size) is int and page_size >= 1))
            and type(start_page) is int
            and start_page >= 1
            and (max_items is None or (type(max_items) is int and max_items >= 0))
            and type(concurrency) is int
            and concurrency >= 1
        ):
            # Options that plain ints do not obviously satisfy: the validators decide, and
            # name the bad one. (A fast path: `for_orders` makes a pager per order.)
            check_option("page_size", page_size, _NONE_OR_AT_LEAST_1)
            check_option("start_page", start_page, _AT_LEAST_1)
            check_option("max_items", max_items, _NONE_OR_AT_LEAST_0)
            check_option("concurrency", concurrency, _AT_LEAST_1)
        self._core = core
        self._operation = operation
        self._url = url
        self._page_type = page_type
        self._options = options
        self.page_size = page_size
        self.start_page = start_page
        self.max_items = max_items
        self.concurrency = concurrency

    def __aiter__(self) -> AsyncIterator[T]:
        return _Items(_Walk(self))

    def pages(self) -> AsyncIterator[Page[T]]:
        """Whole pages, from `start_page` until the last (or an empty) page.

        With `max_items`, the pages stop once that many items have come, and the last page's
        `items` is cut to the limit (its `page_info` still tells what the server sent).
        """
        return _Pages(_Walk(self))

    async def collect(self) -> list[T]:
        """Every item of every page, in one list (what `[x async for x in pager]` gives).

        A walk of whole pages: no await per item, which counts when `for_orders` collects the
        items of thousands of orders.
        """
        items: list[T] | None = None
        if self.max_items is None and self.concurrency == 1:
            # The first page is fetched here, and a walk made only if another page follows:
            # a listing of one page (the items of an order, in `for_orders`) needs none.
            query = _first_query(self)
            first = await self._fetch(self._url, query)
            _check_number(self._url, self.start_page, first.number)
            if not first.has_next:
                return first.items
            walk = _Walk(self, (first, query))
            items = first.items
        else:
            walk = _Walk(self)
        # The walk closes itself at its last page and on an error.
        while (page := await walk.next_page()) is not None:
            if items is None:
                # The page's own list (fresh from `_fetch`, and the page goes no further):
                # a listing of one page, the common case, is returned without a copy.
                items = page.items
            else:
                items += page.items
            if walk.finished:
                break  # what the next `next_page` would say, without asking it
        return [] if items is None else items

    def _newest_first(self) -> _Backward[T]:
        """Every page, last page first (for a listing that appends, the newest items first).

        Page 1 comes first from the API (it says how many pages there are) and last from
        here; then the last page alone, then the pages below it down to 2, `concurrency` at a
        time. Neither `start_page` nor `max_items` applies.
        """
        return _Backward(self)

    async def _fetch(self, url: URL, query: dict[str, str | int]) -> Page[T]:
        """Fetch one page (unchecked: the walk checks it is the page it asked for)."""
        model = await self._core.request(
            self._operation, url, self._page_type, self._options, query=query
        )
        # The model goes no further than here: its (decoded, fresh) list becomes the page's.
        items = model.items
        return _build_page(
            items if type(items) is list else list(items), model.page_info, model.links
        )

    def _fan_out(self, url: URL, query: dict[str, str | int], numbers: range) -> _Ahead[T]:
        """Fetch pages `numbers` at once, at most `concurrency` in flight, in page order.

        A page that fails comes out as its error, in its turn, so it is raised where the
        serial walk would raise it. The work refers to the pager alone, never to the walk
        that holds the iterator, so a consumer that leaves its loop frees the iterator, and
        the fan-out cancels what is in flight there and then (see `godeploy.fanout`).
        """
        work = partial(_fetch_numbered, self, url, query)
        return _Ahead(aiter(FanOut(numbers, work, concurrency=self.concurrency, ordered=True)))

    def _next(
        self, url: URL, query: dict[str, str | int], page: Page[T]
    ) -> tuple[URL, dict[str, str | int], int]:
        """Where the next page is: the next link with our query merged in, or `_page` + 1."""
        if page.links.next is None:
            return url, {**query, "_page": page.number + 1}, page.number + 1
        try:
            target = url.join(URL(page.links.next))
            origin = target.origin()
        except ValueError:  # not a URL, or not one with a host (`javascript:`, `file:`)
            raise PaginationError(
                f"refusing a next link that is not an http URL: {page.links.next[:200]!r}"
            ) from None
        if origin != self._core.base_url.origin():
            raise PaginationError(
                f"refusing a next link to another origin ({origin}); nothing was sent"
            )
        if target.user is not None or target.password is not None:
            # aiohttp would send them as Basic credentials (or refuse them beside the token).
            raise PaginationError("refusing a next link with credentials in it; nothing was sent")
        merged: dict[str, Any] = dict(target.query)
        # The API's link carries only `_page`: keep the call's own page size.
        if self.page_size is not None:
            merged["_pageSize"] = self.page_size
        expected = _page_number(merged.get("_page"), default=page.number + 1)
        merged["_page"] = expected
        return target.with_query(None), merged, expected


class _Walk(Generic[T]):
    """One walk through a listing's pages: what was asked, what came, where to go next.

    The next page's URL is worked out only when it is asked for, so a bad next link fails
    after the page that carried it has been handed out, not before.
    """

    __slots__ = (
        "_ahead",
        "_ahead_url",
        "_expected",
        "_fanned",
        "_finished",
        "_last",
        "_pager",
        "_query",
        "_remaining",
        "_seen",
        "_url",
    )

    def __init__(
        self, pager: AsyncPager[T], after: tuple[Page[T], dict[str, str | int]] | None = None
    ) -> None:
        self._pager = pager
        self._url = pager._url
        self._expected = pager.start_page
        self._remaining = pager.max_items
        if after is None:
            self._query = _first_query(pager)
            self._seen: set[int] = set()
            self._last: Page[T] | None = None
        else:
            # The walk goes on after the first page, fetched (and checked) by `collect`.
            self._last, self._query = after
            self._seen = {self._last.number}
        self._finished = self._remaining == 0
        # The concurrent walk: the fan-out's results, and the URL its pages are fetched from.
        self._fanned = False
        self._ahead: _Ahead[T] | None = None
        self._ahead_url = self._url

    @property
    def finished(self) -> bool:
        """Whether the walk is over: `next_page` has no further page to give."""
        return self._finished

    async def next_page(self) -> Page[T] | None:
        """Fetch and check the next page (cut to `max_items`); None after the last one."""
        if self._finished:
            return None
        pager = self._pager
        if self._last is not None:
            self._url, self._query, self._expected = pager._next(self._url, self._query, self._last)
        try:
            page = await self._ahead_page() if self._ahead is not None else None
            if page is None:
                page = await pager._fetch(self._url, self._query)
            self._check(page)
        except BaseException:
            await self.aclose()
            raise
        self._last = page
        self._finished = not page.has_next
        if self._remaining is not None:
            if len(page.items) >= self._remaining:
                page = evolve(page, items=page.items[: self._remaining])
                self._finished = True
            self._remaining -= len(page.items)
        if self._finished:
            if self._ahead is not None:
                await self.aclose()  # a fan-out's fetches still in flight
        elif self._ahead is None and not self._fanned and pager.concurrency > 1:
            self._fan_out(page)
        return page

    def _fan_out(self, first: Page[T]) -> None:
        """After the first page: fetch the pages it says follow, up to `concurrency` at once."""
        self._fanned = True
        pager = self._pager
        try:
            url, query, number = pager._next(self._url, self._query, first)
        except PaginationError:
            return  # raised by the next step, once the first page has been handed out
        last = first.page_info.page_count
        size = first.page_info.page_size
        if self._remaining is not None and size > 0:
            # No page past `max_items` (when pages are full, as the API sends them).
            last = min(last, number - 1 + -(-self._remaining // size))
        if last >= number:
            self._ahead = pager._fan_out(url, query, range(number, last + 1))
            self._ahead_url = url

    async def _ahead_page(self) -> Page[T] | None:
        """The next page of the fan-out, checked against the previous page's next link.

        None when the fan-out has handed out its last page: the walk goes on from there by
        following next links (the list grew while it was walked).
        """
        assert self._ahead is not None
        if self._url != self._ahead_url:
            raise PaginationError(
                f"page {self._expected - 1}'s next link leaves {self._ahead_url.path} for "
                f"{self._url.path}, which a concurrent walk does not follow"
            )
        outcome = await self._ahead.next()
        if outcome is None:
            self._ahead = None
            return None
        if self._expected != outcome.asked:
            # The previous page's next link names another page than the one fetched.
            raise PaginationError(
                f"page {outcome.asked - 1}'s next link names page {self._expected}, "
                f"not {outcome.asked}: a concurrent walk cannot follow it"
            )
        return outcome.page

    async def aclose(self) -> None:
        """Fetch no further page; cancel (and wait for) pages in flight."""
        self._finished = True
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            await ahead.aclose()

    def _check(self, page: Page[T]) -> None:
        """Refuse another page than the one asked, or a page seen before."""
        _check_number(self._url, self._expected, page.number)
        if page.number in self._seen:
            raise PaginationError(f"the API answered page {page.number} of {self._url.path} twice")
        self._seen.add(page.number)


class _Items(Generic[T]):
    """The items of a walk.

    A plain async iterator: no async generator to register and finalise per listing, which
    counts when `for_orders` walks the items of thousands of orders, and nothing left for the
    garbage collector to close when a consumer breaks out of its loop.
    """

    __slots__ = ("_index", "_items", "_walk")

    def __init__(self, walk: _Walk[T]) -> None:
        self._walk = walk
        self._items: list[T] = []
        self._index = 0

    def __aiter__(self) -> _Items[T]:
        return self

    async def __anext__(self) -> T:
        while self._index >= len(self._items):
            page = await self._walk.next_page()
            if page is None:
                raise StopAsyncIteration
            self._items, self._index = page.items, 0
        item = self._items[self._index]
        self._index += 1
        return item

    async def aclose(self) -> None:
        """Stop: no further page is fetched, and pages in flight are cancelled."""
        self._items, self._index = [], 0
        await self._walk.aclose()


class _Pages(Generic[T]):
    """The pages of a walk; a plain async iterator, like `_Items`."""

    __slots__ = ("_walk",)

    def __init__(self, walk: _Walk[T]) -> None:
        self._walk = walk

    def __aiter__(self) -> _Pages[T]:
        return self

    async def __anext__(self) -> Page[T]:
        page = await self._walk.next_page()
        if page is None:
            raise StopAsyncIteration
        return page

    async def aclose(self) -> None:
        """Stop: no further page is fetched, and pages in flight are cancelled."""
        await self._walk.aclose()


@define(frozen=True, slots=True)
class _Numbered(Generic[T]):
    """A page fetched by a fan-out, with the number it was asked for."""

    asked: int
    page: Page[T]


class _Ahead(Generic[T]):
    """The pages a fan-out fetches ahead of a walk, in the order they were asked for.

    It holds the fan-out's iterator, the only handle on its run: freeing it (with the walk
    that holds it) cancels the fetches in flight.
    """

    __slots__ = ("_results",)

    def __init__(self, results: AsyncIterator[_Numbered[T] | GoDeployError]) -> None:
        self._results = results

    async def next(self) -> _Numbered[T] | None:
        """The next page (its failure raised in its turn); None after the last."""
        try:
            outcome = await anext(self._results)
        except StopAsyncIteration:
            return None
        if isinstance(outcome, GoDeployError):
            raise outcome
        return outcome

    async def aclose(self) -> None:
        """Cancel the fetches in flight and wait for them."""
        await self._results.aclose()  # type: ignore[attr-defined]


async def _fetch_numbered(
    pager: AsyncPager[T], url: URL, query: dict[str, str | int], number: int
) -> _Numbered[T] | GoDeployError:
    """Fetch page `number` for a fan-out; an API failure is returned, to be raised in turn."""
    try:
        return _Numbered(number, await pager._fetch(url, {**query, "_page": number}))
    except GoDeployError as error:
        return error


class _Backward(Generic[T]):
    """The pages of a listing from the last to the first; a plain async iterator, like `_Pages`.

    Leaving the loop early frees it and, with it, the fan-out's iterator, which cancels the
    fetches in flight (the same ownership as the concurrent forward walk).
    """

    __slots__ = ("_ahead", "_below", "_done", "_first", "_pager", "_query")

    def __init__(self, pager: AsyncPager[T]) -> None:
        self._pager = pager
        self._query: dict[str, str | int] = {"_page": 1}
        if pager.page_size is not None:
            self._query["_pageSize"] = pager.page_size
        self._first: Page[T] | None = None
        self._below = range(0)  # the pages between the last and the first, newest first
        self._ahead: _Ahead[T] | None = None
        self._done = False

    def __aiter__(self) -> _Backward[T]:
        return self

    async def __anext__(self) -> Page[T]:
        if self._done:
            raise StopAsyncIteration
        try:
            page = await self._next()
        except BaseException:
            await self.aclose()
            raise
        if page is None:
            self._done = True
            assert self._first is not None
            return self._first
        return page

    async def _next(self) -> Page[T] | None:
        """The next page from the end; None when only the first page is left to hand out."""
        pager, url = self._pager, self._pager._url
        if self._first is None:
            first = await pager._fetch(url, self._query)
            _check_number(url, 1, first.number)
            self._first = first
            count = first.page_info.page_count
            if count < 2 or not first.items:
                return None
            # The last page alone first: often all a consumer needs (the newest items).
            last = await pager._fetch(url, {**self._query, "_page": count})
            _check_number(url, count, last.number)
            self._below = range(count - 1, 1, -1)
            return last
        if self._below:
            self._ahead = pager._fan_out(url, self._query, self._below)
            self._below = range(0)
        if self._ahead is None:
            return None
        outcome = await self._ahead.next()
        if outcome is None:
            self._ahead = None
            return None
        _check_number(url, outcome.asked, outcome.page.number)
        return outcome.page

    async def aclose(self) -> None:
        """Stop: no further page is fetched, and pages in flight are cancelled."""
        self._done = True
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            await ahead.aclose()


def _first_query(pager: AsyncPager[Any]) -> dict[str, str | int]:
    """The query of a walk's first page: `start_page`, and the page size if one is set."""
    query: dict[str, str | int] = {"_page": pager.start_page}
    if pager.page_size is not None:
        query["_pageSize"] = pager.page_size
    return query


def _check_number(url: URL, asked: int, answered: int) -> None:
    """Refuse another page than the one asked."""
    if answered != asked:
        raise PaginationError(
            f"asked {url.path} for page {asked}, the API answered page {answered}"
        )


def _page_number(value: object, *, default: int) -> int:
    """Read `_page` from a next link."""
    if value is None:
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise PaginationError(f"the next link has a bad _page: {value!r}") from None
    if number < 1:
        raise PaginationError(f"the next link has a bad _page: {value!r}")
    return number
