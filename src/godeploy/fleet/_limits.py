"""FleetLimits: the request-rate cap, the 429 pause and the retry budget, shared through Redis.

Every client that uses the same Redis and namespace shares them, in any process on any machine.
Each admission is one Lua script on Redis's own clock (`TIME`, so the machines' clocks do not
matter): GCRA books the next slot of the fleet's rate and, in the same round trip, reads the
shared pause, gives back released slots, records this client's heartbeat and flushes its
batched refunds. When Redis cannot be reached the limits fall back to local ones (this
client's share of the fleet's rate), log one WARNING, and go back to Redis once it answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar
from urllib.parse import urlsplit

import redis.asyncio
import redis.exceptions
from attrs import define

from godeploy._config import (
    check_option,
    fraction,
    integer_at_least,
    is_callable,
    number_in,
    positive,
    word,
)
from godeploy._exceptions import ClientClosedError, RequestValidationError
from godeploy._lifecycle import AsyncClosing
from godeploy._pacing import Admission, LocalLimits, RetryBudget
from godeploy.fleet._scripts import Scripts

__all__ = ["NAMESPACE", "RUN_ID", "FleetLimits", "redact_url"]

_T = TypeVar("_T")

logger = logging.getLogger("godeploy.fleet")

_MICRO: Final = 1_000_000
_SOCKET_TIMEOUT: Final = 0.5
"""Seconds a Redis command or connect may take before Redis counts as unreachable."""
_HEARTBEAT_EVERY: Final = 1.0
"""Seconds between two heartbeats of a client (piggybacked on an admission)."""
_STALE_AFTER: Final = 5.0
"""Seconds without a heartbeat after which a client no longer counts as live."""
_PROBE_EVERY: Final = 1.0
"""While Redis is down: seconds between two attempts to reach it again."""
_REFUND_BATCH: Final = 10
"""Refunds kept locally before they are sent (or after `_REFUND_EVERY` seconds)."""
_REFUND_EVERY: Final = 1.0
_BUDGET_IDLE_MS: Final = 600_000
"""A retry budget nobody paid from or refunded to for 10 minutes starts full again."""
_RELEASES_PER_CALL: Final = 100
_DEFAULT_BUDGET: Final = 500
"""Tokens of the shared retry budget, as a local client's `RetryBudget`."""
_REDIS_ERRORS: Final = (redis.exceptions.RedisError, OSError, TimeoutError)


NAMESPACE: Final = word(100)
"""The one rule for a fleet's `namespace` (`Fleet` and `FleetLimits`): a part of Redis keys."""
RUN_ID: Final = word(200)
"""The rule for a run's id, a part of Redis keys too."""
_DEFAULT_JITTER: Final = 0.05
_REJOIN_GRACE: Final = 3 * _PROBE_EVERY
"""Seconds a client back on Redis still keeps to its local share too: every other client of
the fleet has probed Redis (and left its own local limits) by then."""


@define(frozen=True, slots=True)
class _Ticket:
    """A slot booked in Redis: its end on Redis's clock (us), and any local slot with it.

    `local` is booked in the grace after an outage, while the local limits still pace.
    """

    arrival: int
    local: Admission | None = None


