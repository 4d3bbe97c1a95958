"""A run's state in Redis: its keys and its results' JSON (the scripts that change it: `_scripts`).

Keys of run R in namespace N (every one expires with the run, `ttl` after its last submit):

    N:run:R:meta       hash: chunk_size, stride, chunks, total, submitted, cancelled,
                       max_unread, succeeded, failed, duplicates, skipped_on_rerun, ttl_ms
    N:run:R:recorded   bitmap: bit chunk * stride + i is set once order i of chunk is recorded
    N:run:R:done       bitmap: bit c is set once every order of chunk c is recorded
    N:run:R:digests    hash: chunk -> digest of its order ids (a resubmit must match)
    N:run:R:results    list: results not read yet, oldest first
    N:run:R:reading    list: results handed to a reader, not acknowledged yet

Chunks start on a byte boundary of `recorded` (`stride` is `chunk_size` rounded up to 8), so
BITCOUNT's byte ranges count one chunk (Redis 6.2 has no bit ranges).
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from attrs import define

from godeploy import _exceptions
from godeploy._converter import structure
from godeploy._exceptions import (
    APIConnectionError,
    GoDeployError,
    PaginationError,
    ResponseValidationError,
)
from godeploy._generated.models import OrderItem
from godeploy.fleet import _json
from godeploy.resources.order_items import OrderItemsResult

__all__ = [
    "JOB_FUNCTION",
    "RunKeys",
    "chunk_digest",
    "decode_result",
    "encode_result",
    "job_id",
]

JOB_FUNCTION: Final = "godeploy_fleet_chunk"
"""The arq function name of a chunk's job."""


@define(frozen=True)
class RunKeys:
    """The Redis keys of one run."""

    namespace: str
    run_id: str

    @property
    def prefix(self) -> str:
        """What every key of the run starts with."""
        return f"{self.namespace}:run:{self.run_id}"

    @property
    def meta(self) -> str:
        """The run's hash of settings and counters."""
        return f"{self.prefix}:meta"

    @property
    def recorded(self) -> str:
        """The bitmap of recorded orders."""
        return f"{self.prefix}:recorded"

    @property
    def done(self) -> str:
        """The bitmap of finished chunks."""
        return f"{self.prefix}:done"

    @property
    def digests(self) -> str:
        """The hash of each chunk's digest."""
        return f"{self.prefix}:digests"

    @property
    def results(self) -> str:
        """The list of unread results."""
        return f"{self.prefix}:results"

    @property
    def reading(self) -> str:
        """The list of results handed to a reader and not acknowledged yet."""
        return f"{self.prefix}:reading"

    @property
    def job_prefix(self) -> str:
        """Job ids are this and the chunk's index."""
        return f"{self.namespace}:{self.run_id}:"

    def all(self) -> list[str]:
        """Every key, for expiry."""
        return [self.meta, self.recorded, self.done, self.digests, self.results, self.reading]


def job_id(keys: RunKeys, chunk: int) -> str:
    """The deterministic arq job id of a chunk: the same run and chunk, the same job."""
    return f"{keys.job_prefix}{chunk}"


def chunk_digest(order_ids: list[int]) -> str:
    """A short digest of a chunk's order ids, to catch a resubmit with other orders."""
    text = ",".join(map(str, order_ids)).encode()
    return hashlib.blake2b(text, digest_size=12).hexdigest()


def encode_result(result: OrderItemsResult, *, with_items: bool) -> bytes:
    """A result as JSON: the order, its items (unless a hook stored them), and the error."""
    record: dict[str, Any] = {"orderId": result.order_id}
    if with_items:
        record["items"] = result.items
    record["error"] = None if result.error is None else _encode_error(result.error)
    return _json.encode(record)


def decode_result(body: bytes) -> OrderItemsResult:
    """A result read back from Redis."""
    record = _json.decode(body)
    items = structure(record.get("items", []), list[OrderItem])
    error = None if record["error"] is None else _decode_error(record["error"])
    return OrderItemsResult(order_id=record["orderId"], items=items, error=error)


_ERROR_FIELDS: Final = ("status", "method", "url", "request_id", "retry_after", "path")


def _encode_error(error: GoDeployError) -> dict[str, Any]:
    """What a result keeps of an error: its type, message and plain attributes."""
    record: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    for name in _ERROR_FIELDS:
        value = getattr(error, name, None)
        if value is not None:
            record[name] = str(value) if name == "url" else value
    if isinstance(error, APIConnectionError):
        record["request_sent"] = error.request_sent
    return record


_STATUS_ERRORS: Final = {
    kind.__name__: kind
    for kind in (
        _exceptions.APIStatusError,
        _exceptions.BadRequestError,
        _exceptions.AuthenticationError,
        _exceptions.PermissionDeniedError,
        _exceptions.NotFoundError,
        _exceptions.MethodNotAllowedError,
        _exceptions.NotAcceptableError,
        _exceptions.GoneError,
        _exceptions.RateLimitError,
        _exceptions.InternalServerError,
        _exceptions.ServiceUnavailableError,
    )
}
"""The status errors a result may carry, by the name a record holds."""
_CONNECTION_ERRORS: Final = {
    kind.__name__: kind for kind in (APIConnectionError, _exceptions.APITimeoutError)
}


def _decode_error(record: dict[str, Any]) -> GoDeployError:
    """Rebuild an error through the maps above; any other name gives a plain `GoDeployError`.

    Nothing named in a record is ever looked up or called: whoever can write to the Redis
    picks at most one of these classes.
    """
    name = str(record.get("type"))
    message = str(record.get("message", ""))
    url = str(record.get("url") or "")
    method = str(record.get("method") or "GET")
    if name in _STATUS_ERRORS:
        retry_after = record.get("retry_after")
        return _STATUS_ERRORS[name](
            message,
            status=int(record.get("status", 0)),
            method=method,
            url=url,
            request_id=record.get("request_id"),
            retry_after=None if retry_after is None else float(retry_after),
        )
    if name in _CONNECTION_ERRORS:
        sent = record.get("request_sent", True)
        return _CONNECTION_ERRORS[name](message, method=method, url=url, request_sent=sent is True)
    if name == ResponseValidationError.__name__:
        return ResponseValidationError(message, path=str(record.get("path", "$")), url=url or None)
    if name == PaginationError.__name__:
        return PaginationError(message)
    return GoDeployError(f"{name}: {message}" if name != GoDeployError.__name__ else message)
