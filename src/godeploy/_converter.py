"""The converter: decoded JSON to generated attrs models and back, by one set of rules.

`configure_converter(c)` states every rule once, on any cattrs `Converter`:

- attributes are snake_case, the JSON names live in each field's `metadata["json"]`;
- money is `Decimal` end to end (JSON is read with exact decimals, see `godeploy.loads`);
- UUIDs, and date-times in the spec's pattern (with or without an offset; none means UTC);
- unknown JSON keys are ignored; unknown enum values are kept (the generated enums are open);
- nothing is coerced: `"1"` is not an int and `"48.00"` is not money;
- optional fields left at None are omitted when a model is turned into JSON.

One function turns JSON into a model, `structure` (`structure_json` parses first): through the
model's generated decoder (`_generated/decoders.py`, written by `make codegen`: the same rules,
checked inline, calling this converter's hooks for the leaves), or the converter for a type
codegen did not write one for. One function explains a refusal, `_explain`: the converter's
detailed validation names the place in the API's own key names (`$.items[3].orderStatus`) in
the `ResponseValidationError`. `make bench` section 4 keeps the decoders honest: they are kept
because they decode 1.4-1.5x faster than cattrs' own generated functions under these rules.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar, get_args, get_origin
from uuid import UUID

import attrs
from cattrs import Converter
from cattrs.cols import list_structure_factory
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from godeploy._exceptions import ResponseValidationError
from godeploy._generated.decoders import make_decoders
from godeploy._json import datetime_text, dumps, json_name, loads, to_data

__all__ = [
    "DATE_TIME_PATTERN",
    "configure_converter",
    "decode_json",
    "structure",
    "structure_json",
    "unstructure",
]

T = TypeVar("T")

DATE_TIME_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$"
)
"""The spec's pattern of `Order.created` (tests/test_converter.py checks it is the spec's)."""

_DATE_TIME_MATCH = re.compile(DATE_TIME_PATTERN).fullmatch
_OFFSET_GROUP = 5
"""The pattern's group holding `Z` or the offset (None when the text has neither)."""
_FROM_ISO = datetime.fromisoformat


def _strict(kind: type[Any], name: str) -> Callable[[Any, Any], Any]:
    """Return a structure hook that accepts exactly one JSON type and converts nothing.

    The hook also serves subclasses of `kind` (the hook of `str` is the one cattrs finds for a
    `StrEnum`): a value of the right JSON type becomes an instance of the target class.
    """

    def hook(value: Any, cl: Any) -> Any:
        # bool is an int subclass in Python, but never a number in a JSON contract.
        if type(value) is not kind:
            raise TypeError(f"expected {name}, got {_json_type(value)}")
        return value if cl is kind else cl(value)

    return hook


def _require(value: Any, kind: type[Any], name: str) -> None:
    """Refuse a value that is not exactly of one JSON container type."""
    if type(value) is not kind:
        raise TypeError(f"expected {name}, got {_json_type(value)}")


def _is_list(t: Any) -> bool:
    return t is list or get_origin(t) is list


def _is_dict(t: Any) -> bool:
    return t is dict or get_origin(t) is dict


def _structure_list_factory(c: Converter) -> Callable[[Any], Any]:
    """Build list hooks that take a JSON array and nothing else (not a string, not an object)."""

    def factory(t: Any) -> Any:
        inner = list_structure_factory(t, c)

        def hook(value: Any, cl: Any) -> Any:
            _require(value, list, "an array")
            return inner(value, cl)

        return hook

    return factory


def _structure_dict_factory(c: Converter) -> Callable[[Any], Any]:
    """Build dict hooks that take a JSON object; with detailed validation, name the failing key."""

    def factory(t: Any) -> Any:
        key_type, value_type = get_args(t) or (Any, Any)

        def hook(value: Any, _: Any) -> Any:
            _require(value, dict, "an object")
            result: dict[Any, Any] = {}
            errors: list[Exception] = []
            for key, item in value.items():
                try:
                    result[c.structure(key, key_type)] = c.structure(item, value_type)
                except Exception as error:
                    if not c.detailed_validation:
                        raise
                    note = IterableValidationNote(
                        f"Structuring value @ key {key!r}", key, value_type
                    )
                    error.__notes__ = [*getattr(error, "__notes__", []), note]
                    errors.append(error)
            if errors:
                raise IterableValidationError(f"While structuring {t!r}", errors, t)
            return result

        return hook

    return factory


