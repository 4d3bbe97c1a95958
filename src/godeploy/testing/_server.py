"""FakeGoDeploy: the go deploy Order API on loopback, like the reference, faults on demand."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import math
import random
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Self
from uuid import UUID

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from godeploy._json import dumps, loads
from godeploy._lifecycle import AsyncClosing
from godeploy.testing._create import is_json_media_type, validate_create
from godeploy.testing._data import MAX_PAGE_SIZE, Store, UnitRecord
from godeploy.testing._faults import Fault, FaultKind, Faults
from godeploy.testing._observe import RateCap, RateWindows, RecordedRequest, RequestLog
from godeploy.testing._problems import HTML_TYPE, JSON_TYPE, PROBLEM_TYPE, html_page, problem
from godeploy.testing._routes import ROUTES, operation_of

__all__ = ["FakeGoDeploy"]

_HOST: Final = "127.0.0.1"
_INT64_MAX: Final = 2**63 - 1
_RESET_PAUSE: Final = 0.01
"""Seconds between sending a partial body and resetting, so the client reads what was sent."""
_THREAD_STOP_TIMEOUT: Final = 30.0
"""Seconds `in_thread()` waits for its thread to stop the fake (aclose() takes < 1 s)."""
_ENVIRONMENT_VARIABLES: Final = ("GODEPLOY_TOKEN", "GODEPLOY_BUSINESS_UNIT_ID", "GODEPLOY_BASE_URL")
"""The variables that `FakeGoDeploy.environment` fills: those the CLI and the client read."""


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str | None = JSON_TYPE
    headers: Mapping[str, str] | None = None

    def header_dict(self) -> dict[str, str]:
        headers = dict(self.headers or {})
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        return headers


@dataclass(slots=True)
class _Call:
    """A request that passed auth and parameter checks: what the operation works with."""

    route: str
    unit: UnitRecord
    page: int
    page_size: int
    product_id: UUID | None
    feature_set_id: UUID | None
    order_id: int | None
    fault: Fault | None
    body: bytes


_Operation = Callable[[web.Request, _Call], Awaitable[_Reply]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@functools.lru_cache(maxsize=256)
def _accepts_json(accept: str) -> bool:
    """Whether an Accept header lets the API answer `application/json`."""
    if not accept.strip():
        return True
    for part in accept.split(","):
        media, *parameters = part.split(";")
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and media.strip().lower() in ("*/*", "application/*", "application/json"):
            return True
    return False


def _parse_int(text: str) -> int | None:
    """An integer as ASP.NET binds one (ASCII digits, optional sign), or None."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return None


def _parse_int64(text: str) -> int | None:
    """An int64 as ASP.NET binds one, or None (not an integer, or out of range)."""
    value = _parse_int(text)
    return value if value is not None and -_INT64_MAX - 1 <= value <= _INT64_MAX else None


def _parse_uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


