"""Validation of a create-order request body, per the reference's table and the spec's schema.

Every problem is collected, so one 400 names every bad field, keyed the way a client spells
the field (`purchaseOrderReference`, `orderItems[0].quantity`); `$` stands for the whole body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from godeploy._json import loads
from godeploy.testing._data import NewItem, UnitRecord

__all__ = ["CreateRequest", "is_json_media_type", "validate_create"]

_REQUEST_FIELDS: Final = frozenset(
    {"purchaseOrderReference", "contactEmail", "emailKeys", "orderItems"}
)
_ITEM_FIELDS: Final = frozenset(
    {
        "featureSetId",
        "quantity",
        "sourceReference",
        "feedbackLinkUri",
        "feedbackLinkText",
        "enableFeedbackLink",
        "achievementCode",
    }
)
_OPTIONAL_ITEM_TEXT: Final = (
    "sourceReference",
    "feedbackLinkUri",
    "feedbackLinkText",
    "achievementCode",
)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A create request that passed validation."""

    reference: str
    contact_email: str | None
    email_keys: bool
    items: tuple[NewItem, ...]


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON, as ASP.NET's JSON input formatter takes it."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or (
        media.startswith("application/") and media.endswith("+json")
    )


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)


def _text(errors: _Errors, field: str, value: Any) -> str | None:
    if type(value) is not str:
        errors.add(field, f"The {field.rsplit('.', 1)[-1]} field must be a string.")
        return None
    return value


def validate_create(
    body: bytes, unit: UnitRecord | None
) -> tuple[dict[str, list[str]], CreateRequest | None]:
    """Check a create-order body; return (errors, request), exactly one of them empty.

    Args:
        body: the raw request body.
        unit: the business unit the order is for; None when the query was already invalid,
            in which case feature set ids are checked for shape only.
    """
    errors = _Errors()
    if not body.strip():
        errors.add("$", "A non-empty request body is required.")
        return errors.by_field, None
    try:
        payload = loads(body)
    except ValueError as error:
        errors.add("$", f"The request body is not valid JSON: {error}.")
        return errors.by_field, None
    if not isinstance(payload, dict):
        errors.add("$", "The request body must be a JSON object.")
        return errors.by_field, None

    for key in payload:
        if key not in _REQUEST_FIELDS:
            errors.add(key, f"'{key}' is not a field of a create-order request.")

    reference: str | None = None
    if payload.get("purchaseOrderReference") is None:
        errors.add("purchaseOrderReference", "The purchaseOrderReference field is required.")
    else:
        reference = _text(errors, "purchaseOrderReference", payload["purchaseOrderReference"])
        if reference == "":
            errors.add("purchaseOrderReference", "The purchaseOrderReference field is required.")

    email_keys = payload.get("emailKeys")
    if email_keys is None:
        errors.add("emailKeys", "The emailKeys field is required.")
    elif type(email_keys) is not bool:
        errors.add("emailKeys", "The emailKeys field must be a boolean.")

    contact_email: str | None = None
    if "contactEmail" in payload:
        contact_email = _text(errors, "contactEmail", payload["contactEmail"])
    if email_keys is True and not contact_email and "contactEmail" not in errors.by_field:
        errors.add("contactEmail", "The contactEmail field is required when emailKeys is true.")

    items = _items(errors, payload.get("orderItems"), unit)

    if errors.by_field or reference is None or type(email_keys) is not bool or items is None:
        return errors.by_field, None
    return {}, CreateRequest(reference, contact_email, email_keys, items)


def _items(errors: _Errors, value: Any, unit: UnitRecord | None) -> tuple[NewItem, ...] | None:
    if value is None:
        errors.add("orderItems", "The orderItems field is required.")
        return None
    if type(value) is not list:
        errors.add("orderItems", "The orderItems field must be an array.")
        return None
    if not value:
        errors.add("orderItems", "The orderItems field must contain at least one item.")
        return None
    items: list[NewItem] = []
    for index, item in enumerate(value):
        new_item = _item(errors, f"orderItems[{index}]", item, unit)
        if new_item is not None:
            items.append(new_item)
    return tuple(items) if len(items) == len(value) else None


def _item(errors: _Errors, prefix: str, item: Any, unit: UnitRecord | None) -> NewItem | None:
    if type(item) is not dict:
        errors.add(prefix, "An order item must be a JSON object.")
        return None
    before = len(errors.by_field)
    for key in item:
        if key not in _ITEM_FIELDS:
            errors.add(f"{prefix}.{key}", f"'{key}' is not a field of an order item.")

    feature_set = None
    raw_id = item.get("featureSetId")
    if raw_id is None:
        errors.add(f"{prefix}.featureSetId", "The featureSetId field is required.")
    elif (text := _text(errors, f"{prefix}.featureSetId", raw_id)) is not None:
        try:
            feature_set_id: UUID | None = UUID(text)
        except ValueError:
            feature_set_id = None
        if unit is not None:
            feature_set = unit.feature_set_by_id.get(feature_set_id) if feature_set_id else None
            if feature_set is None:
                errors.add(
                    f"{prefix}.featureSetId",
                    f"Feature set '{text}' does not exist in business unit {unit.id}.",
                )

    quantity = item.get("quantity")
    if quantity is None:
        errors.add(f"{prefix}.quantity", "The quantity field is required.")
    elif type(quantity) is not int:
        errors.add(f"{prefix}.quantity", "The quantity field must be an integer.")
    elif quantity < 1:
        # No upper bound: the spec states none (the vendor's is probably int32's maximum).
        errors.add(f"{prefix}.quantity", "The quantity field must be at least 1.")

    texts: dict[str, str | None] = {}
    for key in _OPTIONAL_ITEM_TEXT:
        texts[key] = _text(errors, f"{prefix}.{key}", item[key]) if key in item else None
    enable_feedback_link = item.get("enableFeedbackLink", False)
    if type(enable_feedback_link) is not bool:
        errors.add(
            f"{prefix}.enableFeedbackLink", "The enableFeedbackLink field must be a boolean."
        )

    if len(errors.by_field) != before or feature_set is None or type(quantity) is not int:
        return None
    return NewItem(
        feature_set=feature_set,
        quantity=quantity,
        enable_feedback_link=bool(enable_feedback_link),
        source_reference=texts["sourceReference"],
        feedback_link_uri=texts["feedbackLinkUri"],
        feedback_link_text=texts["feedbackLinkText"],
        achievement_code=texts["achievementCode"],
    )
