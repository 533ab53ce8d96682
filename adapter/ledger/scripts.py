"""The delivery ledger's Lua scripts: every change of a delivery's state is one of them.

Why Lua: each step touches several keys (the record, `ready`, `leased`, the indexes,
the dedupe mark) and must be all-or-nothing, also against a worker killed between two
commands. Redis runs a script atomically, and the scripts read the clock with `TIME`,
so every process agrees on due times and lease expiries whatever its own clock says.

Keys are built inside the scripts from the prefix given as ARGV[1] (the layout is
described in `adapter.ledger.keys`); the ledger lives on one Redis, not a cluster.
"""

from __future__ import annotations

# shared by the scripts: Redis time in ms, and removal of a settled record with its indexes
_COMMON = """
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function forget(digest)
  local rec = P .. 'd:' .. digest
  local f = redis.call('HMGET', rec, 'bytes', 'external_ids', 'delivery_id')
  if f[2] then
    for _, x in ipairs(cjson.decode(f[2])) do
      redis.call('ZREM', P .. 'x:' .. x, digest)
    end
  end
  if f[3] and redis.call('HGET', P .. 'ids', f[3]) == digest then
    redis.call('HDEL', P .. 'ids', f[3])
  end
  redis.call('DEL', rec)
  redis.call('ZREM', P .. 'received', digest)
  redis.call('ZREM', P .. 'settled', digest)
  redis.call('ZREM', P .. 'ready', digest)
  redis.call('ZREM', P .. 'leased', digest)
  if f[1] then redis.call('DECRBY', P .. 'bytes', tonumber(f[1])) end
end
-- settled records older than the retention, then the oldest while over the byte bound
local function trim(retention_ms, max_bytes, limit)
  local cutoff = now_ms() - retention_ms
  local removed = 0
  while removed < limit do
    local oldest = redis.call('ZRANGE', P .. 'settled', 0, 0, 'WITHSCORES')
    if #oldest == 0 then break end
    local over = tonumber(redis.call('GET', P .. 'bytes') or '0') > max_bytes
    if tonumber(oldest[2]) > cutoff and not over then break end
    forget(oldest[1])
    removed = removed + 1
  end
  return removed
end
"""

# ARGV: prefix, mark prefix, mark ttl (s), bell ttl (ms), then per delivery 8 values:
# digest, source, topic, scope, delivery id, received (ms), size of the raw body, stored body.
# Reply: {codes, ring, errors...}: a letter per delivery (q stored, d duplicate, e error),
# 1 when the caller must ring the bell (enqueue one take job; a bell ttl of 0: it never
# does), then the errors' texts.
# The dedupe mark is written last, and only when the record's writes succeeded, so a
# write refused by Redis (OOM) leaves no mark and the provider's retry is stored.
INGEST = (
    _COMMON
    + """
local mark_prefix, mark_ttl, bell_ttl = ARGV[2], ARGV[3], ARGV[4]
local now = now_ms()
local codes, errors, stored = {}, {}, 0
for i = 5, #ARGV, 8 do
  local digest = ARGV[i]
  local mark = mark_prefix .. digest
  if redis.call('EXISTS', mark) == 1 then
    codes[#codes + 1] = 'd'
  else
    local rec = P .. 'd:' .. digest
    local body = ARGV[i + 7]
    -- what the record will take with its indexes, roughly: measured ~2.7 KB beside the
    -- body for a settled Shopify order (hash table, sorted sets, id map, mark); see
    -- docs/deployment.md
    local bytes = #body + #ARGV[i + 2] + #ARGV[i + 3] + 2 * #ARGV[i + 4] + 2600
    local steps = {
      {'HSET', rec, 'source', ARGV[i + 1], 'topic', ARGV[i + 2], 'scope', ARGV[i + 3],
       'delivery_id', ARGV[i + 4], 'received_at', ARGV[i + 5], 'size', ARGV[i + 6],
       'bytes', bytes, 'state', 'received', 'takes', 0, 'body', body},
      {'ZADD', P .. 'ready', now, digest},
      {'ZADD', P .. 'received', ARGV[i + 5], digest},
      {'HSET', P .. 'ids', ARGV[i + 4], digest},
      {'INCRBY', P .. 'bytes', bytes},
      {'SET', mark, digest, 'EX', mark_ttl},
    }
    local failed = nil
    for n, step in ipairs(steps) do
      local reply = redis.pcall(unpack(step))
      if type(reply) == 'table' and reply.err then
        failed = reply.err
        -- undo what was written (deletions pass even when Redis is full); the byte
        -- count was raised by step 5
        if n > 5 then
          forget(digest)
        else
          redis.call('DEL', rec)
          redis.call('ZREM', P .. 'ready', digest)
          redis.call('ZREM', P .. 'received', digest)
          if redis.call('HGET', P .. 'ids', ARGV[i + 4]) == digest then
            redis.call('HDEL', P .. 'ids', ARGV[i + 4])
          end
        end
        break
      end
    end
    if failed == nil then
      codes[#codes + 1] = 'q'
      stored = stored + 1
    else
      codes[#codes + 1] = 'e'
      errors[#errors + 1] = failed
    end
  end
end
local ring = 0
if stored > 0 and tonumber(bell_ttl) > 0 then
  local reply = redis.pcall('SET', P .. 'bell', '1', 'NX', 'PX', bell_ttl)
  -- a status reply ({ok = 'OK'}) when set; false when the flag was there
  if type(reply) == 'table' and reply.ok then ring = 1 end
end
table.insert(errors, 1, ring)
table.insert(errors, 1, table.concat(codes))
return errors
"""
)

