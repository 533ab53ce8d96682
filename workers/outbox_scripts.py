"""The outbox's Redis scripts, one per transition (see `workers.outbox`).

They live apart from the Python that calls them because they are a program of their
own, in another language, run inside Redis: each is atomic there, which is what makes
a claim, a merge into a waiting entry, an acknowledgement or a retry a single step
that a worker killed at any instant cannot leave half done. Keeping them here keeps
`workers.outbox` readable as Python, and lets a reader see every key a script
touches next to the script.

All times are Redis's own clock (`TIME`), in ms.
"""

from __future__ import annotations

# KEYS: seq, once key, waiting, then per kind: ready leased items meta
# ARGV: once ttl ms ('' for none), rows (json)
# row: {kind index, id ('' for a new one), item, meta, delay ms, slot ('' for none),
#       expected item ('' unless the row merges into the waiting entry `id`)}
# Returns the ids; -1 when the once key was used; -2 when a waiting entry a row merges
# into changed since it was read (claimed, or merged into by another add): read again.
ADD = """
local rows = cjson.decode(ARGV[2])
for _, e in ipairs(rows) do
  if e[7] ~= '' then
    local base = 3 + (e[1] - 1) * 4
    if redis.call('HGET', KEYS[3], e[6]) ~= e[2] then return -2 end
    if redis.call('HGET', KEYS[base + 3], e[2]) ~= e[7] then return -2 end
    if not redis.call('ZSCORE', KEYS[base + 1], e[2]) then return -2 end
  end
end
if ARGV[1] ~= '' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = {}
for _, e in ipairs(rows) do
  local base = 3 + (e[1] - 1) * 4
  local id = e[2]
  if e[7] ~= '' then
    local meta = cjson.decode(redis.call('HGET', KEYS[base + 4], id) or '{}')
    meta['l'] = cjson.decode(e[4])['l']
    redis.call('HSET', KEYS[base + 3], id, e[3])
    redis.call('HSET', KEYS[base + 4], id, cjson.encode(meta))
  else
    local given = id ~= ''
    if not given then id = string.format('%014d', redis.call('INCR', KEYS[1])) end
    if not redis.call('ZSCORE', KEYS[base + 2], id) then
      redis.call('HSET', KEYS[base + 3], id, e[3])
      redis.call('HSET', KEYS[base + 4], id, e[4])
      redis.call('ZADD', KEYS[base + 1], 'NX', now + e[5], id)
      if e[6] ~= '' then
        if given then redis.call('HSETNX', KEYS[3], e[6], id)
        else redis.call('HSET', KEYS[3], e[6], id) end
      end
    end
  end
  table.insert(ids, id)
end
return ids
"""

# KEYS: ready leased owner items meta reclaims locks waiting
# ARGV: cap linger_ms lease_ms token scan
CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, linger, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local token, scan = ARGV[4], tonumber(ARGV[5])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HINCRBY', KEYS[6], id, 1)
  local meta = cjson.decode(redis.call('HGET', KEYS[5], id) or '{}')
  meta['r'] = 1
  redis.call('HSET', KEYS[5], id, cjson.encode(meta))
  redis.call('ZADD', KEYS[1], now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, scan)
