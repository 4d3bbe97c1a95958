"""Faults the fake can inject: what goes wrong (`Fault`), and when (`Faults`, the plan).

A `Fault` says what a response suffers; `fake.faults` holds the plan of which calls suffer it:

    fake.faults.add(Fault.status(503), route="getOrder", times=2)   # next 2 getOrder calls
    fake.faults.add(Fault.status(429, retry_after=1), rate=0.05)    # ~5% of all calls
    fake.faults.script("listOrders", [None, Fault.reset(), None])   # call by call
    fake.faults.add(Fault.drop(after_handler=True), route="createOrder", rate=0.1)  # stored, lost
    fake.faults.latency(fixed=0.02, jitter=0.03)                    # every call, 20-50 ms
    fake.faults.clear()

Everything random (rates, jitter) draws from generators seeded with the fake's seed, so a run
with the same seed and the same sequence of calls injects the same faults.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from godeploy.testing._routes import LIST_ROUTES, RouteName, check_route

__all__ = ["Fault", "FaultKind", "FaultRule", "Faults"]

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class FaultKind(StrEnum):
    """What a fault does to a response."""

    STATUS = "status"
    HTML = "html"
    RESET = "reset"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    STALL = "stall"
    NEXT_LINK = "next_link"
    SERVE_PAGE = "serve_page"
    REPEAT_PAGE = "repeat_page"
    REDIRECT = "redirect"
    DROP = "drop"


_BODY_KINDS = frozenset({FaultKind.RESET, FaultKind.TRUNCATED, FaultKind.MALFORMED})
_PAGE_KINDS = frozenset({FaultKind.NEXT_LINK, FaultKind.SERVE_PAGE, FaultKind.REPEAT_PAGE})


@dataclass(frozen=True, slots=True)
class Fault:
    """One thing that goes wrong with a response. Build it with a class method.

    Faults strike *before* the route runs (nothing happens: no order is stored) unless they say
    otherwise. `after_handler=True` lets the route run first and then spoils its answer: on
    createOrder the order IS stored, yet the client sees a failure, the ambiguous POST. Body
    faults (`reset`, `truncated`, `malformed`) and pagination faults (`next_link`,
    `serve_page`, `repeat_page`) always work on the route's real answer.

    Attributes:
        kind: what the fault does.
        code: the HTTP status it answers with (status, html and redirect faults).
        retry_after: the `Retry-After` header value, seconds or an HTTP date.
        after_handler: whether the route runs (and stores) before the fault strikes.
        seconds: how long a stall lasts.
        keep_bytes: how much of the body is sent before a reset or truncation (None: half).
        url: the `_links.next` or `Location` to answer with.
        page: the page number a `serve_page` fault answers with.
    """

    kind: FaultKind
    code: int | None = None
    retry_after: int | str | None = None
    after_handler: bool = False
    seconds: float = 0.0
    keep_bytes: int | None = None
    url: str | None = None
    page: int | None = None

    @classmethod
    def status(
        cls, code: int, *, retry_after: int | str | None = None, after_handler: bool = False
    ) -> Fault:
        """Answer with an error status and a problem details body.

        Args:
            code: 400-599, e.g. 429, 500, 502, 503, 504.
            retry_after: if given, sent as `Retry-After` (seconds, or an HTTP date string).
            after_handler: run the route first (createOrder stores the order), then fail.
        """
        if not 400 <= code <= 599:
            raise ValueError(f"a status fault needs an error status (400-599), got {code}")
        if isinstance(retry_after, int) and retry_after < 0:
            raise ValueError("retry_after must not be negative")
        return cls(
            FaultKind.STATUS, code=code, retry_after=retry_after, after_handler=after_handler
        )

    @classmethod
    def html(cls, code: int = 502, *, after_handler: bool = False) -> Fault:
        """Answer with a reverse proxy's HTML error page (`text/html`), 502 by default.

        Args:
            code: 400-599.
            after_handler: run the route first (createOrder stores the order), then fail.
        """
        if not 400 <= code <= 599:
            raise ValueError(f"an html fault needs an error status (400-599), got {code}")
        return cls(FaultKind.HTML, code=code, after_handler=after_handler)

    @classmethod
    def reset(cls, *, keep_bytes: int | None = None) -> Fault:
        """Send the status line, the headers and part of the body, then reset the connection.

        The route runs first: a createOrder that is reset has stored its order.

        Args:
            keep_bytes: body bytes sent before the reset (None: half of the body).
        """
        return cls(FaultKind.RESET, keep_bytes=_non_negative(keep_bytes))

    @classmethod
    def truncated(cls, *, keep_bytes: int | None = None) -> Fault:
        """Send a cut JSON body whose `Content-Length` matches the cut: valid HTTP, bad JSON.

        Args:
            keep_bytes: body bytes kept (None: half of the body).
        """
        return cls(FaultKind.TRUNCATED, keep_bytes=_non_negative(keep_bytes))

    @classmethod
    def malformed(cls) -> Fault:
        """Send the real status and body with a JSON syntax error near its start."""
        return cls(FaultKind.MALFORMED)

    @classmethod
    def stall(cls, seconds: float, *, after_handler: bool = False) -> Fault:
        """Wait before answering normally (if the client still waits).

        Args:
            seconds: how long to wait; make it longer than the client's timeout to time it out.
            after_handler: run the route first (createOrder stores the order), then wait.
        """
        if seconds <= 0:
            raise ValueError("a stall needs a positive number of seconds")
        return cls(FaultKind.STALL, seconds=seconds, after_handler=after_handler)

    @classmethod
    def next_link(cls, url: str | None) -> Fault:
        """Answer a list route's real page, but with this `_links.next` (None: no next link).

        Args:
            url: any text, e.g. an absolute URL on another origin, or a link back to page 1.
        """
        return cls(FaultKind.NEXT_LINK, url=url)

    @classmethod
    def serve_page(cls, page: int) -> Fault:
        """Answer a list route with this page, whatever page was asked for.

        Args:
            page: 1-based page number to answer with (its `_pageInfo` says so).
        """
        if page < 1:
            raise ValueError("pages are numbered from 1")
        return cls(FaultKind.SERVE_PAGE, page=page)

    @classmethod
    def repeat_page(cls) -> Fault:
        """Answer a list route with the page it last answered for the same path (else page 1)."""
        return cls(FaultKind.REPEAT_PAGE)

    @classmethod
    def redirect(cls, location: str, *, code: int = 307) -> Fault:
        """Answer with a redirect to `location` (any URL, e.g. on another origin).

        Args:
            location: the `Location` header.
            code: 301, 302, 303, 307 (default) or 308.
        """
        if code not in _REDIRECT_CODES:
            raise ValueError(f"a redirect needs one of {sorted(_REDIRECT_CODES)}, got {code}")
        return cls(FaultKind.REDIRECT, code=code, url=location)

    @classmethod
    def drop(cls, *, after_handler: bool = False) -> Fault:
        """Close the connection without answering: not a byte of a response is sent.

        Args:
            after_handler: run the route first (createOrder stores the order), then drop: the
                client cannot tell whether the order exists.
        """
        return cls(FaultKind.DROP, after_handler=after_handler)

    @property
    def runs_handler(self) -> bool:
        """Whether the route runs before the fault strikes."""
        return self.after_handler or self.kind in _BODY_KINDS or self.kind in _PAGE_KINDS

    @property
    def is_pagination(self) -> bool:
        """Whether the fault only makes sense on a list route."""
        return self.kind in _PAGE_KINDS

    @property
    def label(self) -> str:
        """A short description, as the request log shows it (`status(503)`)."""
        arguments: list[str] = []
        if self.code is not None:
            arguments.append(str(self.code))
        if self.kind is FaultKind.STATUS and self.retry_after is not None:
            arguments.append(f"retry_after={self.retry_after}")
        if self.kind is FaultKind.STALL:
            arguments.append(f"{self.seconds:g}s")
        if self.keep_bytes is not None:
            arguments.append(f"keep_bytes={self.keep_bytes}")
        if self.kind in (FaultKind.NEXT_LINK, FaultKind.REDIRECT):
            arguments.append(repr(self.url))
        if self.page is not None:
            arguments.append(str(self.page))
        if self.after_handler:
            arguments.append("after_handler")
        return f"{self.kind.value}({', '.join(arguments)})" if arguments else self.kind.value


def _non_negative(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise ValueError("keep_bytes must not be negative")
    return value


class FaultRule:
    """One entry of the plan, as `Faults.add` or `Faults.script` returned it.

    Attributes:
        routes: the operationIds it watches (None: every route).
        seen: how many calls it has watched.
        fired: how many calls it has spoiled.
    """

    def __init__(
        self,
        *,
        plan: deque[Fault | None],
        repeat: bool,
        routes: frozenset[str] | None,
        times: int | None,
        rate: float,
        skip: int,
        rng: random.Random,
    ) -> None:
        self._plan = plan
        self._repeat = repeat
        self.routes = routes
        self._times = times
        self._rate = rate
        self._skip = skip
        self._rng = rng
        self._pagination_only = any(f is not None and f.is_pagination for f in plan)
        self.seen = 0
        self.fired = 0

    def __repr__(self) -> str:
        faults = ", ".join("None" if f is None else f.label for f in self._plan)
        routes = "*" if self.routes is None else ",".join(sorted(self.routes))
        return f"FaultRule([{faults}], routes={routes}, fired={self.fired})"

    @property
    def remaining(self) -> int | None:
        """Calls it may still spoil (None: no limit)."""
        if not self._repeat:
            return len(self._plan)
        return None if self._times is None else self._times - self.fired

    @property
    def exhausted(self) -> bool:
        """Whether it is done; an exhausted rule leaves the plan."""
        remaining = self.remaining
        return remaining is not None and remaining <= 0

    def _watches(self, route: str) -> bool:
        if self.routes is not None and route not in self.routes:
            return False
        return not self._pagination_only or route in LIST_ROUTES

    def _consider(self, route: str) -> Fault | None:
        """Watch one call; return the fault to inflict on it, if any."""
        if not self._watches(route) or self.exhausted:
            return None
        self.seen += 1
        if self._skip > 0:
            self._skip -= 1
            return None
        if not self._repeat:
            fault = self._plan.popleft()
        elif self._rate >= 1.0 or self._rng.random() < self._rate:
            fault = self._plan[0]
        else:
            fault = None
        if fault is not None:
            self.fired += 1
        return fault


class Faults:
    """The fake's fault plan: which calls go wrong, and how slowly calls are answered.

    Rules are consulted in the order they were added; the first one that fires on a call
    decides its fault, so a call suffers at most one fault. A rule that has used up its
    `times` (or its script) leaves the plan.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        # Tests may plan faults from another thread than the one serving (a fake run in a
        # thread of its own); the lock keeps a rule added mid-request from being lost.
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rule_serial = 0
        self._latency: dict[str | None, tuple[float, float]] = {}
        self._jitter_rng = random.Random(f"godeploy-fake/{seed}/latency")

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules in the plan, in the order they are consulted."""
        return tuple(self._rules)

    def add(
        self,
        fault: Fault,
        *,
        route: RouteName | Iterable[RouteName] | None = None,
        times: int | None = None,
        rate: float = 1.0,
        skip: int = 0,
    ) -> FaultRule:
        """Inflict `fault` on calls of `route` (all routes when None).

        Args:
            fault: what goes wrong.
            route: an operationId of the spec (`getOrder`), several, or None for every route.
                Pagination faults only ever touch list routes.
            times: spoil at most this many calls, then leave the plan (None: no limit).
            rate: the chance that a watched call is spoiled (1.0: every one). Draws come from
                a generator seeded with the fake's seed and the rule's position in the plan.
            skip: let this many watched calls through untouched first.

        Returns:
            The rule, whose `fired` and `seen` count what it did.

        Raises:
            ValueError: an unknown route, a pagination fault on a route that is not a list,
                or a bad `times`, `rate` or `skip`.
        """
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for no limit)")
        if not 0.0 < rate <= 1.0:
            raise ValueError("rate must be in (0, 1]")
        if skip < 0:
            raise ValueError("skip must not be negative")
        return self._add_rule(
            deque([fault]), repeat=True, route=route, times=times, rate=rate, skip=skip
        )

    def script(
        self, route: RouteName | Iterable[RouteName], sequence: Iterable[Fault | None]
    ) -> FaultRule:
        """Script the next calls of `route` one by one; None lets that call through.

        `script("getOrder", [Fault.status(503), Fault.status(503)])` makes the next two
        getOrder calls answer 503, then getOrder works again.

        Args:
            route: an operationId of the spec, or several.
            sequence: one entry per call, in order.

        Returns:
            The rule; it leaves the plan when the sequence is used up.
        """
        plan = deque(sequence)
        if not plan:
            raise ValueError("a script needs at least one entry")
        return self._add_rule(plan, repeat=False, route=route, times=None, rate=1.0, skip=0)

    def _add_rule(
        self,
        plan: deque[Fault | None],
        *,
        repeat: bool,
        route: RouteName | Iterable[RouteName] | None,
        times: int | None,
        rate: float,
        skip: int,
    ) -> FaultRule:
        routes = _routes(route)
        for fault in plan:
            if fault is not None and fault.is_pagination and routes is not None:
                not_lists = sorted(routes - LIST_ROUTES)
                if not_lists:
                    raise ValueError(f"{fault.label} needs list routes, not {not_lists}")
        with self._lock:
            self._rule_serial += 1
            rule = FaultRule(
                plan=plan,
                repeat=repeat,
                routes=routes,
                times=times,
                rate=rate,
                skip=skip,
                rng=random.Random(f"godeploy-fake/{self._seed}/rule/{self._rule_serial}"),
            )
            self._rules.append(rule)
        return rule

    def latency(
        self, fixed: float = 0.0, jitter: float = 0.0, *, route: RouteName | None = None
    ) -> None:
        """Delay every answer by `fixed` seconds plus a uniform draw from [0, `jitter`).

        Args:
            fixed: seconds added to every call.
            jitter: up to this many more seconds, drawn per call (seeded).
            route: an operationId whose setting overrides the global one, or None for global.
                `latency(0, 0, route=...)` makes that route fast again.
        """
        if fixed < 0 or jitter < 0:
            raise ValueError("latency must not be negative")
        key = None if route is None else check_route(route)
        self._latency[key] = (fixed, jitter)

    def remove(self, rule: FaultRule) -> None:
        """Take a rule out of the plan (no error if it already left)."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule and all latency."""
        with self._lock:
            self._rules.clear()
            self._latency.clear()

    # -- used by the fake for each call -----------------------------------------------------

    def _delay(self, route: str) -> float:
        if not self._latency:
            return 0.0
        fixed, jitter = self._latency.get(route) or self._latency.get(None) or (0.0, 0.0)
        return fixed + (self._jitter_rng.uniform(0.0, jitter) if jitter > 0 else 0.0)

    def _draw(self, route: str) -> Fault | None:
        if not self._rules:
            return None
        chosen: Fault | None = None
        with self._lock:
            for rule in self._rules:
                fault = rule._consider(route)
                if fault is not None:
                    chosen = fault
                    break
            self._rules = [rule for rule in self._rules if not rule.exhausted]
        return chosen


def _routes(route: RouteName | Iterable[RouteName] | None) -> frozenset[str] | None:
    if route is None:
        return None
    if isinstance(route, str):
        return frozenset({check_route(route)})
    routes = frozenset(check_route(name) for name in route)
    if not routes:
        raise ValueError("route must name at least one operationId (or be None for all)")
    return routes
