"""The errors the SDK raises. Every one is a `GoDeployError`; catch that to catch them all.

    GoDeployError
    ├── ClientClosedError                 a call on a client after aclose()
    ├── EventLoopError                    a client used from two running event loops at once
    ├── RequestValidationError            bad input, caught before any I/O (also ValueError)
    ├── ResponseValidationError           a response body that does not fit the models
    │   └── ResponseTooLargeError         ... because it is past max_response_bytes
    ├── PaginationError                   a pager that would loop, skip or leave the origin
    ├── OrderOutcomeUnknownError          a create that may or may not have made the order
    ├── APIConnectionError                the request did not get a response
    │   └── APITimeoutError               ... because time ran out (also TimeoutError)
    └── APIStatusError                    the API answered with an error status
        ├── BadRequestError               400
        ├── AuthenticationError           401
        ├── PermissionDeniedError         403
        ├── NotFoundError                 404
        ├── MethodNotAllowedError         405
        ├── NotAcceptableError            406
        ├── GoneError                     410
        ├── RateLimitError                429 (.retry_after)
        └── InternalServerError           5xx
            └── ServiceUnavailableError   503

No message, repr or attribute of these errors carries the bearer token: URLs are kept without
credentials and request headers are never stored (an `APIStatusError` keeps the *response*
headers, read-only). `error_from_response` turns an error answer into its typed error; it
parses the problem-details body, here beside the tree it builds.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from godeploy._generated.models import ProblemDetails
from godeploy._json import loads

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "EventLoopError",
    "GoDeployError",
    "GoneError",
    "InternalServerError",
    "MethodNotAllowedError",
    "NotAcceptableError",
    "NotFoundError",
    "OrderOutcomeUnknownError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestValidationError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServiceUnavailableError",
    "NO_HEADERS",
    "error_from_response",
    "error_type",
    "parse_retry_after",
    "problem_details",
    "proves_refusal",
    "read_only_headers",
    "request_id_from",
    "retry_hint",
    "safe_url",
    "status_error_class",
]


class GoDeployError(Exception):
    """The root of every error the SDK raises."""


class ClientClosedError(GoDeployError, RuntimeError):
    """A call was made on a client that is closed."""


class EventLoopError(GoDeployError, RuntimeError):
    """A client was used from an event loop while another running loop was using it.

    A client follows its calls from one event loop to the next once the first has stopped
    (each loop gets connections of its own), but two loops running at once (two threads)
    cannot share one: make one client per loop.
    """


class RequestValidationError(GoDeployError, ValueError):
    """Input that the API would refuse, caught before anything was sent.

    Attributes:
        errors: each bad field (in the API's JSON spelling) mapped to its messages.
    """

    def __init__(self, message: str, errors: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, list[str]] = dict(errors or {})


class ResponseValidationError(GoDeployError):
    """A response body that is not JSON or does not fit the generated models.

    Attributes:
        path: where the body went wrong, in the API's own key names (`$.items[3].orderStatus`).
        url: the request URL, without credentials.
    """

    def __init__(self, message: str, *, path: str = "$", url: URL | str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.url = None if url is None else safe_url(url)


class ResponseTooLargeError(ResponseValidationError):
    """A response body past the client's `max_response_bytes` (counted after decompression).

    The transport stops reading at the limit and drops the connection; nothing is decoded.
    Raise the limit with `GoDeployClient(max_response_bytes=...)`.

    Attributes:
        max_bytes: the limit the body went past.
    """

    def __init__(self, message: str, *, max_bytes: int, url: URL | str | None = None) -> None:
        super().__init__(message, url=url)
        self.max_bytes = max_bytes


class PaginationError(GoDeployError):
    """A pager refused to go on: a foreign next link, a wrong or repeated page."""


class OrderOutcomeUnknownError(GoDeployError):
    """A create request was sent but no answer says whether the order exists.

    The API has no idempotency key, so the SDK never repeats such a request. List the orders
    and look for `purchase_order_reference` before trying again.

    Attributes:
        purchase_order_reference: the reference the order was created with.
    """

    def __init__(self, message: str, *, purchase_order_reference: str) -> None:
        super().__init__(message)
        self.purchase_order_reference = purchase_order_reference


class APIConnectionError(GoDeployError):
    """The request got no HTTP response: DNS, connect, reset, or a broken body.

    Attributes:
        method: the request method.
        url: the request URL, without credentials.
        request_sent: False only when the request provably never left (a connect failure);
            True when the server may have received it.
    """

    def __init__(
        self, message: str, *, method: str, url: URL | str, request_sent: bool = True
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = safe_url(url)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError, TimeoutError):
    """The request timed out (an attempt's timeout or the call's deadline)."""


class APIStatusError(GoDeployError):
    """The API answered with an error status.

    Attributes:
        status: the HTTP status code.
        method: the request method.
        url: the request URL, without credentials.
        body: the body as the API sent it: parsed JSON (a dict, extension members and all)
            when it was JSON, else its text (cut short).
        request_id: the server's request or trace id, when a response header carried one.
        retry_after: seconds the API asked to wait (`retry-after-ms`, else `Retry-After`),
            when it said so.
        headers: the response headers, read-only (rate-limit headers, for instance).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: URL | str,
        body: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.url = safe_url(url)
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after
        self.headers: Mapping[str, str] = (
            NO_HEADERS if headers is None else read_only_headers(headers)
        )

    @property
    def problem(self) -> ProblemDetails:
        """The body's RFC 7807 problem details: `detail`, `errors` (field -> messages), ...

        Never raises: a member that is missing or not of its RFC type is None, and so is
        every member of a body that is no JSON object. `body` keeps what the API sent.
        """
        return problem_details(self.body)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status}, method={self.method!r}, url={str(self.url)!r})"


