"""Error bodies as the vendor's ASP.NET stack writes them: RFC 7807 problem details, or HTML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from godeploy._json import dumps

__all__ = ["HTML_TYPE", "JSON_TYPE", "PROBLEM_TYPE", "html_page", "problem"]

JSON_TYPE: Final = "application/json; charset=utf-8"
PROBLEM_TYPE: Final = "application/problem+json; charset=utf-8"
HTML_TYPE: Final = "text/html"

# ASP.NET Core's defaults for `type` and `title` (ProblemDetailsClientErrorData).
_RFC7231: Final = "https://tools.ietf.org/html/rfc7231#section-"
_TYPES: Final = {
    400: (_RFC7231 + "6.5.1", "One or more validation errors occurred."),
    401: ("https://tools.ietf.org/html/rfc7235#section-3.1", "Unauthorized"),
    403: (_RFC7231 + "6.5.3", "Forbidden"),
    404: (_RFC7231 + "6.5.4", "Not Found"),
    405: (_RFC7231 + "6.5.5", "Method Not Allowed"),
    406: (_RFC7231 + "6.5.6", "Not Acceptable"),
    410: (_RFC7231 + "6.5.9", "Gone"),
    413: (_RFC7231 + "6.5.11", "Payload Too Large"),
    415: (_RFC7231 + "6.5.13", "Unsupported Media Type"),
    429: ("https://tools.ietf.org/html/rfc6585#section-4", "Too Many Requests"),
    500: (_RFC7231 + "6.6.1", "An error occurred while processing your request."),
    502: (_RFC7231 + "6.6.3", "Bad Gateway"),
    503: (_RFC7231 + "6.6.4", "Service Unavailable"),
    504: (_RFC7231 + "6.6.5", "Gateway Timeout"),
}  # fmt: skip


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(
    status: int,
    *,
    trace_id: str,
    detail: str | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
) -> bytes:
    """A problem details body: type, title, status, detail, traceId and, for a 400, errors."""
    type_, title = _TYPES.get(status, ("about:blank", _phrase(status)))
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body["traceId"] = trace_id
    if errors is not None:
        body["errors"] = {key: list(messages) for key, messages in errors.items()}
    return dumps(body).encode()


def html_page(status: int) -> bytes:
    """The page a reverse proxy (nginx) shows for a gateway error: not JSON at all."""
    line = f"{status} {_phrase(status)}"
    return (
        f"<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n"
        f"<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()