class FakeGoDeploy(AsyncClosing):
    """An embedded go deploy Order API server for tests, demos and benchmarks.

    It listens on 127.0.0.1 only and serves the eight operations of openapi/orders-v2.yaml the
    way the vendor's reference shows them, quirks included (see `godeploy.testing`):

        async with FakeGoDeploy(seed=7) as fake:
            ...  # talk to fake.url with fake.token and fake.business_unit_id

    Data is deterministic for a seed. A second business unit (`other_business_unit_id`) has
    its own products and orders; the token may read both, and reaching one unit's order or
    product through the other is a 404. Any other business unit id is a 403.

    Args:
        seed: makes ids, names, prices, orders, tokens and fault draws repeatable.
        product_count: products of the main business unit (the reference shows 287).
        order_count: stored orders of the main business unit (the reference shows 4150).
            Orders are derived on demand, so 100,000 start as fast as 10.
        port: the loopback port to listen on; 0 picks a free one.
        log_size: how many requests `requests` keeps in full; counters are never dropped.
        rate_limit: the API's cap, in requests per second (None: no cap). A request beyond
            `rate_limit` admitted within the last second gets 429 with `Retry-After` (whole
            seconds until one would be admitted) before anything else is checked. Whatever
            the cap, `requests_per_window` and `busiest_window()` count what arrives.

    Attributes:
        faults: the fault plan; see `Faults` and `Fault`.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        product_count: int = 287,
        order_count: int = 4150,
        port: int = 0,
        log_size: int = 10_000,
        rate_limit: int | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535, got {port}")
        if rate_limit is not None and (isinstance(rate_limit, bool) or rate_limit < 1):
            raise ValueError(f"rate_limit must be at least 1 request per second, got {rate_limit}")
        self._cap = None if rate_limit is None else RateCap(rate_limit)
        self._windows = RateWindows(time.monotonic())
        self._seed = seed
        self._store = Store(seed=seed, product_count=product_count, order_count=order_count)
        self.faults = Faults(seed)
        self._log = RequestLog(log_size)
        self._port = port
        self._secret = hashlib.sha256(f"godeploy-fake/{seed}/jwt".encode()).digest()
        self._token_serial = 0
        self._token = self._issue_token()
        self._trace_rng = random.Random(f"godeploy-fake/{seed}/trace")
        self._request_id_rng = random.Random(f"godeploy-fake/{seed}/request-id")
        self._last_page: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._url: URL | None = None
        self._closed = False
        self._operations: dict[str, _Operation] = {
            "listProducts": self._list_products,
            "getProduct": self._get_product,
            "listFeatureSets": self._list_feature_sets,
            "getFeatureSet": self._get_feature_set,
            "listOrders": self._list_orders,
            "getOrder": self._get_order,
            "createOrder": self._create_order,
            "listOrderItems": self._list_order_items,
        }

    def __repr__(self) -> str:
        where = self._url if self._url is not None else "not started"
        return f"<FakeGoDeploy seed={self._seed} {where}>"

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening on 127.0.0.1 (`port`, or a free one).

        Raises:
            RuntimeError: it is already running, or was closed (a fake runs once).
        """
        if self._closed:
            raise RuntimeError("this FakeGoDeploy was closed; create a new one")
        if self._runner is not None:
            raise RuntimeError("this FakeGoDeploy is already running")
        app = web.Application()
        resources: dict[str, web.Resource] = {}
        for route, (method, path) in ROUTES.items():
            if path not in resources:
                resources[path] = app.router.add_resource(path)
            resources[path].add_route(method, self._endpoint(route))
        for path, resource in resources.items():
            allowed = ", ".join(sorted(m for m, p in ROUTES.values() if p == path))
            resource.add_route("*", functools.partial(self._method_not_allowed, allowed))
        app.router.add_route("*", "/{tail:.*}", self._no_such_path)
        # Cancelling handlers when the client goes away ends stalls at once; a short shutdown
        # timeout keeps aclose() quick even with requests in flight.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, _HOST, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._windows.clear(time.monotonic())
        host, port = runner.addresses[0][:2]
        self._url = URL.build(scheme="http", host=host, port=port)

    async def aclose(self) -> None:
        """Stop listening and drop open connections. Calling it again does nothing."""
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    @contextmanager
    def in_thread(self) -> Iterator[Self]:
        """Serve from a thread of its own, with its own event loop, for a `with` block.

        For sync callers, and for tests whose own loop is blocked while a request is made:
        a sync test client (Starlette's or FastAPI's `TestClient` runs the app on another
        thread's loop and waits for it) would hang on a fake served by the test's loop.

            with FakeGoDeploy(seed=7).in_thread() as fake:
                urllib.request.urlopen(...)  # or a TestClient of an app that uses fake.url

        The fake's methods (`count()`, `requests`, `faults.add(...)`) may be called from the
        test's thread meanwhile. The fake is closed, and its thread ended, on the way out.

        Yields:
            This fake, listening (`url` is set).

        Raises:
            RuntimeError: it is already running, or was closed.
            OSError: the port is taken.
        """
        ready = threading.Event()
        failure: list[BaseException] = []
        stop: list[Callable[[], object]] = []

        async def serve() -> None:
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            try:
                await self.start()
            except BaseException as error:
                failure.append(error)
                raise
            finally:
                stop.append(lambda: loop.call_soon_threadsafe(stopping.set))
                ready.set()
            try:
                await stopping.wait()
            finally:
                await self.aclose()

        def run() -> None:
            # The start's error is re-raised in the caller's thread, not printed by this one.
            with contextlib.suppress(BaseException):
                asyncio.run(serve())

        thread = threading.Thread(target=run, name="FakeGoDeploy", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join(_THREAD_STOP_TIMEOUT)
            raise failure[0]
        try:
            yield self
        finally:
            stop[0]()
            thread.join(_THREAD_STOP_TIMEOUT)

    @property
    def environment(self) -> dict[str, str]:
        """`GODEPLOY_TOKEN`, `GODEPLOY_BUSINESS_UNIT_ID` and `GODEPLOY_BASE_URL` for this fake.

        Strings, as `os.environ` and `monkeypatch.setenv` take them: the variables the CLI
        (and a client made with no arguments) read.

            for name, value in fake.environment.items():
                monkeypatch.setenv(name, value)
        """
        values = (self.token, str(self.business_unit_id), str(self.url))
        return dict(zip(_ENVIRONMENT_VARIABLES, values, strict=True))

    @property
    def url(self) -> URL:
        """The base URL, `http://127.0.0.1:PORT` (no trailing path)."""
        if self._url is None:
            raise RuntimeError("the fake is not running: use `async with` or await start()")
        return self._url

    @property
    def running(self) -> bool:
        """Whether it is listening."""
        return self._runner is not None

    # -- identity -------------------------------------------------------------------------------

    @property
    def business_unit_id(self) -> UUID:
        """The main business unit, the one to test with."""
        return self._store.main.id

    @property
    def other_business_unit_id(self) -> UUID:
        """A second business unit with its own products and orders."""
        return self._store.other.id

    @property
    def token(self) -> str:
        """The one bearer token the fake accepts now (a JWT, HS256, for the API user)."""
        return self._token

    @token.setter
    def token(self, value: str) -> None:
        if not value or value != value.strip():
            raise ValueError("a token must be non-empty text without surrounding spaces")
        self._token = value

    def rotate_token(self) -> str:
        """Issue a new token and return it; the old one gets 401 from now on."""
        self._token = self._issue_token()
        return self._token

    def _issue_token(self) -> str:
        self._token_serial += 1
        user = self._store.api_user
        issued = 1_700_000_000 + (self._seed % 10_000) * 60 + self._token_serial
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "iss": "https://lms.godeploy.it",
            "aud": "go-deploy-order-api",
            "sub": str(user.id),
            "name": user.name,
            "email": user.user_name,
            "bu": [str(unit_id) for unit_id in self._store.units],
            "jti": f"{self._seed}-{self._token_serial}",
            "iat": issued,
            "exp": issued + 365 * 24 * 3600,
        }
        signing_input = f"{_b64(dumps(header).encode())}.{_b64(dumps(claims).encode())}"
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    # -- observation ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The last `log_size` requests received, oldest first (a copy of the list).

        Requests are logged on arrival; a record's `status` is None until it is answered.
        """
        return self._log.records

    def count(self, route: str | None = None, *, status: int | None = None) -> int:
        """How many requests arrived, or were answered with `status`.

        Counts outlive the bounded log; `reset_log()` zeroes them.

        Args:
            route: an operationId (`getOrder`); None counts every request, including those
                to paths or with methods the API does not have.
            status: count only the requests answered with this status (a request still in
                flight, or cut off before its answer, has none yet).
        """
        return self._log.count(route, status=status)

    def reset_log(self) -> None:
        """Forget the request log, the counters and the windows (stored orders stay)."""
        self._log.clear()
        self._windows.clear(time.monotonic())

    @property
    def rate_limit(self) -> int | None:
        """The cap in requests per second, or None."""
        return None if self._cap is None else self._cap.limit

    @property
    def requests_per_window(self) -> list[int]:
        """Requests that arrived in each 1-second window since the start (or `reset_log()`).

        Index 0 is the first second. Refused (429) requests count: the API saw them.
        """
        return self._windows.windows

    def busiest_window(self) -> int:
        """The most requests that arrived within any one second (a sliding window).

        At least `max(requests_per_window)`: a burst across two fixed windows counts whole.
        """
        return self._windows.busiest

    @property
    def orders_created(self) -> int:
        """How many orders POST /api/v2/orders stored, faulted answers included."""
        return len(self._store.created_ids)

    @property
    def created_orders(self) -> list[dict[str, Any]]:
        """The orders POST /api/v2/orders stored, oldest first, as the list shows them.

        JSON data as the API sends it (camelCase keys, exact decimals), never decoded through
        the SDK: tests compare the SDK's models with the fake's own truth.
        """
        return [
            loads(self._store.created_order(order_id).list_json())
            for order_id in self._store.created_ids
        ]

    def order_count(self, business_unit_id: UUID | None = None) -> int:
        """How many orders a business unit has now, stored and created.

        Args:
            business_unit_id: `business_unit_id` (the default) or `other_business_unit_id`.
        """
        return len(self._unit(business_unit_id).order_ids)

    def order_ids(self, business_unit_id: UUID | None = None) -> list[int]:
        """A business unit's order ids, ascending, as GET /api/v2/orders pages them.

        Args:
            business_unit_id: `business_unit_id` (the default) or `other_business_unit_id`.
        """
        return list(self._unit(business_unit_id).order_ids)

    def order(self, order_id: int) -> dict[str, Any] | None:
        """An order of either business unit, as the order list shows it.

        Args:
            order_id: the order's id.

        Returns:
            The order's JSON data (as `orders.list` receives it), or None when there is no
            such order.
        """
        unit = self._store.unit_of_order(order_id)
        record = None if unit is None else self._store.order(unit, order_id)
        return None if record is None else loads(record.list_json())

    def order_items(self, order_id: int) -> list[dict[str, Any]]:
        """An order's items, as GET /api/v2/orders/{orderId}/items lists them.

        Args:
            order_id: the order's id (of either business unit).

        Returns:
            The items' JSON data; empty when there is no such order.
        """
        unit = self._store.unit_of_order(order_id)
        record = None if unit is None else self._store.order(unit, order_id)
        if record is None:
            return []
        return [loads(item) for item in record.item_jsons()]

    def products(self, business_unit_id: UUID | str | None = None) -> list[dict[str, Any]]:
        """A business unit's products, in list order, as JSON data.

        Args:
            business_unit_id: `business_unit_id` (the default) or `other_business_unit_id`.
        """
        return [loads(product.json) for product in self._unit(business_unit_id).products]

    def feature_sets(self, product_id: UUID | str) -> list[dict[str, Any]]:
        """A product's feature sets, as JSON data (prices as exact decimals).

        Args:
            product_id: a product of either business unit (a UUID or its string, as
                `products()` gives it).

        Returns:
            Its feature sets in list order; empty for an unknown product.
        """
        wanted = product_id if isinstance(product_id, UUID) else UUID(product_id)
        for unit in self._store.units.values():
            product = unit.product_by_id.get(wanted)
            if product is not None:
                return [loads(fs.json) for fs in product.feature_sets]
        return []

    def _unit(self, business_unit_id: UUID | str | None) -> UnitRecord:
        if business_unit_id is None:
            return self._store.main
        if isinstance(business_unit_id, str):
            business_unit_id = UUID(business_unit_id)
        unit = self._store.units.get(business_unit_id)
        if unit is None:
            raise KeyError(f"no business unit {business_unit_id}")
        return unit

    # -- request pipeline -----------------------------------------------------------------------

    def _endpoint(self, route: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        operation = self._operations[route]

        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, route, operation)

        return endpoint

    async def _serve(
        self, request: web.Request, route: str, operation: _Operation
    ) -> web.StreamResponse:
        record = self._receive(request, route)
        if self._cap is not None:
            wait = self._cap.admit(time.monotonic())
            if wait > 0:
                reply = self._rate_limited(wait)
                self._log.answered(record, reply.status)
                return await self._send(request, self._stamped(reply, record), None)
        delay = record.held = self.faults._delay(route)
        if delay > 0:
            await asyncio.sleep(delay)
        fault = self.faults._draw(route)
        if fault is not None:
            record.fault = fault.label
        try:
            # Read in full whatever the fault: the vendor's server takes the whole request too.
            body = record.body = await request.read() if request.body_exists else b""
        except web.HTTPRequestEntityTooLarge as error:
            reply = self._problem(413, detail=error.text)
        else:
            reply = await self._reply(request, record, route, operation, fault, body)
        if fault is not None and fault.kind is FaultKind.DROP:
            # No answer is sent; one stored before the drop is logged as the route gave it.
            if fault.after_handler:
                self._log.answered(record, reply.status)
            return self._drop(request)
        self._log.answered(record, reply.status)
        return await self._send(request, self._stamped(reply, record), fault)

    def _stamped(self, reply: _Reply, record: RecordedRequest) -> _Reply:
        """The reply with the request's id in `X-Request-Id`, as APIs behind a gateway send."""
        record.request_id = f"{self._request_id_rng.getrandbits(128):032x}"
        reply.headers = {**(reply.headers or {}), "X-Request-Id": record.request_id}
        return reply

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Close the connection at once (RST): the client gets no response at all."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return web.Response(status=204)  # never sent: the connection is gone

    async def _reply(
        self,
        request: web.Request,
        record: RecordedRequest,
        route: str,
        operation: _Operation,
        fault: Fault | None,
        body: bytes,
    ) -> _Reply:
        """The answer to send: the route's, a fault's, or the route's spoiled by a fault."""
        if fault is None:
            return await self._answer(request, route, operation, None, body)
        if not fault.runs_handler:
            if fault.kind is not FaultKind.STALL:
                return self._fault_reply(fault)
            await self._stall(record, fault)
            return await self._answer(request, route, operation, None, body)
        reply = await self._answer(request, route, operation, fault, body)
        if fault.after_handler:
            if fault.kind is FaultKind.DROP:
                return reply  # what the route did; `_serve` drops the connection instead
            if fault.kind is not FaultKind.STALL:
                return self._fault_reply(fault)
            await self._stall(record, fault)
        return reply

    @staticmethod
    async def _stall(record: RecordedRequest, fault: Fault) -> None:
        record.held += fault.seconds
        await asyncio.sleep(fault.seconds)

    def _receive(self, request: web.Request, route: str | None) -> RecordedRequest:
        # Case-insensitive, as HTTP header names are: `headers["x-request-id"]` finds it.
        headers: CIMultiDict[str] = CIMultiDict()
        authorization = None
        for name, value in request.headers.items():
            if name.lower() == "authorization":
                authorization = value
                # Keep the scheme, never the credentials: logs get printed.
                value = f"{value.partition(' ')[0]} ***"
            headers.add(name, value)
        query: dict[str, str] = {}
        for name, value in request.query.items():
            query.setdefault(name, value)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=query,
            headers=CIMultiDictProxy(headers),
            route=route,
            authenticated=authorization is not None and self._token_matches(authorization),
        )
        self._log.received(record)
        self._windows.arrived(time.monotonic())
        return record

    def _rate_limited(self, wait: float) -> _Reply:
        assert self._cap is not None
        # Retry-After carries whole seconds (RFC 9110): round up, so waiting it always works.
        retry_after = max(1, math.ceil(wait))
        return self._problem(
            429,
            detail=f"Rate limit exceeded: at most {self._cap.limit} requests per second.",
            headers={"Retry-After": str(retry_after)},
        )

    def _token_matches(self, authorization: str) -> bool:
        scheme, _, credentials = authorization.strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self._token.encode()
        )

    async def _answer(
        self,
        request: web.Request,
        route: str,
        operation: _Operation,
        fault: Fault | None,
        body: bytes,
    ) -> _Reply:
        admitted = self._admit(request, route, fault, body)
        if isinstance(admitted, _Reply):
            return admitted
        return await operation(request, admitted)

    def _admit(
        self, request: web.Request, route: str, fault: Fault | None, body: bytes
    ) -> _Reply | _Call:
        """Check what ASP.NET checks before an action runs: auth, Accept, then binding."""
        authorization = request.headers.get("Authorization")
        if authorization is None:
            return self._problem(
                401,
                detail="The request has no bearer token.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not self._token_matches(authorization):
            return self._problem(
                401,
                detail="The bearer token is invalid or has expired.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        accept = request.headers.get("Accept")
        if accept is not None and not _accepts_json(accept):
            return self._problem(406, detail=f"Cannot produce a response matching '{accept}'.")

        errors: dict[str, list[str]] = {}
        query = request.query
        unit_id: UUID | None = None
        unit_text = query.get("businessUnitId")
        if not unit_text:
            errors["businessUnitId"] = ["The businessUnitId field is required."]
        else:
            unit_id = _parse_uuid(unit_text)
            if unit_id is None:
                errors["businessUnitId"] = [
                    f"The value '{unit_text}' is not valid for businessUnitId."
                ]
        operation = operation_of(route)
        page, page_size = 1, 10
        if operation.paginated:
            page = self._positive_query(query, "_page", 1, errors)
            page_size = min(self._positive_query(query, "_pageSize", 10, errors), MAX_PAGE_SIZE)
        path = self._path_values(operation.path_params, request.match_info, errors)
        if operation.has_body:
            if not is_json_media_type(request.headers.get("Content-Type")):
                if errors:
                    return self._problem(400, errors=errors)
                return self._problem(
                    415, detail="The request body must be JSON (Content-Type: application/json)."
                )
            if errors:
                # Model binding reports the query's and the body's errors in one 400. Without
                # a business unit, feature set ids can only be checked for shape.
                body_errors, _ = validate_create(body, None)
                errors.update(body_errors)
        if errors:
            return self._problem(400, errors=errors)
        assert unit_id is not None
        unit = self._store.units.get(unit_id)
        if unit is None:
            return self._problem(403, detail=f"The token has no access to business unit {unit_id}.")
        return _Call(
            route=route,
            unit=unit,
            page=page,
            page_size=page_size,
            product_id=path.get("productId"),
            feature_set_id=path.get("featureSetId"),
            order_id=path.get("orderId"),
            fault=fault,
            body=body,
        )

    @staticmethod
    def _positive_query(
        query: Mapping[str, str], name: str, default: int, errors: dict[str, list[str]]
    ) -> int:
        text = query.get(name)
        if text is None:
            return default
        value = _parse_int(text)
        if value is None:
            errors[name] = [f"The value '{text}' is not valid for {name}."]
            return default
        if value < 1:
            errors[name] = [f"The field {name} must be at least 1."]
            return default
        return value

    @staticmethod
    def _path_values(
        params: tuple[tuple[str, str], ...],
        match: Mapping[str, str],
        errors: dict[str, list[str]],
    ) -> dict[str, Any]:
        """Bind the path parameters by their spec format (`uuid`, `int64`); None if invalid."""
        values: dict[str, Any] = {}
        for name, kind in params:
            text = match[name]
            value = _parse_uuid(text) if kind == "uuid" else _parse_int64(text)
            if value is None:
                errors[name] = [f"The value '{text}' is not valid."]
            values[name] = value
        return values

    def _trace_id(self) -> str:
        bits = self._trace_rng.getrandbits(192)
        return f"00-{bits >> 64:032x}-{bits & (2**64 - 1):016x}-00"

    def _problem(
        self,
        status: int,
        *,
        detail: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Reply:
        body = problem(status, trace_id=self._trace_id(), detail=detail, errors=errors)
        return _Reply(status, body, PROBLEM_TYPE, headers)

    def _fault_reply(self, fault: Fault) -> _Reply:
        code = fault.code or 500
        if fault.kind is FaultKind.HTML:
            return _Reply(code, html_page(code), HTML_TYPE)
        if fault.kind is FaultKind.REDIRECT:
            return _Reply(code, b"", None, {"Location": fault.url or "/"})
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        return self._problem(code, detail="Injected by FakeGoDeploy.", headers=headers)

    async def _send(
        self, request: web.Request, reply: _Reply, fault: Fault | None
    ) -> web.StreamResponse:
        body = reply.body
        kind = None if fault is None else fault.kind
        if kind is FaultKind.RESET:
            assert fault is not None
            return await self._reset(request, reply, fault.keep_bytes)
        if kind is FaultKind.TRUNCATED:
            assert fault is not None
            keep = len(body) // 2 if fault.keep_bytes is None else fault.keep_bytes
            body = body[:keep]
        elif kind is FaultKind.MALFORMED:
            body = b"{," + (body[1:] if body.startswith(b"{") else body)
        return web.Response(status=reply.status, body=body, headers=reply.header_dict())

    async def _reset(
        self, request: web.Request, reply: _Reply, keep_bytes: int | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers=reply.header_dict())
        response.content_length = len(reply.body)
        await response.prepare(request)
        keep = len(reply.body) // 2 if keep_bytes is None else keep_bytes
        await response.write(reply.body[:keep])
        transport = request.transport
        if transport is not None:
            # Let the headers and the partial body reach the client, then reset (RST, not
            # FIN): SO_LINGER 0 makes the close abortive.
            for _ in range(100):
                if transport.get_write_buffer_size() == 0:
                    break
                await asyncio.sleep(0.001)
            await asyncio.sleep(_RESET_PAUSE)
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return response

    # -- routing errors ---------------------------------------------------------------------

    async def _method_not_allowed(self, allowed: str, request: web.Request) -> web.StreamResponse:
        record = self._receive(request, None)
        reply = self._problem(
            405,
            detail=f"{request.method} is not allowed on {request.path}; use {allowed}.",
            headers={"Allow": allowed},
        )
        self._log.answered(record, reply.status)
        return web.Response(status=reply.status, body=reply.body, headers=reply.header_dict())

    async def _no_such_path(self, request: web.Request) -> web.StreamResponse:
        record = self._receive(request, None)
        reply = self._problem(404, detail=f"The API has no path {request.path}.")
        self._log.answered(record, reply.status)
        return web.Response(status=reply.status, body=reply.body, headers=reply.header_dict())

    # -- operations ---------------------------------------------------------------------------

    def _page(self, call: _Call, path: str, total: int, items: Callable[[int, int], Any]) -> _Reply:
        """A page in the reference's envelope, `_pageInfo` computed as X.PagedList does.

        X.PagedList (whose ten property names `_pageInfo` carries) counts a page as "good" when
        1 <= pageNumber <= pageCount. A page past the end, or any page of an empty result, is
        not: it has no items, every has*/is* flag is false and first/lastItemOnPage are 0.
        """
        page, size, fault = call.page, call.page_size, call.fault
        if fault is not None and fault.kind is FaultKind.SERVE_PAGE and fault.page is not None:
            page = fault.page
        elif fault is not None and fault.kind is FaultKind.REPEAT_PAGE:
            page = self._last_page.get(call.route, 1)
        self._last_page[call.route] = page
        page_count = -(-total // size)
        good = 1 <= page <= page_count
        first = (page - 1) * size + 1
        last = min(first + size - 1, total)
        info = {
            "pageCount": page_count,
            "totalItemCount": total,
            "pageNumber": page,
            "pageSize": size,
            "hasPreviousPage": good and page > 1,
            "hasNextPage": good and page < page_count,
            "isFirstPage": good and page == 1,
            "isLastPage": good and page == page_count,
            "firstItemOnPage": first if good else 0,
            "lastItemOnPage": last if good else 0,
        }
        fragments: list[bytes] = list(items(first - 1, last)) if good else []
        links: dict[str, str] = {}
        if fault is not None and fault.kind is FaultKind.NEXT_LINK:
            if fault.url is not None:
                links["next"] = fault.url
        elif info["hasNextPage"]:
            # QUIRK of the reference: the link keeps only _page; the client must carry
            # businessUnitId and _pageSize over itself.
            links["next"] = f"{path}?_page={page + 1}"
        body = b"".join(
            (
                b'{"items":[',
                b",".join(fragments),
                b'],"_pageInfo":',
                dumps(info).encode(),
                b',"_links":',
                dumps(links).encode(),
                b"}",
            )
        )
        return _Reply(200, body)

    def _not_found(self, what: str) -> _Reply:
        return self._problem(404, detail=f"{what} was not found in this business unit.")

    async def _list_products(self, request: web.Request, call: _Call) -> _Reply:
        products = call.unit.products
        return self._page(
            call,
            request.path,
            len(products),
            lambda start, stop: (p.json for p in products[start:stop]),
        )

    async def _get_product(self, request: web.Request, call: _Call) -> _Reply:
        assert call.product_id is not None
        product = call.unit.product_by_id.get(call.product_id)
        if product is None:
            return self._not_found(f"Product {call.product_id}")
        return _Reply(200, product.json)

    async def _list_feature_sets(self, request: web.Request, call: _Call) -> _Reply:
        assert call.product_id is not None
        product = call.unit.product_by_id.get(call.product_id)
        if product is None:
            return self._not_found(f"Product {call.product_id}")
        sets = product.feature_sets
        return self._page(
            call,
            request.path,
            len(sets),
            lambda start, stop: (fs.json for fs in sets[start:stop]),
        )

    async def _get_feature_set(self, request: web.Request, call: _Call) -> _Reply:
        assert call.product_id is not None
        assert call.feature_set_id is not None
        product = call.unit.product_by_id.get(call.product_id)
        if product is None:
            return self._not_found(f"Product {call.product_id}")
        feature_set = product.feature_set(call.feature_set_id)
        if feature_set is None:
            return self._not_found(f"Feature set {call.feature_set_id} of this product")
        return _Reply(200, feature_set.json)

    async def _list_orders(self, request: web.Request, call: _Call) -> _Reply:
        unit, store = call.unit, self._store
        return self._page(
            call,
            request.path,
            len(unit.order_ids),
            lambda start, stop: (o.list_json() for o in store.orders(unit, start, stop)),
        )

    async def _get_order(self, request: web.Request, call: _Call) -> _Reply:
        assert call.order_id is not None
        record = self._store.order(call.unit, call.order_id)
        if record is None:
            return self._not_found(f"Order {call.order_id}")
        return _Reply(200, record.get_json())

    async def _list_order_items(self, request: web.Request, call: _Call) -> _Reply:
        assert call.order_id is not None
        record = self._store.order(call.unit, call.order_id)
        if record is None:
            return self._not_found(f"Order {call.order_id}")
        items = record.item_jsons()
        return self._page(call, request.path, len(items), lambda start, stop: items[start:stop])

    async def _create_order(self, request: web.Request, call: _Call) -> _Reply:
        errors, valid = validate_create(call.body, call.unit)
        if valid is None:
            return self._problem(400, errors=errors)
        record = self._store.create_order(
            call.unit,
            reference=valid.reference,
            contact_email=valid.contact_email,
            items=valid.items,
        )
        # The status the spec lists first for createOrder (201).
        return _Reply(operation_of(call.route).success[0], record.create_json())
