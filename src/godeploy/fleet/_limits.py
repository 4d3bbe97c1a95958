"""FleetLimits: the request-rate cap, the 429 pause and the retry budget, shared through Redis.

Every client that uses the same Redis and namespace shares them, in any process on any machine.
Each admission is one Lua script on Redis's own clock (`TIME`, so the machines' clocks do not
matter): GCRA books the next slot of the fleet's rate and, in the same round trip, reads the
shared pause, gives back released slots, records this client's heartbeat and flushes its
batched refunds. When Redis cannot be reached the limits fall back to local ones (this
client's share of the fleet's rate), log one WARNING, and go back to Redis once it answers.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

import redis.asyncio
import redis.exceptions
from attrs import define

from godeploy._config import check_option, integer_at_least, positive
from godeploy._exceptions import RequestValidationError
from godeploy._lifecycle import AsyncClosing
from godeploy._pacing import Admission, LocalLimits, RetryBudget

__all__ = ["FleetLimits"]

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

# KEYS: tat, pause, clients, budget.
# ARGV: interval (us), burst, stale after (us), budget capacity, budget idle ttl (ms),
#       max wait (us, < 0: any), client id ('' = no heartbeat), refund, released tickets...
# Returns {booked, wait (us), paused (ms), live clients (-1: not counted), ticket (us)}.
_ADMIT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local live = -1
if ARGV[7] ~= '' then
  local stale = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[3], now, ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - stale)
  redis.call('PEXPIRE', KEYS[3], math.ceil(stale / 500))
  live = redis.call('ZCARD', KEYS[3])
end
local refund = tonumber(ARGV[8])
if refund > 0 then
  local tokens = tonumber(redis.call('GET', KEYS[4]))
  if tokens then
    tokens = math.min(tonumber(ARGV[4]), tokens + refund)
    redis.call('SET', KEYS[4], string.format('%.0f', tokens), 'PX', ARGV[5])
  end
end
local tat = tonumber(redis.call('GET', KEYS[1])) or 0
local moved = false
for i = 9, #ARGV do
  if tonumber(ARGV[i]) > now and tat > now then
    tat = math.max(now, tat - interval)
    moved = true
  end
end
local function keep(value)
  if value > now then
    local ttl = math.ceil((value - now) / 1000) + 1000
    redis.call('SET', KEYS[1], string.format('%.0f', value), 'PX', ttl)
  else
    redis.call('DEL', KEYS[1])
  end
end
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then
  if moved then keep(tat) end
  return {0, 0, paused, live, 0}
end
if interval == 0 then
  return {1, 0, 0, live, 0}
end
if tat < now then tat = now end
local arrival = tat + interval
local wait = arrival - tonumber(ARGV[2]) * interval - now
if wait < 0 then wait = 0 end
local max_wait = tonumber(ARGV[6])
if max_wait >= 0 and wait > max_wait then
  if moved then keep(tat) end
  return {0, wait, 0, live, 0}
end
keep(arrival)
return {1, wait, 0, live, arrival}
"""

# KEYS: pause. ARGV: milliseconds. Only ever extends the pause; returns what is left of it.
_PAUSE: Final = """
local left = redis.call('PTTL', KEYS[1])
local ms = tonumber(ARGV[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  return ms
end
return left
"""

# KEYS: budget. ARGV: cost, capacity, idle ttl (ms), refund.
# Returns {paid, tokens left}. A missing key is a full budget.
_PAY: Final = """
local capacity = tonumber(ARGV[2])
local stored = tonumber(redis.call('GET', KEYS[1]))
local tokens = math.min(capacity, (stored or capacity) + tonumber(ARGV[4]))
local cost = tonumber(ARGV[1])
if tokens < cost then
  if stored then redis.call('SET', KEYS[1], string.format('%.0f', tokens), 'PX', ARGV[3]) end
  return {0, tokens}
end
tokens = tokens - cost
redis.call('SET', KEYS[1], string.format('%.0f', tokens), 'PX', ARGV[3])
return {1, tokens}
"""


