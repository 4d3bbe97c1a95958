"""JSON text, both ways, with exact decimals and the API's key names: the SDK's one writer.

`loads` reads every number with a fraction or an exponent as a `Decimal` (money stays exact);
`dumps` writes a `Decimal` as its own digits (`48.0000`), a model by its JSON keys. Both refuse
what is not JSON (`NaN`, `Infinity`). `to_data` is what `dumps` writes, as Python data.

This module sits at the bottom: the converter, the CLI and the fake server all use it, and it
imports nothing of the SDK, so the fake can write its own data without the SDK's converter.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import attrs

__all__ = ["datetime_text", "dumps", "json_name", "loads", "to_data"]


def json_name(attribute: attrs.Attribute[Any]) -> str:
    """Return the JSON key of a generated attribute (its `metadata["json"]`, else its name)."""
    return str(attribute.metadata.get("json", attribute.name))


def datetime_text(value: datetime) -> str:
    """Write a date-time as ISO 8601: `Z` for UTC, the offset otherwise; a naive one is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _model_members(model: Any) -> dict[str, Any]:
    """A model's members under their JSON keys; optional fields left at None are left out."""
    return {
        json_name(attribute): value
        for attribute in attrs.fields(type(model))
        if (value := getattr(model, attribute.name)) is not None or attribute.default is not None
    }


def _step(value: Any) -> Any:
    """Take a value that is not JSON data one step towards it (a model to its members)."""
    if attrs.has(type(value)):
        return _model_members(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return datetime_text(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_data(value: Any) -> Any:
    """Turn a model, or data holding models, into JSON-ready data (Decimals kept exact).

    Raises:
        TypeError: a value that has no JSON form.
    """
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | bool | int | float | Decimal):
        return value
    if isinstance(value, dict):
        return {key: to_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(item) for item in value]
    return to_data(_step(value))


_DECIMAL_MARK = re.compile(r'"\\u0000([0-9a-f]{16}):(\d+)\\u0000"')


def dumps(value: Any) -> str:
    """Write a model, or JSON-ready data, as compact JSON text with exact decimals.

    Args:
        value: a generated model, a list of them, or JSON-ready data (dicts, lists, strings,
            numbers, booleans, None; `Decimal`, `UUID`, `datetime` and enums are written as
            the API writes them; object keys as the json module writes them).

    Raises:
        TypeError: a value that has no JSON form.
        ValueError: a number that JSON cannot hold (`NaN`, `Infinity`).
    """
    decimals: list[Decimal] = []
    nonce = ""

    def default(item: Any) -> Any:
        # json.dumps can only write a float's repr as a number (48.0000 would become 48.0), so
        # each Decimal is written as a marked string and its digits put back in place below.
        # The random nonce keeps a string of the data that looks like a mark from matching.
        nonlocal nonce
        if isinstance(item, Decimal):
            if not item.is_finite():
                raise ValueError(f"{item} is not a JSON number")
            nonce = nonce or secrets.token_hex(8)
            decimals.append(item)
            return f"\x00{nonce}:{len(decimals) - 1}\x00"
        return _step(item)

    text = json.dumps(
        value, default=default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    if not decimals:
        return text

    def digits(match: re.Match[str]) -> str:
        return str(decimals[int(match[2])]) if match[1] == nonce else match[0]

    return _DECIMAL_MARK.sub(digits, text)


def _refuse_constant(name: str) -> Any:
    """`NaN` and `Infinity` are Python's extensions, not JSON."""
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)
"""One decoder for every body: json.loads with these options would build one (and its scanner)
per call."""


def loads(text: str | bytes | bytearray) -> Any:
    """Parse JSON text; numbers with a fraction or an exponent become exact `Decimal`s.

    Bytes are decoded as `json.loads` decodes them (UTF-8, -16 or -32, detected).

    Raises:
        ValueError: text that is not JSON (a `json.JSONDecodeError` where the json module
            says where), `NaN` or `Infinity`, or nesting too deep to read.
        TypeError: a value that is not text.
    """
    try:
        return _DECODER.decode(_json_text(text))
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None


def _json_text(body: str | bytes | bytearray) -> str:
    """The text of a body, exactly as json.loads reads it (encoding detected, BOM refused)."""
    if type(body) is bytes and body and 0 < body[0] < 0x80 and (len(body) == 1 or body[1]):
        # What json.detect_encoding says of bytes that start with an ASCII character and a
        # non-zero byte (no BOM starts so, nor UTF-16 or -32 text): UTF-8. Every body of
        # the API starts so; the detection, in Python, costs ten times the decoding.
        return body.decode("utf-8", "surrogatepass")
    if isinstance(body, str):
        if body.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", body, 0)
        return body
    if not isinstance(body, bytes | bytearray):
        raise TypeError(
            f"the JSON object must be str, bytes or bytearray, not {type(body).__name__}"
        )
    return body.decode(json.detect_encoding(body), "surrogatepass")
