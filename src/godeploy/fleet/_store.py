"""A run's state in Redis: its keys, the Lua scripts that change it, and its results' JSON.

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

from godeploy._converter import structure
from godeploy._exceptions import (
    APIConnectionError,
    APIStatusError,
    GoDeployError,
    ResponseValidationError,
)
from godeploy._exceptions import __all__ as _error_names
from godeploy._generated.models import OrderItem
from godeploy.fleet import _json
from godeploy.resources.order_items import OrderItemsResult

__all__ = [
    "CANCEL",
    "CHUNK_STATE",
    "JOB_FUNCTION",
    "MARK_DONE",
    "OPEN_RUN",
    "PLAN_CHUNK",
    "RECORD",
    "SETTLE",
    "TAKE",
    "RunKeys",
    "chunk_digest",
    "decode_result",
    "encode_result",
    "job_id",
    "run_script",
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


async def run_script(redis: Any, script: str, keys: list[str], *args: str | int | bytes) -> Any:
    """Run one of these Lua scripts (EVAL: Redis keeps each compiled, keyed by its text).

    `redis` is typed Any: redis-py's stubs give every asyncio command an `Awaitable | value`
    result and `str` arguments.
    """
    return await redis.eval(script, len(keys), *keys, *args)


def job_id(keys: RunKeys, chunk: int) -> str:
    """The deterministic arq job id of a chunk: the same run and chunk, the same job."""
    return f"{keys.job_prefix}{chunk}"


def chunk_digest(order_ids: list[int]) -> str:
    """A short digest of a chunk's order ids, to catch a resubmit with other orders."""
    text = ",".join(map(str, order_ids)).encode()
    return hashlib.blake2b(text, digest_size=12).hexdigest()


# Creates the run, or checks that a resubmit keeps its chunk size. KEYS: the run's keys (meta
# first). ARGV: chunk_size, stride, max_unread, ttl_ms. Returns the stored chunk size.
OPEN_RUN: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'chunk_size', ARGV[1], 'stride', ARGV[2], 'chunks', 0,
    'total', 0, 'submitted', 0, 'cancelled', 0, 'max_unread', ARGV[3], 'succeeded', 0,
    'failed', 0, 'duplicates', 0, 'skipped_on_rerun', 0, 'ttl_ms', ARGV[4])
end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return tonumber(redis.call('HGET', KEYS[1], 'chunk_size'))
"""

# Whether to enqueue a chunk. KEYS: meta, digests, done. ARGV: chunk, digest.
# Returns 1 (enqueue it), 0 (already finished), -1 (a different chunk under this index).
PLAN_CHUNK: Final = """
local known = redis.call('HGET', KEYS[2], ARGV[1])
if known and known ~= ARGV[2] then return -1 end
if not known then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], redis.call('HGET', KEYS[1], 'ttl_ms'))
end
if redis.call('GETBIT', KEYS[3], ARGV[1]) == 1 then return 0 end
return 1
"""

# What a job needs before it starts. KEYS: meta, recorded, results. ARGV: first byte, last byte.
# Returns {exists, cancelled, max_unread, unread, bytes of `recorded` for the chunk}.
CHUNK_STATE: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, 0, ''} end
local meta = redis.call('HMGET', KEYS[1], 'cancelled', 'max_unread')
return {1, tonumber(meta[1]), tonumber(meta[2]), redis.call('LLEN', KEYS[3]),
  redis.call('GETRANGE', KEYS[2], ARGV[1], ARGV[2])}
"""

# Records one order, first writer wins. KEYS: meta, recorded, results. ARGV: position,
# outcome field (succeeded or failed), the result's JSON. Returns 1 (recorded), 0 (a
# duplicate, counted and dropped), -1 (the run is gone).
RECORD: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 1 then
  redis.call('HINCRBY', KEYS[1], 'duplicates', 1)
  return 0
end
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('RPUSH', KEYS[3], ARGV[3])
-- A list read empty is deleted; the next push makes a new one, which must expire too.
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
"""

# Marks a chunk finished. KEYS: meta, done. ARGV: chunk.
MARK_DONE: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('SETBIT', KEYS[2], ARGV[1], 1)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"""

