"""Every Lua script of the fleet, and the one way they run: registered, by EVALSHA.

Redis runs each script atomically. `Scripts(redis)` registers all of them on one redis-py
client (registering computes the SHA1 only, no round trip); calling one sends EVALSHA and,
the first time a server has not seen it (a new or restarted Redis), loads it and retries.

Run state (`_store`): OPEN_RUN, PLAN_CHUNK, CHUNK_STATE, RECORD, MARK_DONE, SETTLE, TAKE,
CANCEL. Pacing (`_limits`): ADMIT, PAUSE, PAY.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "ADMIT",
    "CANCEL",
    "CHUNK_STATE",
    "MARK_DONE",
    "OPEN_RUN",
    "PAUSE",
    "PAY",
    "PLAN_CHUNK",
    "RECORD",
    "SETTLE",
    "TAKE",
    "Script",
    "Scripts",
]

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

# KEYS: tat, pause, clients, budget.
# ARGV: interval (us), burst, stale after (us), budget capacity, budget idle ttl (ms),
#       max wait (us, < 0: any), client id ('' = no heartbeat), refund, rejoined ('1': this
#       client is back after an outage, the burst counts as spent), released tickets...
# Returns {booked, wait (us), paused (ms), live clients (-1: not counted), ticket (us)}.
ADMIT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local live = -1
if ARGV[7] ~= '' then
  local stale = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[3], now, ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - stale)
  redis.call('PEXPIRE', KEYS[3], math.ceil(stale / 500))
  live = redis.call('ZCARD', KEYS[3])
end
local refund = tonumber(ARGV[8])
if refund > 0 then
  local tokens = tonumber(redis.call('GET', KEYS[4]))
  if tokens then
    tokens = math.min(tonumber(ARGV[4]), tokens + refund)
    redis.call('SET', KEYS[4], string.format('%.0f', tokens), 'PX', ARGV[5])
  end
end
local tat = tonumber(redis.call('GET', KEYS[1])) or 0
local moved = false
if ARGV[9] == '1' and interval > 0 then
  -- Others may still spend their local share: no fresh burst for a client coming back.
  local spent = now + tonumber(ARGV[2]) * interval
  if tat < spent then
    tat = spent
    moved = true
  end
end
for i = 10, #ARGV do
  if tonumber(ARGV[i]) > now and tat > now then
    tat = math.max(now, tat - interval)
    moved = true
  end
end
local function keep(value)
  if value > now then
    local ttl = math.ceil((value - now) / 1000) + 1000
    redis.call('SET', KEYS[1], string.format('%.0f', value), 'PX', ttl)
  else
    redis.call('DEL', KEYS[1])
  end
end
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then
  if moved then keep(tat) end
  return {0, 0, paused, live, 0}
end
if interval == 0 then
  return {1, 0, 0, live, 0}
end
if tat < now then tat = now end
local arrival = tat + interval
local wait = arrival - tonumber(ARGV[2]) * interval - now
if wait < 0 then wait = 0 end
local max_wait = tonumber(ARGV[6])
if max_wait >= 0 and wait > max_wait then
  if moved then keep(tat) end
  return {0, wait, 0, live, 0}
end
keep(arrival)
return {1, wait, 0, live, arrival}
"""

# KEYS: pause. ARGV: milliseconds. Only ever extends the pause; returns what is left of it.
PAUSE: Final = """
local left = redis.call('PTTL', KEYS[1])
local ms = tonumber(ARGV[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  return ms
end
return left
"""

# KEYS: budget. ARGV: cost, capacity, idle ttl (ms), refund.
# Returns {paid, tokens left}. A missing key is a full budget.
PAY: Final = """
local capacity = tonumber(ARGV[2])
local stored = tonumber(redis.call('GET', KEYS[1]))
local tokens = math.min(capacity, (stored or capacity) + tonumber(ARGV[4]))
local cost = tonumber(ARGV[1])
if tokens < cost then
  if stored then redis.call('SET', KEYS[1], string.format('%.0f', tokens), 'PX', ARGV[3]) end
  return {0, tokens}
end
tokens = tokens - cost
redis.call('SET', KEYS[1], string.format('%.0f', tokens), 'PX', ARGV[3])
return {1, tokens}
"""


class Script:
    """One script registered on one client: `await script(keys, *args)` runs it by EVALSHA."""

    __slots__ = ("_registered",)

    def __init__(self, redis: Any, text: str) -> None:
        self._registered = redis.register_script(text)

    async def __call__(self, keys: list[str] | list[bytes], *args: str | int | bytes) -> Any:
        """Run it (redis-py loads it first when the server does not know its SHA1)."""
        return await self._registered(keys=keys, args=list(args))


class Scripts:
    """Every script of the fleet, registered on one redis-py client.

    `redis` is typed Any: redis-py's stubs give every asyncio command an `Awaitable | value`
    result and `str` arguments.
    """

    def __init__(self, redis: Any) -> None:
        self.open_run = Script(redis, OPEN_RUN)
        self.plan_chunk = Script(redis, PLAN_CHUNK)
        self.chunk_state = Script(redis, CHUNK_STATE)
        self.record = Script(redis, RECORD)
        self.mark_done = Script(redis, MARK_DONE)
        self.settle = Script(redis, SETTLE)
        self.take = Script(redis, TAKE)
        self.cancel = Script(redis, CANCEL)
        self.admit = Script(redis, ADMIT)
        self.pause = Script(redis, PAUSE)
        self.pay = Script(redis, PAY)
