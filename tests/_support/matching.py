"""Compare what the SDK decoded with the JSON data it came from, field by field.

The fake's accessors give JSON data as the API sends it (`FakeGoDeploy.order()` and the like),
never models: decoding the fake's truth through the SDK's own converter would let a converter
bug cancel out. These checks read the JSON side with nothing of the SDK: UUIDs with `UUID()`,
date-times with `fromisoformat` (no offset means UTC), money digit for digit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import attrs

__all__ = ["assert_matches", "mismatches"]


def _time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def mismatches(value: Any, data: Any, path: str = "$") -> list[str]:
    """Every place where a decoded value differs from its JSON data (empty when they agree)."""
    if attrs.has(type(value)):
        if not isinstance(data, dict):
            return [f"{path}: a {type(value).__name__} from {data!r}"]
        found: list[str] = []
        keys = set()
        for attribute in attrs.fields(type(value)):
            key = attribute.metadata.get("json", attribute.name)
            keys.add(key)
            member = getattr(value, attribute.name)
            if key not in data:
                if member is not None:
                    found.append(f"{path}.{key}: {member!r} without the key in the JSON")
                continue
            found += mismatches(member, data[key], f"{path}.{key}")
        found += [f"{path}.{key}: in the JSON, not in the model" for key in set(data) - keys]
        return found
    if isinstance(value, list):
        if not isinstance(data, list) or len(data) != len(value):
            return [f"{path}: {len(value)} items from {data!r}"]
        return [
            problem
            for index, (item, raw) in enumerate(zip(value, data, strict=True))
            for problem in mismatches(item, raw, f"{path}[{index}]")
        ]
    if isinstance(value, Enum):
        agree = type(data) is str and data == value.value
    elif isinstance(value, UUID):
        agree = type(data) is str and UUID(data) == value
    elif isinstance(value, datetime):
        agree = type(data) is str and _time(data) == value
    elif isinstance(value, Decimal):
        agree = type(data) in (Decimal, int) and str(data) == str(value)
    else:
        agree = type(data) is type(value) and data == value
    return [] if agree else [f"{path}: {value!r} from {data!r}"]


def assert_matches(value: Any, data: Any) -> None:
    """Assert that a decoded model (or list of them) says what its JSON data says."""
    problems = mismatches(value, data)
    assert not problems, "\n".join(problems)