def redact_url(url: str) -> str:
    """The URL with its password (and a `password=` query value) replaced by `***`."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            host = netloc.rpartition("@")[2]
            netloc = f"{user}:***@{host}"
        query = "&".join(
            f"{name}=***" if name.lower() == "password" else piece
            for piece in parts.query.split("&")
            if piece
            for name in [piece.partition("=")[0]]
        )
        # Not urlunsplit: it drops the `//` of `unix:///path`.
        shown = f"{parts.scheme}://{netloc}{parts.path}"
        return f"{shown}?{query}" if query else shown
    except ValueError:
        return "<a Redis URL that cannot be parsed>"


class FleetLimits(AsyncClosing):
    """Pacing shared by every client of a fleet, through Redis: pass it as `limits=`.

        limits = FleetLimits("redis://redis:6379/0", max_requests_per_second=200)
        async with limits, GoDeployClient(..., limits=limits) as client:
            ...

    Every client, in any process, that uses the same Redis and `namespace` shares the
    request-rate cap (GCRA on Redis's clock: at most `max_requests_per_second` on average and
    `burst` at once), the pause after a 429 with `Retry-After`, and the retry budget. Give
    every client of a namespace the same settings.

    When Redis cannot be reached, requests do not fail: the limits fall back to local ones at
    this client's share of the fleet's rate (`local_share`, or one over the live clients last
    seen in Redis), log one WARNING for the episode, and try Redis again at most once a
    second until it answers. The Redis URL's password never appears in a log, repr or error.

    The limits own their Redis connections: close them with `aclose()` (or `async with`). A
    client given `limits=` does not close them: one `FleetLimits` may serve several clients
    of one event loop.

    Arrivals at the API jitter: a request admitted on Redis's clock reaches the API a little
    early or late (scheduling, the network), so a 1-s window at the API can hold requests
    admitted over a little more than one second. The fleet books its slots at
    `max_requests_per_second / (1 + jitter)` so that any 1-s window at the API still sees at
    most `max_requests_per_second + burst` when arrivals vary by up to `jitter` seconds (the
    default 0.05 costs under 5% of the rate; pass 0 to book the cap exactly).

    Every Redis round trip of the limits ends by the call's deadline (and within 0.5 s):
    a stalled Redis costs a call at most that before it falls back. After an outage, a
    client back on Redis books no fresh burst and keeps to its local share as well for
    3 s, while other clients may still be pacing on theirs.

    A pause is known to a process as soon as one of its admissions meets it: a request that
    had already booked its slot before another process's 429 may still go, so the slippage
    is bounded by the requests in flight over the rate (12 at 200 requests/s: 60 ms).

    Args:
        redis_url: `redis://[[user]:password@]host[:port][/db]`, `rediss://...` or
            `unix:///path.sock`.
        max_requests_per_second: the fleet's request-rate cap; None shares only the 429
            pause and the retry budget.
        burst: requests the fleet may send at once after a quiet spell.
        namespace: the prefix of the Redis keys; fleets with different namespaces share
            nothing.
        retry_budget: the capacity of the shared retry budget, in tokens (default 500).
        jitter: seconds by which arrivals at the API may vary after admission, left as a
            margin under the cap (default 0.05; between 0 and 1).
        local_share: the fraction of the fleet's rate, burst and retry budget this client
            uses while Redis is down (default: one over the live clients it last saw; 1
            until it has seen Redis once).
        clock: the monotonic clock of the local pause and fallback (for tests).
    """

    def __init__(
        self,
        redis_url: str,
        *,
        max_requests_per_second: float | None,
        burst: int = 10,
        namespace: str = "godeploy",
        retry_budget: int | None = None,
        jitter: float = _DEFAULT_JITTER,
        local_share: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests_per_second is not None:
            check_option("max_requests_per_second", max_requests_per_second, positive)
        self._rate = None if max_requests_per_second is None else float(max_requests_per_second)
        self._burst: int = check_option("burst", burst, integer_at_least(1))
        self._namespace: str = check_option("namespace", namespace, NAMESPACE)
        capacity = _DEFAULT_BUDGET if retry_budget is None else retry_budget
        self._capacity: int = check_option("retry_budget", capacity, integer_at_least(1))
        self._jitter = float(check_option("jitter", jitter, number_in(0, 1)))
        if local_share is not None:
            check_option("local_share", local_share, fraction)
        self._clock = check_option("clock", clock, is_callable)
        self._url = redact_url(redis_url) if isinstance(redis_url, str) else "<not a URL>"
        self._redis = self._connect(redis_url)
        # 0: no rate cap (the pause and the retry budget are still shared). The slots are
        # booked (1 + jitter) apart: the margin that arrival jitter at the API may take.
        self._interval_us = (
            0 if self._rate is None else max(1, round(_MICRO * (1 + jitter) / self._rate))
        )
        prefix = f"{namespace}:limits:"
        # Encoded once: an admission is on every request's path.
        self._rate_keys = [
            f"{prefix}{name}".encode() for name in ("tat", "pause", "clients", "budget")
        ]
        self._admit_settings = [
            str(value).encode()
            for value in (
                self._interval_us,
                self._burst,
                int(_STALE_AFTER * _MICRO),
                self._capacity,
                _BUDGET_IDLE_MS,
            )
        ]
        self._pause_key = f"{prefix}pause"
        self._budget_key = f"{prefix}budget"
        self._scripts = Scripts(self._redis)
        self._client_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}".encode()
        self._next_heartbeat = 0.0
        self._live = 0
        self._paused_until = 0.0
        self._tokens = float(self._capacity)
        self._refunds = 0
        self._refund_due = 0.0
        self._releases: list[int] = []
        self._fallback = _Fallback(self, local_share)
        self._used = False
        self._closed = False

    def _connect(self, redis_url: str) -> redis.asyncio.Redis:
        try:
            client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
                redis_url,
                socket_timeout=_SOCKET_TIMEOUT,
                socket_connect_timeout=_SOCKET_TIMEOUT,
                health_check_interval=0,
            )
        except (ValueError, TypeError, AttributeError):
            # redis-py's message may quote the URL, password and all: give our own.
            raise RequestValidationError(
                f"redis_url is not a Redis URL: {self._url}", {"redis_url": ["a Redis URL"]}
            ) from None
        return client

    # -- introspection --------------------------------------------------------------------------

    def __repr__(self) -> str:
        tokens, capacity = self.budget()
        state = "local fallback" if self.falling_back else "redis"
        rate = None if self._rate is None else f"{self._rate:g}"
        return (
            f"<FleetLimits {self._url} namespace={self._namespace!r} "
            f"max_requests_per_second={rate} burst={self._burst} "
            f"retry_budget={tokens:g}/{capacity:g} {state}>"
        )

    @property
    def max_requests_per_second(self) -> float | None:
        """The fleet's request-rate cap (None: none)."""
        return self._rate

    @property
    def namespace(self) -> str:
        """The prefix of the Redis keys."""
        return self._namespace

    @property
    def falling_back(self) -> bool:
        """Whether Redis was unreachable at the last try, so local limits pace the requests."""
        return self._fallback.down

    @property
    def live_clients(self) -> int:
        """The clients of this namespace that Redis last said are live (0: not known yet)."""
        return self._live

    # -- the pacing protocol --------------------------------------------------------------------

    async def admit(self, max_wait: float | None) -> Admission:
        """See `godeploy.Limits.admit`: one Lua round trip, or the local fallback."""
        self._check_open()
        paused = self.paused_for()
        if paused > 0:
            return Admission(paused=paused, booked=False)
        now = self._clock()
        heartbeat = now >= self._next_heartbeat
        refund = self._take_refunds(now)
        releases = self._releases[:_RELEASES_PER_CALL]
        rejoined = self._fallback.rejoining

        async def on_redis() -> Admission:
            if heartbeat:
                self._next_heartbeat = now + _HEARTBEAT_EVERY
            del self._releases[: len(releases)]
            max_wait_us = -1 if max_wait is None else max(0, int(max_wait * _MICRO))
            booked, wait_us, paused_ms, live, arrival = await self._scripts.admit(
                self._rate_keys,
                *self._admit_settings,
                max_wait_us,
                self._client_id if heartbeat else b"",
                refund,
                b"1" if rejoined else b"",
                *releases,
            )
            if rejoined:
                self._fallback.rejoining = False
            return self._admitted(refund, booked, wait_us, paused_ms, live, arrival)

        def undo() -> None:
            self._refunds += refund
            if heartbeat:
                self._next_heartbeat = 0.0

        async def locally(local: LocalLimits) -> Admission:
            return self._local_admission(await local.admit(max_wait), local)

        admission = await self._redis_else_local(on_redis, locally, max_wait=max_wait, undo=undo)
        if admission is None:
            # The call's deadline came first: nothing booked, nothing sent.
            return Admission(wait=max_wait or 0.0, booked=False)
        return await self._also_local(admission, max_wait)

    def release(self, admission: Admission) -> None:
        """See `godeploy.Limits.release`: given back with the next admission."""
        ticket = admission.ticket
        if not admission.booked:
            return
        if isinstance(ticket, _Ticket):
            if ticket.arrival:
                self._releases.append(ticket.arrival)
            if ticket.local is not None and self._fallback.local is not None:
                self._fallback.local.release(ticket.local)
        elif isinstance(ticket, LocalLimits):
            ticket.release(admission)

    def paused_for(self) -> float:
        """See `godeploy.Limits.paused_for`: the pause this process knows of."""
        left = self._paused_until - self._clock() if self._paused_until else 0.0
        if left <= 0:
            self._paused_until = 0.0
            left = 0.0
        local = self._fallback.local
        return max(left, local.paused_for()) if local is not None else left

    async def pause(self, seconds: float) -> None:
        """See `godeploy.Limits.pause`: every client of the fleet holds."""
        self._check_open()
        if seconds <= 0:
            return
        self._paused_until = max(self._paused_until, self._clock() + seconds)

        async def on_redis() -> None:
            await self._scripts.pause([self._pause_key], math.ceil(seconds * 1000))

        await self._redis_else_local(on_redis, lambda local: local.pause(seconds))

    async def try_pay(self, cost: int) -> bool:
        """See `godeploy.Limits.try_pay`: paid from the fleet's budget."""
        self._check_open()
        refund = self._take_refunds(self._clock(), force=True)

        async def on_redis() -> bool:
            paid, tokens = await self._scripts.pay(
                [self._budget_key], cost, self._capacity, _BUDGET_IDLE_MS, refund
            )
            self._tokens = float(tokens)
            return bool(paid)

        def undo() -> None:
            self._refunds += refund

        paid = await self._redis_else_local(on_redis, lambda local: local.try_pay(cost), undo=undo)
        return bool(paid)

    def refund(self) -> None:
        """See `godeploy.Limits.refund`: batched, sent with a later round trip."""
        local = self._fallback.local
        if self.falling_back and local is not None:
            local.refund()
        elif self._tokens + self._refunds < self._capacity:
            self._refunds += 1

    def budget(self) -> tuple[float, float]:
        """See `godeploy.Limits.budget`: as Redis last said, plus unsent refunds."""
        local = self._fallback.local
        if self.falling_back and local is not None:
            return local.budget()
        tokens = min(float(self._capacity), self._tokens + self._refunds)
        return tokens, float(self._capacity)

    async def aclose(self) -> None:
        """Send the batched refunds, then close the Redis connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._refunds and not self.falling_back:
                refund, self._refunds = self._refunds, 0
                async with asyncio.timeout(_SOCKET_TIMEOUT):
                    await self._scripts.pay(
                        [self._budget_key], 0, self._capacity, _BUDGET_IDLE_MS, refund
                    )
        except _REDIS_ERRORS:
            pass  # Redis is down: the refunds go with it, as a local budget's would.
        finally:
            await self._redis.aclose()

    def __del__(self) -> None:
        if getattr(self, "_used", False) and not getattr(self, "_closed", True):
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=1)

    # -- internals ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("these FleetLimits are closed")

    async def _redis_else_local(
        self,
        on_redis: Callable[[], Awaitable[_T]],
        locally: Callable[[LocalLimits], Awaitable[_T]],
        *,
        max_wait: float | None = None,
        undo: Callable[[], None] | None = None,
    ) -> _T | None:
        """The one way to Redis: `on_redis()` if Redis is up (or a probe is due), else local.

        The round trip ends within `_SOCKET_TIMEOUT` and by `max_wait` (the time left of the
        call), connection set-up and the pool's queue included. When Redis fails (or stalls
        past `_SOCKET_TIMEOUT`) or is not tried, `undo()` takes back what the round trip would
        have taken along, and the local limits serve (the first failure of an episode warns).
        None: the call's deadline came first.
        """
        fallback = self._fallback
        local = fallback.serving()
        if local is not None:
            if undo is not None:
                undo()
            return await locally(local)
        self._used = True
        # max_wait 0 asks for a slot now or none: no deadline of its own.
        bound = _SOCKET_TIMEOUT if not max_wait else min(_SOCKET_TIMEOUT, max_wait)
        outages = fallback.outages
        try:
            async with asyncio.timeout(bound) as limit:
                result = await on_redis()
        except _REDIS_ERRORS as error:
            if undo is not None:
                undo()
            if limit.expired() and bound < _SOCKET_TIMEOUT:
                return None  # the call's time ran out, not Redis's
            return await locally(fallback.enter(error))
        # An answer to a round trip sent before the latest outage began says nothing of now.
        if outages == fallback.outages:
            fallback.answered()
        return result

    def _admitted(
        self, refund: int, booked: int, wait_us: int, paused_ms: int, live: int, arrival: int
    ) -> Admission:
        """What an admission script's answer means here."""
        if refund:
            self._tokens = min(float(self._capacity), self._tokens + refund)
        if live > 0:
            self._live = int(live)
        if paused_ms > 0:
            seconds = paused_ms / 1000
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            return Admission(paused=seconds, booked=False)
        wait = wait_us / _MICRO
        if not booked:
            return Admission(wait=wait, booked=False)
        return Admission(wait=wait, ticket=_Ticket(int(arrival)) if arrival else None)

    async def _also_local(self, admission: Admission, max_wait: float | None) -> Admission:
        """In the grace after an outage, a Redis booking needs a local slot too."""
        local = self._fallback.grace()
        ticket = admission.ticket
        if local is None or not admission.booked or not isinstance(ticket, _Ticket):
            return admission
        also = await local.admit(max_wait)
        if also.paused or not also.booked:
            self.release(admission)
            return also
        wait = max(admission.wait, also.wait)
        return Admission(wait=wait, ticket=_Ticket(ticket.arrival, also))

    def _take_refunds(self, now: float, *, force: bool = False) -> int:
        """The batched refunds to send now (0 until the batch is full or a second old)."""
        refunds = self._refunds
        if not refunds or not (force or refunds >= _REFUND_BATCH or now >= self._refund_due):
            return 0
        self._refunds = 0
        self._refund_due = now + _REFUND_EVERY
        return refunds

    def _describe(self, error: BaseException) -> str:
        """The error's type and message, without anything that looks like the URL's secret."""
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        password = self._redis.connection_pool.connection_kwargs.get("password")
        if isinstance(password, str) and password:
            text = text.replace(password, "***")
        return text

    @staticmethod
    def _local_admission(admission: Admission, local: LocalLimits) -> Admission:
        """A local admission whose ticket says where to release it."""
        if not admission.booked:
            return admission
        return Admission(wait=admission.wait, ticket=local)


