"""The one cattrs converter: JSON bodies to generated attrs models and back.

`configure_converter(c)` states every rule once; `converter` is the configured instance the SDK
uses. Rules:

- attributes are snake_case, the JSON names live in each field's `metadata["json"]`;
- money is `Decimal` end to end (JSON floats are parsed with `parse_float=Decimal`);
- UUIDs and both of the API's datetime shapes; a datetime without an offset is UTC;
- unknown JSON keys are ignored; unknown enum values are kept (the generated enums are open);
- nothing is coerced: `"1"` is not an int and `"48.00"` is not money;
- optional fields left at None are omitted when a model is turned into JSON.

A body that does not fit raises `ResponseValidationError` naming the place in the API's own key
names (`$.items[3].orderStatus`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
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
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from godeploy._exceptions import ResponseValidationError

__all__ = [
    "configure_converter",
    "converter",
    "decode_json",
    "dumps",
    "json_name",
    "structure",
    "structure_json",
    "unstructure",
]

T = TypeVar("T")


def json_name(attribute: attrs.Attribute[Any]) -> str:
    """Return the JSON key of a generated attribute."""
    return str(attribute.metadata.get("json", attribute.name))


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


def _structure_dict_factory(c: Converter, *, detailed: bool) -> Callable[[Any], Any]:
    """Build dict hooks that take a JSON object; the detailed twin names the failing key."""

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
                    if not detailed:
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


def _structure_uuid(value: Any, _: Any) -> UUID:
    """A UUID from its string form."""
    if type(value) is not str:
        raise TypeError(f"expected a UUID string, got {_json_type(value)}")
    return UUID(value)


def _structure_datetime(value: Any, _: Any) -> datetime:
    """Both shapes the API sends; an offset-less time is read as UTC."""
    if type(value) is not str:
        raise TypeError(f"expected a date-time string, got {_json_type(value)}")
    # fromisoformat takes any count of fractional digits from 3.11 on and keeps microseconds.
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _unstructure_datetime(value: datetime) -> str:
    """ISO 8601, `Z` for UTC, an offset otherwise."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _structure_attrs_factory(c: Converter, *, detailed: bool) -> Callable[[type[Any]], Any]:
    """Build structure hooks that read each attribute from its JSON key."""

    def factory(cl: type[Any]) -> Any:
        overrides: dict[str, Any] = {
            a.name: override(rename=json_name(a)) for a in attrs.fields(cl)
        }
        inner = make_dict_structure_fn(
            cl,
            c,
            _cattrs_forbid_extra_keys=False,
            _cattrs_detailed_validation=detailed,
            **overrides,
        )

        def hook(value: Any, _: Any) -> Any:
            # Without this a list, a string or null fails inside with a Python error message
            # and a path that names the first field of the model instead of the model's place.
            _require(value, dict, "an object")
            return inner(value, cl)

        return hook

    return factory


def _unstructure_attrs_factory(c: Converter) -> Callable[[type[Any]], Any]:
    """Build unstructure hooks that write JSON keys and leave out unset optional fields."""

    def factory(cl: type[Any]) -> Any:
        overrides: dict[str, Any] = {
            a.name: override(rename=json_name(a), omit_if_default=a.default is None)
            for a in attrs.fields(cl)
        }
        return make_dict_unstructure_fn(cl, c, **overrides)

    return factory


def configure_converter(c: Converter, *, detailed: bool = False) -> Converter:
    """Apply the SDK's JSON rules to a converter and return it."""
    c.register_structure_hook(int, _strict(int, "an integer"))
    c.register_structure_hook(str, _strict(str, "a string"))
    c.register_structure_hook(bool, _strict(bool, "a boolean"))
    c.register_structure_hook(float, _structure_float)
    c.register_structure_hook(Decimal, _structure_decimal)
    c.register_structure_hook(UUID, _structure_uuid)
    c.register_structure_hook(datetime, _structure_datetime)
    c.register_unstructure_hook(UUID, str)
    c.register_unstructure_hook(datetime, _unstructure_datetime)
    c.register_unstructure_hook(Decimal, lambda value: value)
    c.register_structure_hook_factory(_is_list, _structure_list_factory(c))
    c.register_structure_hook_factory(_is_dict, _structure_dict_factory(c, detailed=detailed))
    c.register_structure_hook_factory(attrs.has, _structure_attrs_factory(c, detailed=detailed))
    c.register_unstructure_hook_factory(attrs.has, _unstructure_attrs_factory(c))
    return c


converter = configure_converter(Converter(detailed_validation=False))
"""The SDK's converter: fast, and the one to use."""

# Decoding goes through the fast converter; only a body that fails is decoded again by this twin,
# whose slower detailed validation says where it failed.
_explaining_converter = configure_converter(Converter(detailed_validation=True), detailed=True)


def structure(data: Any, cl: type[T], *, url: Any = None) -> T:
    """Turn decoded JSON into a model, or raise `ResponseValidationError` naming the place."""
    try:
        return converter.structure(data, cl)
    except Exception:  # noqa: BLE001, S110 - the detailed twin below explains any failure
        pass
    try:
        _explaining_converter.structure(data, cl)
    except Exception as error:  # noqa: BLE001 - every shape of cattrs failure becomes one error
        path, reason = _first_failure(error)
        raise ResponseValidationError(
            f"response does not fit {cl.__name__} at {path}: {reason}", path=path, url=url
        ) from None
    # The fast path failed but the detailed one did not: cannot happen with these hooks.
    raise ResponseValidationError(f"response does not fit {cl.__name__}", url=url)


def decode_json(body: bytes | str, *, url: Any = None) -> Any:
    """Parse a JSON body with exact decimals, or raise `ResponseValidationError`."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise ResponseValidationError(f"response is not JSON: {error}", url=url) from None


def structure_json(body: bytes | str, cl: type[T], *, url: Any = None) -> T:
    """Parse a JSON body and turn it into a model."""
    return structure(decode_json(body, url=url), cl, url=url)


def unstructure(model: Any) -> Any:
    """Turn a model into JSON-ready data with the API's key names."""
    return converter.unstructure(model)


def dumps(model: Any) -> str:
    """Serialise a model to compact JSON text, decimals written exactly (`48.0000`)."""
    return _write(unstructure(model))


def _refuse_constant(name: str) -> Any:
    """`NaN` and `Infinity` are Python's extensions, not JSON."""
    raise ValueError(f"{name} is not a JSON value")


def _write(value: Any) -> str:
    """Write JSON-ready data as JSON text.

    json.dumps cannot write a Decimal as a number without going through a binary float (its
    encoders call float.__repr__, so `48.0000` would come out as `48.0` and long decimals
    rounded), hence this small writer.
    """
    if isinstance(value, str):
        return json.dumps(value)
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value, allow_nan=False)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return str(value)
    if isinstance(value, dict):
        members = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"cannot write the key {key!r} as JSON: keys are strings")
            members.append(json.dumps(key) + ":" + _write(item))
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_write(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _json_type(value: Any) -> str:
    """Name a value's JSON type for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
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
    while isinstance(current, (ClassValidationError, IterableValidationError)):
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
        return f".{index}" if _PLAIN_KEY.match(index) else f"[{json.dumps(index)}]"
    return f"[{index}]"


def _json_key(cl: Any, attribute_name: str) -> str:
    """Map an attribute name back to its JSON key."""
    if attrs.has(cl):
        for attribute in attrs.fields(cl):
            if attribute.name == attribute_name:
                return json_name(attribute)
    return attribute_name