def _structure_attrs_factory(c: Converter) -> Callable[[type[Any]], Any]:
    """Build structure hooks that read each attribute from its JSON key."""

    def factory(cl: type[Any]) -> Any:
        overrides = {a.name: override(rename=json_name(a)) for a in attrs.fields(cl)}
        inner = make_dict_structure_fn(
            cl,
            c,
            _cattrs_forbid_extra_keys=False,
            _cattrs_detailed_validation=c.detailed_validation,
            **overrides,  # type: ignore[arg-type]
        )

        def hook(value: Any, _: Any) -> Any:
            # Without this a list, a string or null fails inside with a Python error message
            # and a path that names the first field of the model instead of the model's place.
            _require(value, dict, "an object")
            return inner(value, cl)

        return hook

    return factory


def _structure_decimal(value: Any, _: Any) -> Decimal:
    """Money: a JSON number, kept exact."""
    if type(value) is Decimal:
        return value
    if type(value) is int:
        return Decimal(value)
    raise TypeError(f"expected a number, got {_json_type(value)}")


def _structure_float(value: Any, _: Any) -> float:
    """A non-money number (decoded as Decimal, since every JSON float is)."""
    if type(value) in (Decimal, int, float):
        return float(value)
    raise TypeError(f"expected a number, got {_json_type(value)}")


_UUID_CACHE: dict[str, UUID] = {}
_UUID_CACHE_SIZE = 4096
"""A page repeats the same few UUIDs (the business unit, its users and order sources) on every
order, and UUID() is slow pure Python: equal strings share one (immutable) UUID object."""


def _structure_uuid(value: Any, _: Any) -> UUID:
    """A UUID from its string form."""
    if type(value) is not str:
        raise TypeError(f"expected a UUID string, got {_json_type(value)}")
    cached = _UUID_CACHE.get(value)
    if cached is None:
        cached = UUID(value)
        if len(_UUID_CACHE) >= _UUID_CACHE_SIZE:
            _UUID_CACHE.clear()
        _UUID_CACHE[value] = cached
    return cached


def _structure_datetime(value: Any, _: Any) -> datetime:
    """A date-time in the spec's pattern; one without an offset is read as UTC."""
    if type(value) is not str:
        raise TypeError(f"expected a date-time string, got {_json_type(value)}")
    # fromisoformat alone also takes a bare date, a space for the T, basic format and more.
    match = _DATE_TIME_MATCH(value)
    if match is None:
        raise ValueError(f"expected a date-time like 2019-02-24T20:04:30.473, got {value!r}")
    # fromisoformat takes any count of fractional digits from 3.11 on and keeps microseconds.
    # Naming UTC in the text costs a fifth of what datetime.replace(tzinfo=UTC) does.
    return _FROM_ISO(value if match[_OFFSET_GROUP] else value + "+00:00")


def _unstructure_str_enum(value: StrEnum) -> str:
    """A string enum's member as its plain string."""
    return str(value.value)


def configure_converter(c: Converter) -> Converter:
    """Apply the SDK's JSON rules to a cattrs converter and return it.

    Detailed validation (cattrs' default) makes errors name the failing key; the rules are the
    same either way.
    """
    c.register_structure_hook(int, _strict(int, "an integer"))
    c.register_structure_hook(str, _strict(str, "a string"))
    c.register_structure_hook(bool, _strict(bool, "a boolean"))
    c.register_structure_hook(float, _structure_float)
    c.register_structure_hook(Decimal, _structure_decimal)
    c.register_structure_hook(UUID, _structure_uuid)
    c.register_structure_hook(datetime, _structure_datetime)
    c.register_structure_hook_factory(_is_list, _structure_list_factory(c))
    c.register_structure_hook_factory(_is_dict, _structure_dict_factory(c))
    c.register_structure_hook_factory(attrs.has, _structure_attrs_factory(c))
    # Writing goes through godeploy's JSON module, so that `dumps` and `unstructure` agree. An
    # enum member (an open `OrderStatus` too) is written as its plain string, so that what
    # `unstructure` gives is what `structure` takes back (it takes exact JSON types only).
    c.register_unstructure_hook(UUID, str)
    c.register_unstructure_hook(datetime, datetime_text)
    c.register_unstructure_hook(Decimal, lambda value: value)
    c.register_unstructure_hook(StrEnum, _unstructure_str_enum)
    c.register_unstructure_hook_factory(attrs.has, lambda _: to_data)
    return c


_CONVERTER = configure_converter(Converter())
"""The SDK's converter (detailed validation): it explains bodies the decoders refuse."""

_DECODERS = make_decoders(_CONVERTER.get_structure_hook)
"""The generated decoder of each generated model: the fast path."""