class _Fallback:
    """The local limits of one `FleetLimits` and when they serve: the whole fallback state.

    Down (Redis failed at the last try): the local limits pace every request, at this
    client's share of the fleet, with its share of the burst already spent (the fleet was
    busy a moment ago); Redis is tried again at most once a second. Back up: for
    `_REJOIN_GRACE` seconds each Redis booking takes a local slot too, and the first
    admission tells Redis that this client's burst is spent.
    """

    def __init__(self, limits: FleetLimits, share: float | None) -> None:
        self._limits = limits
        self._share = share
        self.local: LocalLimits | None = None
        self.down = False
        self.outages = 0
        """How many times Redis went down (a round trip's answer counts only for its own)."""
        self.rejoining = False
        """Whether the next admission on Redis is this client's first after an outage."""
        self._next_probe = 0.0
        self._grace_until = 0.0

    def serving(self) -> LocalLimits | None:
        """The local limits to use without trying Redis: while down, until a probe is due."""
        if not self.down:
            return None
        now = self._limits._clock()
        if now >= self._next_probe:
            self._next_probe = now + _PROBE_EVERY
            return None
        return self.local

    def grace(self) -> LocalLimits | None:
        """The local limits that still pace a client back on Redis (None: none do)."""
        if self.local is None or self.down:
            return None
        if self._limits._clock() >= self._grace_until:
            self.local = None
        return self.local

    def enter(self, error: BaseException) -> LocalLimits:
        """Redis failed: local limits at this client's share; the first failure warns."""
        limits = self._limits
        self._next_probe = limits._clock() + _PROBE_EVERY
        if self.down and self.local is not None:
            return self.local
        self.down = True
        self.outages += 1
        share = self._share if self._share is not None else 1.0 / max(1, limits._live)
        rate = None if limits._rate is None else limits._rate * share
        # Down again within the grace: the same local limits, their state kept.
        local = self.local or self._make_local(share, rate)
        self.local = local
        seen = (
            f"configured share {share:g}"
            if self._share is not None
            else f"1/{max(1, limits._live)} of the fleet, the live clients last seen"
        )
        logger.warning(
            "Redis at %s is unreachable (%s): pacing falls back to local limits, "
            "%s requests/s (%s), until it answers again",
            limits._url,
            limits._describe(error),
            "unlimited" if rate is None else f"{rate:g}",
            seen,
        )
        return local

    def _make_local(self, share: float, rate: float | None) -> LocalLimits:
        limits = self._limits
        budget = RetryBudget(capacity=max(1, math.floor(limits._capacity * share)))
        budget.tokens = min(float(budget.capacity), math.floor(limits._tokens * share))
        return LocalLimits(
            max_requests_per_second=None if rate is None else rate / (1 + limits._jitter),
            burst=max(1, math.floor(limits._burst * share)),
            retry_budget=budget,
            clock=limits._clock,
        )

    def answered(self) -> None:
        """Redis answered: back on it, the local limits kept for the grace."""
        if not self.down:
            return
        self.down = False
        self.rejoining = True
        self._limits._next_heartbeat = 0.0
        self._grace_until = self._limits._clock() + _REJOIN_GRACE
        logger.info("Redis at %s answers again: pacing is fleet-wide again", self._limits._url)