@define(frozen=True, slots=True)
class _Ticket:
    """A slot booked in Redis: its end on Redis's clock, in microseconds."""

    arrival: int


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
        local_share: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = (
            None
            if max_requests_per_second is None
            else float(check_option("max_requests_per_second", max_requests_per_second, positive))
        )
        self._burst: int = check_option("burst", burst, integer_at_least(1))
        if not isinstance(namespace, str) or not namespace or namespace != namespace.strip():
            raise RequestValidationError(
                f"namespace must be non-empty text without surrounding spaces, got {namespace!r}",
                {"namespace": ["non-empty text"]},
            )
        capacity = _DEFAULT_BUDGET if retry_budget is None else retry_budget
        self._capacity: int = check_option("retry_budget", capacity, integer_at_least(1))
        if local_share is not None:
            check_option("local_share", local_share, positive)
            if local_share > 1:
                raise RequestValidationError(
                    f"local_share must be a fraction in (0, 1], got {local_share!r}",
                    {"local_share": ["a number in (0, 1]"]},
                )
        self._local_share = local_share
        self._namespace = namespace
        self._url = redact_url(redis_url) if isinstance(redis_url, str) else "<not a URL>"
        self._redis = self._connect(redis_url)
        self._clock = clock
        # 0: no rate cap (the pause and the retry budget are still shared).
        self._interval_us = 0 if self._rate is None else max(1, round(_MICRO / self._rate))
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
        self._admit_script = self._redis.register_script(_ADMIT)
        self._pause_script = self._redis.register_script(_PAUSE)
        self._pay_script = self._redis.register_script(_PAY)
        self._client_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}".encode()
        self._next_heartbeat = 0.0
        self._live = 0
        self._paused_until = 0.0
        self._tokens = float(self._capacity)
        self._refunds = 0
        self._refund_due = 0.0
        self._releases: list[int] = []
        self._local: LocalLimits | None = None
        self._next_probe = 0.0
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
        state = "local fallback" if self._local is not None else "redis"
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
        return self._local is not None

    @property
    def live_clients(self) -> int:
        """The clients of this namespace that Redis last said are live (0: not known yet)."""
        return self._live

    # -- the pacing protocol --------------------------------------------------------------------

    async def admit(self, max_wait: float | None) -> Admission:
        """See `godeploy.Limits.admit`: one Lua round trip, or the local fallback."""
        if self._closed:
            raise RuntimeError("these FleetLimits are closed")
        paused = self.paused_for()
        if paused > 0:
            return Admission(paused=paused, booked=False)
        local = self._local
        if local is not None and not self._probe_due():
            return self._local_admission(await local.admit(max_wait), local)
        now = self._clock()
        heartbeat = now >= self._next_heartbeat
        if heartbeat:
            self._next_heartbeat = now + _HEARTBEAT_EVERY
        refund = self._take_refunds(now)
        releases = self._releases[:_RELEASES_PER_CALL]
        del self._releases[:_RELEASES_PER_CALL]
        max_wait_us = -1 if max_wait is None else max(0, int(max_wait * _MICRO))
        self._used = True
        try:
            booked, wait_us, paused_ms, live, arrival = await self._admit_script(
                keys=self._rate_keys,
                args=[
                    *self._admit_settings,
                    max_wait_us,
                    self._client_id if heartbeat else b"",
                    refund,
                    *releases,
                ],
            )
        except _REDIS_ERRORS as error:
            self._refunds += refund
            if heartbeat:
                self._next_heartbeat = 0.0
            local = self._fall_back(error)
            return self._local_admission(await local.admit(max_wait), local)
        self._back_on_redis()
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

    def release(self, admission: Admission) -> None:
        """See `godeploy.Limits.release`: given back with the next admission."""
        ticket = admission.ticket
        if not admission.booked:
            return
        if isinstance(ticket, _Ticket):
            self._releases.append(ticket.arrival)
        elif isinstance(ticket, LocalLimits):
            ticket.release(admission)

    def paused_for(self) -> float:
        """See `godeploy.Limits.paused_for`: the pause this process knows of."""
        left = self._paused_until - self._clock() if self._paused_until else 0.0
        if left <= 0:
            self._paused_until = 0.0
            left = 0.0
        local = self._local
        return max(left, local.paused_for()) if local is not None else left

    async def pause(self, seconds: float) -> None:
        """See `godeploy.Limits.pause`: every client of the fleet holds."""
        if seconds <= 0:
            return
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        local = self._local
        if local is not None and not self._probe_due():
            await local.pause(seconds)
            return
        self._used = True
        try:
            await self._pause_script(keys=[self._pause_key], args=[math.ceil(seconds * 1000)])
        except _REDIS_ERRORS as error:
            await self._fall_back(error).pause(seconds)
            return
        self._back_on_redis()

    async def try_pay(self, cost: int) -> bool:
        """See `godeploy.Limits.try_pay`: paid from the fleet's budget."""
        local = self._local
        if local is not None and not self._probe_due():
            return await local.try_pay(cost)
        refund = self._take_refunds(self._clock(), force=True)
        self._used = True
        try:
            paid, tokens = await self._pay_script(
                keys=[self._budget_key], args=[cost, self._capacity, _BUDGET_IDLE_MS, refund]
            )
        except _REDIS_ERRORS as error:
            self._refunds += refund
            return await self._fall_back(error).try_pay(cost)
        self._back_on_redis()
        self._tokens = float(tokens)
        return bool(paid)

    def refund(self) -> None:
        """See `godeploy.Limits.refund`: batched, sent with a later round trip."""
        local = self._local
        if local is not None:
            local.refund()
        elif self._tokens + self._refunds < self._capacity:
            self._refunds += 1

    def budget(self) -> tuple[float, float]:
        """See `godeploy.Limits.budget`: as Redis last said, plus unsent refunds."""
        local = self._local
        if local is not None:
            return local.budget()
        tokens = min(float(self._capacity), self._tokens + self._refunds)
        return tokens, float(self._capacity)

    async def aclose(self) -> None:
        """Send the batched refunds, then close the Redis connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._refunds and self._local is None:
                refund, self._refunds = self._refunds, 0
                await self._pay_script(
                    keys=[self._budget_key], args=[0, self._capacity, _BUDGET_IDLE_MS, refund]
                )
        except _REDIS_ERRORS:
            pass  # Redis is down: the refunds go with it, as a local budget's would.
        finally:
            await self._redis.aclose()

    def __del__(self) -> None:
        if getattr(self, "_used", False) and not getattr(self, "_closed", True):
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=1)

    # -- internals ------------------------------------------------------------------------------

    def _take_refunds(self, now: float, *, force: bool = False) -> int:
        """The batched refunds to send now (0 until the batch is full or a second old)."""
        refunds = self._refunds
        if not refunds or not (force or refunds >= _REFUND_BATCH or now >= self._refund_due):
            return 0
        self._refunds = 0
        self._refund_due = now + _REFUND_EVERY
        return refunds

    def _probe_due(self) -> bool:
        """While falling back: whether it is time to try Redis again (once a second)."""
        now = self._clock()
        if now < self._next_probe:
            return False
        self._next_probe = now + _PROBE_EVERY
        return True

    def _share(self) -> float:
        if self._local_share is not None:
            return self._local_share
        return 1.0 / max(1, self._live)

    def _fall_back(self, error: BaseException) -> LocalLimits:
        """Local limits at this client's share; the first failure of an episode warns."""
        self._next_probe = self._clock() + _PROBE_EVERY
        local = self._local
        if local is not None:
            return local
        share = self._share()
        budget = RetryBudget(capacity=max(1, math.floor(self._capacity * share)))
        budget.tokens = min(float(budget.capacity), math.floor(self._tokens * share))
        rate = None if self._rate is None else self._rate * share
        local = LocalLimits(
            max_requests_per_second=rate,
            burst=max(1, math.floor(self._burst * share)),
            retry_budget=budget,
            clock=self._clock,
        )
        self._local = local
        seen = (
            f"configured share {share:g}"
            if self._local_share is not None
            else f"1/{max(1, self._live)} of the fleet, the live clients last seen"
        )
        logger.warning(
            "Redis at %s is unreachable (%s): pacing falls back to local limits, "
            "%s requests/s (%s), until it answers again",
            self._url,
            self._describe(error),
            "unlimited" if rate is None else f"{rate:g}",
            seen,
        )
        return local

    def _back_on_redis(self) -> None:
        if self._local is None:
            return
        self._local = None
        self._next_heartbeat = 0.0
        logger.info("Redis at %s answers again: pacing is fleet-wide again", self._url)

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
