"""`orders create --file order.json`: the API's JSON create body, read into the SDK's keywords."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import typer

from godeploy import CreateOrderItem, CreateOrderRequest, loads
from godeploy._json import json_name

__all__ = ["read_order_file"]


def _json_to_attribute(model: type[Any]) -> dict[str, str]:
    """Map each JSON key of a generated model to its snake_case attribute."""
    return {json_name(field): field.name for field in attrs.fields(model)}


_REQUEST_KEYS = _json_to_attribute(CreateOrderRequest)
_ITEM_KEYS = _json_to_attribute(CreateOrderItem)


def read_order_file(path: Path | str) -> dict[str, Any]:
    """Read a create-order body and return the keywords of `client.orders.create`.

    Only the shape is checked here (a JSON object with the reference's camelCase keys); the
    values are passed on as they are, so the SDK's own checks name every bad field at once.

    Args:
        path: a JSON file like the reference's "Create an Order" example request (the
            `--file` option's parser: it is read while the command line is parsed).

    Returns:
        `purchase_order_reference`, `email_keys`, `contact_email` and `order_items` (each item
        a dict with snake_case keys, or left as it was when it is not a JSON object).

    Raises:
        click.BadParameter: the file cannot be read, is not JSON, or has unknown keys (exit 2).
    """
    path = Path(path)
    body = _load_json(path)
    if not isinstance(body, dict):
        raise _bad_file(f"{path} is not a JSON object")
    keywords = _rename(body, _REQUEST_KEYS, place=str(path))
    items = keywords.get("order_items")
    if isinstance(items, list):
        keywords["order_items"] = [
            _rename(item, _ITEM_KEYS, place=f"{path}: orderItems[{index}]")
            if isinstance(item, dict)
            else item
            for index, item in enumerate(items)
        ]
    return {name: keywords.get(name) for name in _REQUEST_KEYS.values()}


def _load_json(path: Path) -> Any:
    """The file's JSON value."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise _bad_file(f"cannot read {path}: {reason}") from None
    try:
        return loads(text)
    except ValueError as error:
        raise _bad_file(f"{path} is not JSON ({error})") from None


def _rename(body: dict[str, Any], keys: dict[str, str], *, place: str) -> dict[str, Any]:
    """Rename camelCase keys to attributes; refuse keys the API does not know."""
    unknown = sorted(key for key in body if key not in keys)
    if unknown:
        known = ", ".join(sorted(keys))
        raise _bad_file(f"{place}: unknown keys {unknown} (expected some of: {known})")
    return {keys[key]: value for key, value in body.items()}


def _bad_file(message: str) -> typer.BadParameter:
    """Click's usage error for the `--file` option."""
    return typer.BadParameter(message, param_hint="'--file'")
