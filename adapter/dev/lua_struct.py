"""Redis's built-in Lua `struct` library, in Lua, for fakeredis (whose Lua has none).

Only the part our scripts use (`adapter.inbox` frames its commands with it):
`struct.unpack` of integers (`b B h H i I l L`, an optional byte size after `i`/`I`),
fixed and counted strings (`cN`, and `c0`, whose length is the integer read just
before it and replaces it in the results, as in Redis), and the endianness marks
`<`, `>`, `=` and `!`.
"""

from __future__ import annotations

from pathlib import Path

MODULE_NAME = "struct"

SOURCE = r"""
local struct = {}

local sizes = {b = 1, B = 1, h = 2, H = 2, i = 4, I = 4, l = 8, L = 8}

local function items(fmt)
  local list, pos = {}, 1
  while pos <= #fmt do
    local c = fmt:sub(pos, pos)
    local digits = fmt:match('^%d+', pos + 1)
    pos = pos + 1 + (digits and #digits or 0)
    list[#list + 1] = {c, digits and tonumber(digits) or nil}
  end
  return list
end

local function read_int(s, pos, size, little, signed)
  local n = 0
  for k = 0, size - 1 do
    local at = little and (pos + size - 1 - k) or (pos + k)
    local byte = s:byte(at)
    if byte == nil then error('struct.unpack: data string too short') end
    n = n * 256 + byte
  end
  if signed and n >= 2 ^ (8 * size - 1) then n = n - 2 ^ (8 * size) end
  return n
end

function struct.unpack(fmt, s, pos)
  pos = pos or 1
  local little, out, last = true, {}, nil
  for _, item in ipairs(items(fmt)) do
    local c, n = item[1], item[2]
    if c == '<' or c == '=' then little = true
    elseif c == '>' or c == '!' then little = false
    elseif c == 'c' then
      local len = n
      if len == nil then len = 1 end
      if len == 0 then
        -- like Redis: the length read just before is consumed, not returned
        if last == nil then error('struct.unpack: c0 needs a preceding length') end
        len = last
        out[#out] = nil
        last = nil
      end
      out[#out + 1] = s:sub(pos, pos + len - 1)
      pos = pos + len
    elseif sizes[c] then
      local size = sizes[c]
      if (c == 'i' or c == 'I') and n then size = n end
      last = read_int(s, pos, size, little, c == c:lower())
      out[#out + 1] = last
      pos = pos + size
    elseif c ~= ' ' then
      error('struct.unpack: unsupported format ' .. c)
    end
  end
  out[#out + 1] = pos
  return unpack(out)
end

return struct
"""


def install(directory: Path) -> Path:
    """Write the module as `struct.lua` in `directory`; the file's path."""
    path = directory / f"{MODULE_NAME}.lua"
    path.write_text(SOURCE, encoding="utf-8")
    return path
