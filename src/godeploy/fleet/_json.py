"""JSON for everything the fleet puts in Redis: job payloads, arq's records and results.

Never pickle: whoever can write to the Redis could otherwise run code in every worker. Numbers
keep their exact decimals (`48.0000`), as the API sent them.
"""

from __future__ import annotations

from typing import Any

# The one place the fleet reaches the SDK's JSON writer and reader (godeploy._json, whose
# `dumps`/`loads` are public as `godeploy.dumps`/`godeploy.loads`).
from godeploy._converter import decode_json
from godeploy._json import dumps

__all__ = ["decode", "encode", "job_deserializer", "job_serializer"]


def encode(data: Any) -> bytes:
    """Models or JSON-ready data as compact UTF-8 JSON, decimals exactly."""
    return dumps(data).encode()


def decode(body: bytes | str) -> Any:
    """JSON (decimals as `Decimal`); anything else raises `ResponseValidationError`."""
    return decode_json(body)


def job_serializer(record: dict[str, Any]) -> bytes:
    """Arq's `job_serializer`: a job or its result record as JSON.

    arq records a failed job's exception as its result: it is written as its type and message.
    """
    return encode({key: _plain(value) for key, value in record.items()})


def job_deserializer(body: bytes) -> dict[str, Any]:
    """Arq's `job_deserializer`: JSON only; anything else (a pickle) is refused unread.

    Raises:
        ValueError: the body is not a JSON object (arq then fails that job, unrun).
    """
    if not body.lstrip()[:1] == b"{":
        # A pickle starts with b"\\x80": refused before any parser looks further.
        raise ValueError("a fleet job must be a JSON object")
    record = decode(body)
    if not isinstance(record, dict):
        raise ValueError("a fleet job must be a JSON object")
    return record


def _plain(value: Any) -> Any:
    """A value arq hands over, made JSON-ready (tuples as lists, exceptions as text)."""
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value
