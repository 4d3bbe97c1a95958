"""Extra headers and query: `default_headers=`, `extra_headers=` and `extra_query=`, checked.

The client's `default_headers=`, and a call's `extra_headers=` and `extra_query=`, are checked
once, before anything is sent.

They add to a request; they never replace what the SDK owns: the bearer token
(`Authorization`), the business unit (`businessUnitId`, set by `business_unit_id=`) and the
paging (`_page`, `_pageSize`, set by the pager). Names are compared case-insensitively, so
`authorization` is refused as surely as `Authorization`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from godeploy._exceptions import RequestValidationError

__all__ = ["NO_EXTRAS", "check_headers", "check_query", "merge_headers"]

NO_EXTRAS: Mapping[str, str] = MappingProxyType({})
"""No extra headers (shared, read-only)."""

_OWNED_HEADERS = {"authorization": "the token= option"}
_OWNED_QUERY = {
    "businessunitid": "the business_unit_id= option",
    "_page": "the pager (start_page=)",
    "_pagesize": "the pager (page_size=)",
}
# RFC 9110's token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_headers(headers: object, option: str) -> dict[str, str]:
    """Return extra headers as a new dict, or raise naming the option and the bad header.

    Args:
        headers: a mapping of header names to string values.
        option: the keyword that gave them (`extra_headers`, `default_headers`), for errors.

    Raises:
        RequestValidationError: not a mapping, a bad name or value, or a header the SDK owns.
    """
    checked: dict[str, str] = {}
    for name, value in _items(headers, option, "header names to strings"):
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise RequestValidationError(
                f"{option}: {name!r} is not a header name", {option: [f"{name!r}: not a name"]}
            )
        _refuse_owned(option, name, _OWNED_HEADERS)
        if not isinstance(value, str) or _BAD_HEADER_VALUE.search(value):
            # Never the value itself in the message: it may be a credential.
            raise RequestValidationError(
                f"{option}[{name!r}] must be a string without control characters",
                {option: [f"{name}: a string without control characters"]},
            )
        checked[name] = value
    return checked


def check_query(query: object, option: str = "extra_query") -> dict[str, str | int]:
    """Return extra query parameters as a new dict, or raise naming the bad parameter.

    Args:
        query: a mapping of parameter names to strings or integers.
        option: the keyword that gave them, for errors.

    Raises:
        RequestValidationError: not a mapping, a bad name or value, or a parameter the SDK owns.
    """
    checked: dict[str, str | int] = {}
    for name, value in _items(query, option, "names to strings or integers"):
        if not isinstance(name, str) or not name:
            raise RequestValidationError(
                f"{option}: {name!r} is not a parameter name", {option: [f"{name!r}: not a name"]}
            )
        _refuse_owned(option, name, _OWNED_QUERY)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise RequestValidationError(
                f"{option}[{name!r}] must be a string or an integer, got {type(value).__name__}",
                {option: [f"{name}: a string or an integer"]},
            )
        checked[name] = value
    return checked


def _items(given: object, option: str, expected: str) -> Iterable[tuple[object, object]]:
    """The entries of a mapping option, or a refusal saying what it must be."""
    if not isinstance(given, Mapping):
        raise RequestValidationError(
            f"{option} must be a mapping of {expected}, got {type(given).__name__}",
            {option: [f"a mapping of {expected}"]},
        )
    return given.items()


def _refuse_owned(option: str, name: str, owned: Mapping[str, str]) -> None:
    """Refuse a name the SDK sets itself (compared case-insensitively)."""
    owner = owned.get(name.lower())
    if owner is not None:
        raise RequestValidationError(
            f"{option} cannot set {name}: the SDK sets it from {owner}; nothing was sent",
            {option: [f"{name}: set by {owner}"]},
        )


def merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """`base` with `extra` on top, a name in either case replacing the same name in `base`."""
    merged = dict(base)
    if extra:
        lowered = {name.lower() for name in extra}
        merged = {name: value for name, value in merged.items() if name.lower() not in lowered}
        merged.update(extra)
    return merged