class BadRequestError(APIStatusError):
    """400: the API refused the request; `problem.errors` names the fields."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, wrong or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not do this."""


class NotFoundError(APIStatusError):
    """404: no such resource in this business unit."""


class MethodNotAllowedError(APIStatusError):
    """405: the method is not allowed here."""


class NotAcceptableError(APIStatusError):
    """406: the API cannot produce the requested representation."""


class GoneError(APIStatusError):
    """410: the resource is gone."""


class RateLimitError(APIStatusError):
    """429: too many requests; `retry_after` says how long the API asked to wait."""


class InternalServerError(APIStatusError):
    """5xx: the API (or a gateway before it) failed."""


class ServiceUnavailableError(InternalServerError):
    """503: the API is unavailable for now."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    406: NotAcceptableError,
    410: GoneError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """Return the error class for an HTTP error status."""
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    if status >= 500:
        return InternalServerError
    return APIStatusError


NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
"""No headers, read-only: the default of every object that keeps response headers."""
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "x-trace-id")
_MAX_ERROR_TEXT = 2000


def read_only_headers(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
    """Headers that cannot be changed, looked up case-insensitively (aiohttp's already are)."""
    if isinstance(headers, CIMultiDictProxy):
        return headers
    return CIMultiDictProxy(CIMultiDict(headers))


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The server's request id from a response's headers (case-insensitive ones), or None."""
    return next((headers[name] for name in _REQUEST_ID_HEADERS if name in headers), None)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Read `Retry-After` as seconds (`"3"`) or as an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = float(when.timestamp()) - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def retry_hint(headers: Mapping[str, str]) -> float | None:
    """Seconds an answer asks to wait, or None when it does not say.

    `retry-after-ms` (milliseconds, the precise one) comes first, then `Retry-After`.
    """
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value / 1000)
    return parse_retry_after(headers.get("Retry-After"))


def proves_refusal(status: int) -> bool:
    """Whether an error status proves the API refused the request without acting on it.

    A 4xx is the API turning the request down (bad input, no or a stale token, too many
    requests, a request that took too long to arrive): nothing was created. A 5xx (or a gateway
    in front of the API) says nothing of what happened behind it.
    """
    return 400 <= status < 500


def error_type(error: BaseException) -> str:
    """What failed, in the one vocabulary of logs, hooks and telemetry.

    The status as a string (`"503"`), `"timeout"`, or the error's class name.
    """
    if isinstance(error, APIStatusError):
        return str(error.status)
    if isinstance(error, TimeoutError):  # APITimeoutError is one too
        return "timeout"
    return type(error).__name__


def _problem(body_bytes: bytes, content_type: str) -> Any:
    """An error body: the problem-details object when it is JSON, else its text (cut short)."""
    body: Any = body_bytes.decode("utf-8", errors="replace")
    if "json" in content_type:
        # Not JSON after all (or nested too deeply: `loads` says so with a ValueError): text.
        with contextlib.suppress(ValueError):
            body = loads(body)
    if isinstance(body, str) and len(body) > _MAX_ERROR_TEXT:
        body = body[:_MAX_ERROR_TEXT] + "…"
    return body


def problem_details(body: Any) -> ProblemDetails:
    """The RFC 7807 members of an error body that have their RFC types; the others are None.

    Lenient where the converter is strict, on purpose: an error body is never refused, since
    the error it comes with matters more than its shape.
    """
    if not isinstance(body, dict):
        return ProblemDetails()

    def text(key: str) -> str | None:
        value = body.get(key)
        return value if isinstance(value, str) else None

    status, errors = body.get("status"), body.get("errors")
    if not isinstance(errors, dict) or not all(
        isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        for messages in errors.values()
    ):
        errors = None
    return ProblemDetails(
        type=text("type"),
        title=text("title"),
        status=status if type(status) is int else None,
        detail=text("detail"),
        trace_id=text("traceId"),
        errors=errors,
    )


def _detail(body: Any) -> str:
    """What a problem-details body says went wrong: its detail, then each field and reason."""
    if not isinstance(body, dict):
        return ""
    detail = str(body.get("detail") or body.get("title") or "")
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        reasons = "; ".join(
            f"{field}: {_reasons(errors[field])}" for field in sorted(errors, key=str)
        )
        detail = f"{detail} {reasons}" if detail else reasons
    if len(detail) > _MAX_ERROR_TEXT:
        detail = detail[:_MAX_ERROR_TEXT] + "…"
    return detail


def _reasons(value: Any) -> str:
    """A field's reasons as the API lists them (a list of strings, usually one)."""
    if isinstance(value, list):
        return " ".join(str(reason) for reason in value)
    return str(value)


def error_from_response(
    method: str, url: URL, status: int, headers: Mapping[str, str], body: bytes
) -> APIStatusError:
    """Build the typed error of an error response."""
    problem = _problem(body, headers.get("Content-Type", ""))
    request_id = request_id_from(headers)
    if request_id is None and isinstance(problem, dict) and isinstance(problem.get("traceId"), str):
        request_id = problem["traceId"]
    message = f"{method} {url.path} answered {status}"
    detail = _detail(problem)
    if detail:
        message += f": {detail}"
    if method == "POST" and proves_refusal(status):
        # The one POST creates an order: say so, a create's caller must know not to reconcile.
        message += " (the API refused the request: nothing was created)"
    return status_error_class(status)(
        message,
        status=status,
        method=method,
        url=url,
        body=problem,
        request_id=request_id,
        retry_after=retry_hint(headers),
        headers=headers,
    )


def safe_url(url: URL | str) -> URL:
    """The URL without user or password, fit to show in an error, a log line or a span."""
    parsed = url if isinstance(url, URL) else URL(url)
    return parsed.with_user(None) if parsed.user or parsed.password else parsed