local taken, metas, held, slots = {}, {}, {}, {}
local ready, blocked, oldest = false, false, nil
local i = 1
while i <= #due and #taken < cap do
  local id, score = due[i], tonumber(due[i + 1])
  local meta = cjson.decode(redis.call('HGET', KEYS[5], id) or '{}')
  local keys = meta['l'] or {}
  local free = true
  for _, k in ipairs(keys) do
    if not held[k] then
      local v = redis.call('HGET', KEYS[7], k)
      if v then
        local sep = string.find(v, ':', 1, true)
        if tonumber(string.sub(v, sep + 1)) > now and string.sub(v, 1, sep - 1) ~= token then
          free = false
          break
        end
      end
    end
  end
  if free and meta['s'] == 1 and #taken > 0 then free = false end
  if free then
    for _, k in ipairs(keys) do held[k] = true end
    table.insert(taken, id)
    table.insert(metas, keys)
    slots[#taken] = meta['x']
    if oldest == nil or score < oldest then oldest = score end
    if meta['r'] == 1 or meta['s'] == 1 or now - score >= linger then ready = true end
    if meta['s'] == 1 then break end
  else
    blocked = true
  end
  i = i + 2
end
if #taken == 0 then
  local wait = -1
  if blocked then wait = 200 end
  local nxt = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #nxt > 0 then
    local w = tonumber(nxt[2]) - now
    if wait < 0 or w < wait then wait = w end
  end
  return {0, wait}
end
if #taken < cap and not ready then
  return {0, math.max(1, linger - (now - oldest))}
end
local exp = now + lease
local mark = token .. ':' .. exp
local lock_args, lease_args, owner_args = {}, {}, {}
for k, _ in pairs(held) do
  table.insert(lock_args, k)
  table.insert(lock_args, mark)
end
for _, id in ipairs(taken) do
  table.insert(lease_args, exp)
  table.insert(lease_args, id)
  table.insert(owner_args, id)
  table.insert(owner_args, token)
end
redis.call('HSET', KEYS[7], unpack(lock_args))
redis.call('ZREM', KEYS[1], unpack(taken))
redis.call('ZADD', KEYS[2], unpack(lease_args))
redis.call('HSET', KEYS[3], unpack(owner_args))
local items = redis.call('HMGET', KEYS[4], unpack(taken))
local reclaims = redis.call('HMGET', KEYS[6], unpack(taken))
local out = {1, exp}
for n, id in ipairs(taken) do
  local slot = slots[n]
  if slot and redis.call('HGET', KEYS[8], slot) == id then redis.call('HDEL', KEYS[8], slot) end
  table.insert(out, id)
  table.insert(out, items[n] or '')
  table.insert(out, reclaims[n] or '0')
  table.insert(out, cjson.encode(metas[n]))
end
return out
"""

# KEYS: ready leased owner items meta reclaims locks waiting
# ARGV: token, acks (json ids), retries (json [id, delay_ms, item, alone]), lock keys (json)
SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token = ARGV[1]
local done = 0
for _, id in ipairs(cjson.decode(ARGV[2])) do
  if redis.call('HGET', KEYS[3], id) == token then
    local slot = cjson.decode(redis.call('HGET', KEYS[5], id) or '{}')['x']
    if slot and redis.call('HGET', KEYS[8], slot) == id then redis.call('HDEL', KEYS[8], slot) end
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('HDEL', KEYS[5], id)
    redis.call('HDEL', KEYS[6], id)
    done = done + 1
  end
end
for _, r in ipairs(cjson.decode(ARGV[3])) do
  local id = r[1]
  if redis.call('HGET', KEYS[3], id) == token then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HSET', KEYS[4], id, r[3])
    local meta = cjson.decode(redis.call('HGET', KEYS[5], id) or '{}')
    meta['r'] = 1
    if r[4] == 1 then meta['s'] = 1 end
    redis.call('HSET', KEYS[5], id, cjson.encode(meta))
    -- later commands for the record merge into it while it waits out its backoff
    if meta['x'] then redis.call('HSETNX', KEYS[8], meta['x'], id) end
    redis.call('ZADD', KEYS[1], now + r[2], id)
    done = done + 1
  end
end
local prefix = token .. ':'
for _, k in ipairs(cjson.decode(ARGV[4])) do
  local v = redis.call('HGET', KEYS[7], k)
  if v and string.sub(v, 1, #prefix) == prefix then redis.call('HDEL', KEYS[7], k) end
end
return done
"""

# KEYS: leased owner locks; ARGV: token lease_ms ids(json) lock keys(json)
TOUCH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token = ARGV[1]
local exp = now + tonumber(ARGV[2])
local held = 0
for _, id in ipairs(cjson.decode(ARGV[3])) do
  if redis.call('HGET', KEYS[2], id) == token then
    redis.call('ZADD', KEYS[1], 'XX', exp, id)
    held = held + 1
  end
end
local prefix = token .. ':'
for _, k in ipairs(cjson.decode(ARGV[4])) do
  local v = redis.call('HGET', KEYS[3], k)
  if v and string.sub(v, 1, #prefix) == prefix then
    redis.call('HSET', KEYS[3], k, prefix .. exp)
  end
end
return {held, exp}
"""

# KEYS: ready leased; returns {due now, leases expired, waiting in all, next due in ms or -1}
DUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local expired = redis.call('ZCOUNT', KEYS[2], '-inf', now)
local total = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
local nxt = -1
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first > 0 then nxt = math.max(0, tonumber(first[2]) - now) end
local lease = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #lease > 0 then
  local w = math.max(0, tonumber(lease[2]) - now)
  if nxt < 0 or w < nxt then nxt = w end
end
return {due, expired, total, nxt}
"""