def structure(data: Any, cl: type[T], *, url: Any = None) -> T:
    """Turn decoded JSON into a model, or raise `ResponseValidationError` naming the place.

    Args:
        data: decoded JSON (`godeploy.loads`, with exact decimals).
        cl: the model (or any type the converter knows, such as `list[Order]`).
        url: the URL the body came from, for the error.
    """
    collecting = gc.isenabled()
    # Decoding a page allocates thousands of containers that all live on (the models), and
    # every 700 of them set off a collection that walks the young ones again: a third of the
    # time of a large page. Nothing decoded holds a cycle, so the collector waits until the
    # end (and is left off if it was off). `make bench` section 4 measures it.
    gc.disable()
    try:
        return _structure(data, cl, url)
    finally:
        if collecting:
            gc.enable()


def _structure(data: Any, cl: type[T], url: Any) -> T:
    """`structure`, with the collector off already."""
    decode = _DECODERS.get(cl)
    try:
        if decode is not None:
            return decode(data)  # type: ignore[no-any-return]
        return _CONVERTER.structure(data, cl)
    except Exception as error:  # noqa: BLE001 - whatever the refusal, it is explained
        explained = _explain(data, cl, url, error)
        raise explained from explained.__cause__  # cattrs' error tree is no cause to read


def _explain(data: Any, cl: Any, url: Any, error: Exception) -> ResponseValidationError:
    """Why `data` does not fit `cl`: the converter's detailed validation names the place."""
    try:
        _CONVERTER.structure(data, cl)
    except Exception as detailed:  # noqa: BLE001 - every shape of cattrs failure becomes one error
        path, reason = _first_failure(detailed)
        # The path and reason say it all; cattrs' error tree is no cause a user needs to read.
        return ResponseValidationError(
            f"response does not fit {_type_name(cl)} at {path}: {reason}", path=path, url=url
        )
    # The decoder refused what the converter takes: a decoder out of step with the converter.
    explained = ResponseValidationError(f"response does not fit {_type_name(cl)}: {error}", url=url)
    explained.__cause__ = error
    return explained


def _type_name(cl: Any) -> str:
    return str(getattr(cl, "__name__", cl))


def decode_json(body: bytes | str, *, url: Any = None) -> Any:
    """Parse a JSON body with exact decimals, or raise `ResponseValidationError`."""
    try:
        return loads(body)
    except ValueError as error:
        raise ResponseValidationError(f"response is not JSON: {error}", url=url) from None


def structure_json(body: bytes | str, cl: type[T], *, url: Any = None) -> T:
    """Parse a JSON body and turn it into a model (`structure`), or raise the validation error."""
    collecting = gc.isenabled()
    gc.disable()  # for the parse too: it builds the same number of containers (see structure)
    try:
        return _structure(decode_json(body, url=url), cl, url)
    finally:
        if collecting:
            gc.enable()


def unstructure(model: Any) -> Any:
    """Turn a model into JSON-ready data with the API's key names (what `godeploy.dumps` writes).

    Args:
        model: a generated model, a list of them, or data holding them.
    """
    return to_data(model)


def _json_type(value: Any) -> str:
    """Name a value's JSON type for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _first_failure(error: BaseException) -> tuple[str, str]:
    """Walk a cattrs error tree to its first leaf; return its JSON path and reason."""
    path = "$"
    current: BaseException = error
    while isinstance(current, ClassValidationError | IterableValidationError):
        if not current.exceptions:
            break
        inner = current.exceptions[0]
        notes = getattr(inner, "__notes__", [])
        note = next((n for n in notes if hasattr(n, "name") or hasattr(n, "index")), None)
        if isinstance(current, ClassValidationError) and hasattr(note, "name"):
            path += "." + _json_key(current.cl, note.name)  # type: ignore[union-attr]
        elif hasattr(note, "index"):
            path += _index_step(note.index)  # type: ignore[union-attr]
        current = inner
    if isinstance(current, ForbiddenExtraKeysError):
        return path, f"unexpected keys {sorted(current.extra_fields)}"
    if isinstance(current, KeyError):
        return path, "required field is missing"
    reason = str(current) or type(current).__name__
    return path, reason


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _index_step(index: Any) -> str:
    """A path step for a list index (`[3]`) or an object key (`.name`, `["odd key"]`)."""
    if isinstance(index, str):
        return f".{index}" if _PLAIN_KEY.match(index) else f"[{dumps(index)}]"
    return f"[{index}]"


def _json_key(cl: Any, attribute_name: str) -> str:
    """Map an attribute name back to its JSON key."""
    if attrs.has(cl):
        for attribute in attrs.fields(cl):
            if attribute.name == attribute_name:
                return json_name(attribute)
    return attribute_name
