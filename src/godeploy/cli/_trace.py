"""`--trace`: one compact line per API call on stderr, built on the client's hooks.

trace: getOrder GET /api/v2/orders/5 -> 200 in 14 ms; 2 attempts (retried: 503); backoff 0.41 s
"""

from __future__ import annotations

from collections.abc import Callable

from yarl import URL

from godeploy import CallEvent, Hooks, RetryEvent

__all__ = ["TraceLines", "format_call"]


def _duration(seconds: float) -> str:
    """Milliseconds under a second, else seconds."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def format_call(event: CallEvent, retried: list[str]) -> str:
    """The trace line of one call; `retried` lists what each retry followed (`503`, `timeout`)."""
    path = URL(event.url).path
    if event.cancelled:
        outcome = "cancelled"
    elif event.error is not None and event.error != str(event.status):
        outcome = event.error if event.status is None else f"{event.status} ({event.error})"
    else:
        outcome = str(event.status)
    line = (
        f"trace: {event.operation} {event.method} {path} -> {outcome} in {_duration(event.elapsed)}"
    )
    if event.attempts > 1:
        line += f"; {event.attempts} attempts"
        if retried:
            line += f" (retried: {', '.join(retried)})"
    if event.backoff > 0:
        line += f"; backoff {_duration(event.backoff)}"
    if event.waited > 0:
        line += f"; waited {_duration(event.waited)} (rate limit)"
    return line


class TraceLines:
    """Collects each call's retries and writes one line when the call ends.

    Args:
        write: where a line goes (stderr).
    """

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        # What each call in flight retried after, by (operation, url): calls run concurrently.
        self._retried: dict[tuple[str, str], list[str]] = {}

    def hooks(self) -> Hooks:
        """The hooks that feed this trace."""
        return Hooks(on_retry=self._on_retry, on_call=self._on_call)

    def _on_retry(self, event: RetryEvent) -> None:
        self._retried.setdefault((event.operation, event.url), []).append(event.reason)

    def _on_call(self, event: CallEvent) -> None:
        retried = self._retried.pop((event.operation, event.url), [])
        self._write(format_call(event, retried))