# ARGV: prefix, how many, lease (ms), token. Expired leases (dead workers) go back to
# ready first; then up to `how many` due deliveries are leased to `token`.
# Reply: flat list of digest, takes, replays, body for each leased delivery.
CLAIM = (
    _COMMON
    + """
local n, lease_ms, token = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', P .. 'leased', '-inf', now, 'LIMIT', 0, 500)
for _, digest in ipairs(expired) do
  redis.call('ZREM', P .. 'leased', digest)
  local rec = P .. 'd:' .. digest
  if redis.call('EXISTS', rec) == 1 then
    redis.call('HSET', rec, 'state', 'received')
    redis.call('HDEL', rec, 'token')
    redis.call('ZADD', P .. 'ready', now, digest)
  end
end
local out = {}
if n <= 0 then return out end
for _, digest in ipairs(redis.call('ZRANGEBYSCORE', P .. 'ready', '-inf', now, 'LIMIT', 0, n)) do
  redis.call('ZREM', P .. 'ready', digest)
  local rec = P .. 'd:' .. digest
  local body = redis.call('HGET', rec, 'body')
  if body then
    redis.call('ZADD', P .. 'leased', now + lease_ms, digest)
    local takes = redis.call('HINCRBY', rec, 'takes', 1)
    redis.call('HSET', rec, 'state', 'leased', 'token', token)
    out[#out + 1] = digest
    out[#out + 1] = takes
    out[#out + 1] = tonumber(redis.call('HGET', rec, 'replays') or '0')
    out[#out + 1] = body
  end
end
return out
"""
)

# ARGV: prefix, lease (ms), token, digests... Extends the leases `token` still holds.
RENEW = (
    _COMMON
    + """
local lease_ms, token = tonumber(ARGV[2]), ARGV[3]
local until_ms = now_ms() + lease_ms
local renewed = 0
for i = 4, #ARGV do
  if redis.call('HGET', P .. 'd:' .. ARGV[i], 'token') == token then
    renewed = renewed + redis.call('ZADD', P .. 'leased', 'XX', 'CH', until_ms, ARGV[i])
  end
end
return renewed
"""
)

# ARGV: prefix, token, digest, state (mapped | dead), outcome as JSON (an object of
# strings), external ids as JSON (an array), retention (ms), max bytes, trim limit,
# and the body's compressed form ('' to keep the body as it is).
# Settles a delivery `token` holds; 0 if it no longer holds it (its lease expired and
# another worker took it: that one settles it). The compressed body replaces the one
# the web side stored (with the byte counts), then a few settled records are trimmed.
ACK = (
    _COMMON
    + """
local token, digest, state = ARGV[2], ARGV[3], ARGV[4]
local rec = P .. 'd:' .. digest
if redis.call('HGET', rec, 'token') ~= token then return 0 end
local now = now_ms()
redis.call('ZREM', P .. 'leased', digest)
redis.call('ZREM', P .. 'ready', digest)
redis.call('HDEL', rec, 'token', 'outbox', 'commands', 'dead_letter', 'reason')
redis.call('HSET', rec, 'state', state, 'settled_at', now)
for field, value in pairs(cjson.decode(ARGV[5])) do
  redis.call('HSET', rec, field, value)
end
local received = redis.call('HGET', rec, 'received_at') or now
local known = {}
local old = redis.call('HGET', rec, 'external_ids')
if old then for _, x in ipairs(cjson.decode(old)) do known[x] = true end end
local externals = cjson.decode(ARGV[6])
for _, x in ipairs(externals) do
  known[x] = true
  redis.call('ZADD', P .. 'x:' .. x, received, digest)
end
local all = {}
for x in pairs(known) do all[#all + 1] = x end
if #all > 0 then redis.call('HSET', rec, 'external_ids', cjson.encode(all)) end
redis.call('ZADD', P .. 'settled', now, digest)
local packed = ARGV[10]
if packed and #packed > 0 then
  local old_body = redis.call('HGET', rec, 'body')
  if old_body then
    local change = #packed - #old_body
    redis.call('HSET', rec, 'body', packed)
    redis.call('HINCRBY', rec, 'bytes', change)
    redis.call('INCRBY', P .. 'bytes', change)
  end
end
trim(tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]))
return 1
"""
)

# ARGV: prefix, digests... Puts settled deliveries back in ready (a replay): the replay
# counter changes the delivery's outbox once-key, so its commands are queued again.
REQUEUE = (
    _COMMON
    + """
local now = now_ms()
local requeued = 0
for i = 2, #ARGV do
  local digest = ARGV[i]
  local rec = P .. 'd:' .. digest
  local state = redis.call('HGET', rec, 'state')
  if state == 'mapped' or state == 'dead' then
    redis.call('HINCRBY', rec, 'replays', 1)
    redis.call('HSET', rec, 'state', 'received')
    redis.call('ZREM', P .. 'settled', digest)
    redis.call('ZADD', P .. 'ready', now, digest)
    requeued = requeued + 1
  end
end
return requeued
"""
)

# ARGV: prefix, retention (ms), max bytes, limit.
TRIM = (
    _COMMON
    + """
return trim(tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
"""
)

# ARGV: prefix, digests... Forgets deliveries whatever their state (a redact request).
FORGET = (
    _COMMON
    + """
local n = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', P .. 'd:' .. ARGV[i]) == 1 then n = n + 1 end
  forget(ARGV[i])
end
return n
"""
)

# ARGV: prefix. Reply: {due now, leases expired, ready, leased}.
BACKLOG = (
    _COMMON
    + """
local now = now_ms()
return {
  redis.call('ZCOUNT', P .. 'ready', '-inf', now),
  redis.call('ZCOUNT', P .. 'leased', '-inf', now),
  redis.call('ZCARD', P .. 'ready'),
  redis.call('ZCARD', P .. 'leased'),
}
"""
)