# Where a run stands. KEYS: meta, recorded, done, queue. ARGV: job id prefix.
# Returns {exists, total, submitted, cancelled, succeeded, failed, duplicates, skipped on
# rerun, unsettled chunks, missing orders}. A chunk is settled when it is done or no longer
# in arq's queue (arq keeps a job in the queue, under retries too, until it finishes or fails
# for good); the orders a settled chunk did not record are missing.
SETTLE: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0} end
local m = redis.call('HMGET', KEYS[1], 'total', 'submitted', 'cancelled', 'succeeded',
  'failed', 'duplicates', 'chunks', 'chunk_size', 'stride', 'skipped_on_rerun')
local total, chunks, size, stride = tonumber(m[1]), tonumber(m[7]), tonumber(m[8]),
  tonumber(m[9])
local unsettled, missing = 0, 0
for c = 0, chunks - 1 do
  if redis.call('GETBIT', KEYS[3], c) == 0 then
    if redis.call('ZSCORE', KEYS[4], ARGV[1] .. c) then
      unsettled = unsettled + 1
    else
      local length = size
      if c == chunks - 1 and tonumber(m[2]) == 1 then length = total - c * size end
      local first = c * stride / 8
      local recorded = redis.call('BITCOUNT', KEYS[2], first, first + stride / 8 - 1)
      missing = missing + length - recorded
    end
  end
end
return {1, total, tonumber(m[2]), tonumber(m[3]), tonumber(m[4]), tonumber(m[5]),
  tonumber(m[6]), tonumber(m[10]) or 0, unsettled, missing}
"""

# Hands a reader a batch. KEYS: results, reading, meta. ARGV: count. The batch a reader
# left unacknowledged comes first; else up to `count` results move to `reading`.
TAKE: Final = """
local pending = redis.call('LRANGE', KEYS[2], 0, -1)
if #pending > 0 then return pending end
local taken = redis.call('LPOP', KEYS[1], ARGV[1])
if not taken then return {} end
redis.call('RPUSH', KEYS[2], unpack(taken))
local ttl = redis.call('PTTL', KEYS[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return taken
"""

# Cancels a run. KEYS: meta, done, queue. ARGV: job id prefix, in-progress key prefix,
# job key prefix. Takes every chunk that no worker runs out of the queue; a running one sees
# `cancelled` itself. Returns how many queued chunks were removed.
CANCEL: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'cancelled', 1)
local chunks = tonumber(redis.call('HGET', KEYS[1], 'chunks'))
local removed = 0
for c = 0, chunks - 1 do
  local id = ARGV[1] .. c
  if redis.call('GETBIT', KEYS[2], c) == 0 and redis.call('EXISTS', ARGV[2] .. id) == 0 then
    removed = removed + redis.call('ZREM', KEYS[3], id)
    redis.call('DEL', ARGV[3] .. id)
  end
end
return removed
"""


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


def _decode_error(record: dict[str, Any]) -> GoDeployError:
    """Rebuild an error of the SDK's own types only (a name from Redis picks no other class)."""
    from godeploy import _exceptions

    name = record.get("type")
    kind = getattr(_exceptions, name) if name in _error_names else GoDeployError
    message = str(record.get("message", ""))
    url = record.get("url") or ""
    method = record.get("method") or "GET"
    retry_after = record.get("retry_after")
    if isinstance(kind, type) and issubclass(kind, APIStatusError):
        return kind(
            message,
            status=int(record.get("status", 0)),
            method=method,
            url=url,
            request_id=record.get("request_id"),
            retry_after=None if retry_after is None else float(retry_after),
        )
    if isinstance(kind, type) and issubclass(kind, APIConnectionError):
        return kind(message, method=method, url=url, request_sent=record.get("request_sent", True))
    if kind is ResponseValidationError:
        return ResponseValidationError(message, path=record.get("path", "$"), url=url or None)
    try:
        error = kind(message)
    except TypeError:
        error = GoDeployError(message)
    return error if isinstance(error, GoDeployError) else GoDeployError(message)
