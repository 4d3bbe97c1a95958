"""Client configuration values: timeouts, the default base URL, and the checks on them.

Every option is checked one way: with the attrs validators below (`positive`, `non_negative`,
`integer_at_least`, `strict_bool`, `instance_of`, `is_callable`, `optional(...)`) and the
`statuses` converter, on the fields of the option classes and, through `check_option`, on
keyword options (the client's, the calls', the pagers' and the fan-out's). A bad option raises
`RequestValidationError` whose message names it and whose `errors` maps its name to the problem.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, NoReturn, Protocol
from uuid import UUID

from attrs import Converter, define, field
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
    "instance_of",
    "integer_at_least",
    "is_callable",
    "non_negative",
    "number_in",
    "optional",
    "positive",
    "positive_or_none",
    "refuse",
    "statuses",
    "strict_bool",
    "word",
]

DEFAULT_BASE_URL = "https://lms.godeploy.it/"
"""The real API's root, the `base_url` of a client that names none."""


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


def refuse(name: str, expected: str, value: object) -> NoReturn:
    """Raise the error of a bad option: `{name} must be {expected}, got {value!r}`.

    For a check no validator below expresses (an option that needs another one, say).
    """
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise RequestValidationError(f"{name} must be {expected}, got {shown}", {name: [expected]})


def positive(_: object, attribute: _Named, value: Any) -> None:
    """A number > 0."""
    if not (_is_number(value) and value > 0):
        refuse(attribute.name, "a number > 0", value)


def positive_or_none(instance: object, attribute: _Named, value: Any) -> None:
    """None (no limit), or a number > 0."""
    if value is not None:
        positive(instance, attribute, value)


def non_negative(_: object, attribute: _Named, value: Any) -> None:
    """A number >= 0."""
    if not (_is_number(value) and value >= 0):
        refuse(attribute.name, "a number >= 0", value)


def integer_at_least(lowest: int) -> Validator:
    """An integer >= `lowest`."""

    def validate(_: object, attribute: _Named, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            refuse(attribute.name, f"an integer >= {lowest}", value)

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
            refuse(attribute.name, expected, value)

    return validate


def fraction(_: object, attribute: _Named, value: Any) -> None:
    """A number in (0, 1]."""
    if not (_is_number(value) and 0 < value <= 1):
        refuse(attribute.name, "a number in (0, 1]", value)


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
            refuse(attribute.name, expected, value)

    return validate


def strict_bool(_: object, attribute: _Named, value: Any) -> None:
    """True or False, nothing else: a truthy string from a config file is no yes."""
    if value is not True and value is not False:
        refuse(attribute.name, "True or False", value)


def is_callable(_: object, attribute: _Named, value: Any) -> None:
    """A callable."""
    if not callable(value):
        refuse(attribute.name, "a callable", value)


def instance_of(kind: type[Any], expected: str | None = None) -> Validator:
    """An instance of a class, or of a runtime-checkable protocol (what it offers is checked)."""
    described = expected or f"a {kind.__name__}"

    def validate(_: object, attribute: _Named, value: Any) -> None:
        if not isinstance(value, kind):
            refuse(attribute.name, described, value)

    return validate


def optional(validator: Validator) -> Validator:
    """None, or what `validator` accepts."""

    def validate(instance: object, attribute: _Named, value: Any) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return validate


def _status_set(value: Any, attribute: _Named) -> frozenset[int]:
    """A set of HTTP statuses (integers 100-599) from any iterable of them but a string."""
    expected = "a set of HTTP statuses (integers 100-599)"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        refuse(attribute.name, expected, value)
    found = frozenset(value)
    if any(isinstance(s, bool) or not isinstance(s, int) or not 100 <= s <= 599 for s in found):
        refuse(attribute.name, expected, value)
    return found


statuses = Converter(_status_set, takes_field=True)
"""The converter of an attrs field holding a set of HTTP statuses (checked as it converts)."""


_OPTIONS: dict[str, _Option] = {}
"""The name of each option checked so far (a literal of the code: a few dozen in all), made
once: a pager per order of `for_orders` checks four."""


def check_option(name: str, value: Any, validator: Validator) -> Any:
    """Check a keyword option with one of the validators above; return it."""
    option = _OPTIONS.get(name)
    if option is None:
        option = _OPTIONS[name] = _Option(name)
    validator(None, option, value)
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
        refuse("timeout", "seconds or a Timeout", value)
    check_option("timeout", value, positive)
    return Timeout(connect=min(default.connect or value, value), attempt=value, total=value)


def check_base_url(base_url: str | URL, *, allow_insecure_http: bool) -> URL:
    """Validate a base URL; plain http is refused unless the host is loopback or allowed."""
    check_option("allow_insecure_http", allow_insecure_http, strict_bool)
    if not isinstance(base_url, str | URL):
        refuse("base_url", "a URL (str or yarl.URL)", base_url)
    url = URL(str(base_url))
    problem = ""
    if url.scheme not in ("http", "https") or not url.host:
        problem = f"base_url must be an absolute http(s) URL, got {url}"
    elif url.user or url.password:
        problem = "base_url must not carry credentials; pass token= instead"
    elif url.query_string or url.fragment:
        problem = "base_url must not carry a query or a fragment"
    elif url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        problem = (
            f"refusing plain http to {url.host}: the token would travel unencrypted; "
            "use https, or pass allow_insecure_http=True"
        )
    if problem:
        raise RequestValidationError(problem, {"base_url": [problem]})
    # A trailing slash lets the API paths join under any path prefix.
    path = url.path if url.path.endswith("/") else url.path + "/"
    return url.with_path(path)


def check_business_unit_id(value: object) -> str:
    """Return a business unit id (the API's `businessUnitId`) as the canonical UUID string."""
    if value is None:
        raise RequestValidationError(
            "no business unit: pass business_unit_id= to the client or to the call",
            {"business_unit_id": ["required"]},
        )
    return check_uuid(value, "business_unit_id")


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
