"""What the fake saw: a bounded log of requests and unbounded (but tiny) counters."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from godeploy._json import loads

__all__ = ["RateCap", "RateWindows", "RecordedRequest", "RequestLog"]

_SECOND: Final = 1.0


@dataclass(slots=True, eq=False)
class RecordedRequest:
    """One request the fake received, and how it answered.

    A request is logged when it arrives; `body`, `fault` and `status` are filled in as it is
    served, so a request still in flight (e.g. during injected latency) shows `status=None`.

    Attributes:
        method: the HTTP method.
        path: the path, without the query.
        query: the query parameters (the first value of each name).
        headers: the request headers; the `Authorization` value is masked (`Bearer ***`).
        route: the operationId it reached, or None for a path or method the API does not have.
        authenticated: whether it carried the fake's current token.
        body: the request body (empty for GET).
        fault: the label of the fault inflicted on it (`status(503)`), or None.
        status: the status the fake answered with (for a `reset` fault, the status of the
            headers it sent before the reset); None while in flight, or when it never
            answered (the client went away, e.g. during a stall).
        held: the seconds the fake held it on purpose (latency, plus a stall), so tests can
            check injected delays without timing them.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    route: str | None
    authenticated: bool
    body: bytes = b""
    fault: str | None = None
    status: int | None = None
    held: float = 0.0

    def json(self) -> Any:
        """The body parsed as JSON (numbers with a fraction as Decimal)."""
        return loads(self.body)


class RequestLog:
    """The last `maxlen` requests in full, and counts of every request by route and status."""

    def __init__(self, maxlen: int) -> None:
        if maxlen < 0:
            raise ValueError("log_size must not be negative")
        self._records: deque[RecordedRequest] = deque(maxlen=maxlen)
        self._received: Counter[str | None] = Counter()
        self._answered: Counter[tuple[str | None, int]] = Counter()

    def received(self, record: RecordedRequest) -> None:
        """Log a request as it arrives."""
        self._records.append(record)
        self._received[record.route] += 1

    def answered(self, record: RecordedRequest, status: int) -> None:
        """Note the status a logged request was answered with."""
        record.status = status
        self._answered[record.route, status] += 1

    @property
    def records(self) -> list[RecordedRequest]:
        """The kept records, oldest first."""
        return list(self._records)

    def count(self, route: str | None = None, *, status: int | None = None) -> int:
        """Requests received for `route` (None: any), or answered with `status` if given."""
        if status is None:
            if route is None:
                return sum(self._received.values())
            return self._received[route]
        return sum(
            number
            for (seen_route, seen_status), number in self._answered.items()
            if seen_status == status and (route is None or seen_route == route)
        )

    def clear(self) -> None:
        """Forget every record and count."""
        self._records.clear()
        self._received.clear()
        self._answered.clear()


class RateWindows:
    """Requests per second: counts per fixed 1-s window, and the busiest sliding second.

    Fixed windows start at `origin` (the fake's start, or its last `reset_log()`); the busiest
    sliding second is the most requests in any span of one second, wherever it starts, so it is
    at least the busiest fixed window. Memory stays small: one count per elapsed second and
    the arrivals of the last second.
    """

    def __init__(self, origin: float) -> None:
        self._origin = origin
        self._windows: list[int] = []
        self._recent: deque[float] = deque()
        self._busiest = 0

    def arrived(self, now: float) -> None:
        """Count one request arriving at `now` (a monotonic time, never before `origin`)."""
        index = max(0, int(now - self._origin))
        if index >= len(self._windows):
            self._windows.extend([0] * (index + 1 - len(self._windows)))
        self._windows[index] += 1
        recent = self._recent
        recent.append(now)
        while recent[0] <= now - _SECOND:
            recent.popleft()
        self._busiest = max(self._busiest, len(recent))

    @property
    def windows(self) -> list[int]:
        """Requests in each fixed 1-s window since `origin`, oldest first (a copy)."""
        return list(self._windows)

    @property
    def busiest(self) -> int:
        """The most requests that arrived within any one second."""
        return self._busiest

    def clear(self, origin: float) -> None:
        """Forget every count; windows start again at `origin`."""
        self._origin = origin
        self._windows.clear()
        self._recent.clear()
        self._busiest = 0


class RateCap:
    """At most `limit` requests admitted in any one second (a sliding log, as API gateways do).

    Args:
        limit: requests per second admitted; the next one in the same second is refused.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"rate_limit must be at least 1 request per second, got {limit}")
        self.limit = limit
        self._admitted: deque[float] = deque()

    def admit(self, now: float) -> float:
        """Admit a request at `now` (0.0), or refuse it: the seconds until one would be admitted."""
        admitted = self._admitted
        while admitted and admitted[0] <= now - _SECOND:
            admitted.popleft()
        if len(admitted) >= self.limit:
            return admitted[0] + _SECOND - now
        admitted.append(now)
        return 0.0
