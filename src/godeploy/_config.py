"""Client configuration values: timeouts, the default base URL, and the checks on them.

Every option is checked one way: the attrs validators below (`positive`, `non_negative`,
`integer_at_least`), on the fields of the option classes and, through `check_option`, on the
client's own keyword options. A bad option raises `RequestValidationError` naming it.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from attrs import define, field
from yarl import URL

from godeploy._exceptions import RequestValidationError

__all__ = [
    "DEFAULT_BASE_URL",
    "Timeout",
    "check_base_url",
    "check_business_unit_id",
    "check_option",
    "check_uuid",
    "coerce_timeout",
    "fraction",
    "integer_at_least",
    "is_callable",
    "non_negative",
    "number_in",
    "positive",
    "positive_or_none",
    "word",
]

DEFAULT_BASE_URL = "https://lms.godeploy.it/"


class _Named(Protocol):
    """What a validator reads of the attribute it checks: its name."""

    @property
    def name(self) -> str: ...


class _Option(NamedTuple):
    """A keyword option, named as an attrs attribute is."""

    name: str


Validator = Callable[[Any, _Named, Any], None]


def _is_number(value: object) -> bool:
    """A real, finite number (bool is not one, in an option as in JSON)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _refuse(name: str, expected: str, value: object) -> None:
    raise RequestValidationError(f"{name} must be {expected}, got {value!r}", {name: [expected]})


def positive(_: object, attribute: _Named, value: Any) -> None:
    """A number > 0."""
    if not (_is_number(value) and value > 0):
        _refuse(attribute.name, "a number > 0", value)


def positive_or_none(instance: object, attribute: _Named, value: Any) -> None:
    """None (no limit), or a number > 0."""
    if value is not None:
        positive(instance, attribute, value)


def non_negative(_: object, attribute: _Named, value: Any) -> None:
    """A number >= 0."""
    if not (_is_number(value) and value >= 0):
        _refuse(attribute.name, "a number >= 0", value)


def integer_at_least(lowest: int) -> Validator:
    """An integer >= `lowest`."""

    def validate(_: object, attribute: _Named, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            _refuse(attribute.name, f"an integer >= {lowest}", value)

    return validate


def number_in(lowest: float, highest: float = math.inf) -> Validator:
    """A number from `lowest` to `highest`, both included."""
    expected = (
        f"a number >= {lowest:g}"
        if highest == math.inf
        else f"a number in [{lowest:g}, {highest:g}]"
    )

    def validate(_: object, attribute: _Named, value: Any) -> None:
        if not (_is_number(value) and lowest <= value <= highest):
            _refuse(attribute.name, expected, value)

    return validate


def fraction(_: object, attribute: _Named, value: Any) -> None:
    """A number in (0, 1]."""
    if not (_is_number(value) and 0 < value <= 1):
        _refuse(attribute.name, "a number in (0, 1]", value)


def word(max_length: int, *, forbidden: str = ":") -> Validator:
    """Text of 1 to `max_length` characters, no whitespace, none of `forbidden` (a key part)."""
    expected = f"1-{max_length} characters without spaces" + "".join(
        f" or {character!r}" for character in forbidden
    )

    def validate(_: object, attribute: _Named, value: Any) -> None:
        if (
            not isinstance(value, str)
            or not 0 < len(value) <= max_length
            or any(character.isspace() or character in forbidden for character in value)
        ):
            _refuse(attribute.name, expected, value)

    return validate


def is_callable(_: object, attribute: _Named, value: Any) -> None:
    """Something to call (a function, a class, a bound method)."""
    if not callable(value):
        _refuse(attribute.name, "a callable", value)


def check_option(name: str, value: Any, validator: Validator) -> Any:
    """Check a keyword option with one of the validators above; return it."""
    validator(None, _Option(name), value)
    return value


@define(frozen=True, kw_only=True)
class Timeout:
    """Time limits of one call, in seconds (None: no limit).

    Attributes:
        connect: to get a connection.
        attempt: for one attempt, from sending to the last byte of the response.
        total: for the whole call, retries and their waits included.
    """

    connect: float | None = field(default=10.0, validator=positive_or_none)
    attempt: float | None = field(default=30.0, validator=positive_or_none)
    total: float | None = field(default=120.0, validator=positive_or_none)


def coerce_timeout(value: float | Timeout | None, default: Timeout) -> Timeout:
    """Turn a call's `timeout=` into a `Timeout`; a number limits each attempt and the call."""
    if value is None:
        return default
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestValidationError(f"timeout must be seconds or a Timeout, got {value!r}")
    check_option("timeout", value, positive)
    return Timeout(connect=min(default.connect or value, value), attempt=value, total=value)


def check_base_url(base_url: str | URL, *, allow_insecure_http: bool) -> URL:
    """Validate a base URL; plain http is refused unless the host is loopback or allowed."""
    url = URL(str(base_url))
    if url.scheme not in ("http", "https") or not url.host:
        raise RequestValidationError(f"base_url must be an absolute http(s) URL, got {url}")
    if url.user or url.password:
        raise RequestValidationError("base_url must not carry credentials; pass token= instead")
    if url.query_string or url.fragment:
        raise RequestValidationError("base_url must not carry a query or a fragment")
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise RequestValidationError(
            f"refusing plain http to {url.host}: the token would travel unencrypted; "
            "use https, or pass allow_insecure_http=True"
        )
    # A trailing slash lets the API paths join under any path prefix.
    path = url.path if url.path.endswith("/") else url.path + "/"
    return url.with_path(path)


def check_business_unit_id(value: object) -> str:
    """Return a business unit id as the canonical UUID string, or raise."""
    if value is None:
        raise RequestValidationError(
            "no business unit: pass business_unit_id= to the client or to the call",
            {"businessUnitId": ["required"]},
        )
    return check_uuid(value, "businessUnitId")


def check_uuid(value: object, json_name: str) -> str:
    """Return a UUID (or its string) as the canonical string, or raise naming the field."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(UUID(value))
        except ValueError:
            pass
    raise RequestValidationError(
        f"{json_name} must be a UUID, got {value!r}", {json_name: ["must be a UUID"]}
    )


def _is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
