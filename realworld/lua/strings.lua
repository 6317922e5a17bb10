-- Strings: short (interned) and long strings, concatenation, the string
-- library's patterns, formatting, pack/unpack, utf8.
local function fnv(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end

-- many short strings, most of them equal to earlier ones (interning)
local seen, distinct = {}, 0
for i = 1, 200000 do
  local k = "key" .. (i % 5003)
  if not seen[k] then seen[k] = true; distinct = distinct + 1 end
end
assert(distinct == 5003)

-- long strings built piecewise and with a buffer
local parts = {}
for i = 1, 20000 do parts[i] = string.format("%05d:%s;", i, string.rep("x", i % 17)) end
local big = table.concat(parts)
local slow = ""
for i = 1, 2000 do slow = slow .. parts[i] end
assert(big:sub(1, #slow) == slow)
local h1 = fnv(big)

-- patterns
local text = big:gsub("x+", function(m) return "<" .. #m .. ">" end)
local n = 0
for num, body in text:gmatch("(%d+):([^;]*);") do
  n = n + 1
  assert(tonumber(num) == n)
  if n % 17 == 0 then assert(body == "") else assert(body == "<" .. n % 17 .. ">") end
end
assert(n == 20000)
local replaced, count = big:gsub("(%d)(%d)", "%2%1")
assert(count > 0 and #replaced == #big)
assert(("hello world from lua"):gsub("(%w+)", "%1%1") == "hellohello worldworld fromfrom lualua")
assert(string.find("abc[def]", "[", 1, true) == 4)
assert(("  trim me  "):match("^%s*(.-)%s*$") == "trim me")
local fields = {}
for f in ("a,b,,c,"):gmatch("([^,]*)") do fields[#fields + 1] = f end
assert(table.concat(fields, "|") == "a|b||c|")

-- case, reverse, byte and char round trips
local alpha = {}
for c = 0, 255 do alpha[#alpha + 1] = string.char(c) end
local all = table.concat(alpha)
assert(#all == 256 and all:upper():lower() == all:lower())
assert(all:reverse():reverse() == all)
local bytes = {all:byte(1, -1)}
assert(#bytes == 256 and bytes[256] == 255)

-- formatting
local f = {}
for i = 1, 5000 do
  f[#f + 1] = string.format("%d %5.2f %x %q %s %g", i, i / 7, i, "s" .. i, tostring(i % 3 == 0), i * 1e10)
end
local h2 = fnv(table.concat(f, "\n"))

-- pack and unpack
local packed = {}
for i = 1, 3000 do packed[i] = string.pack("<i4 d s2 z", i, i / 3, "str" .. i, "z" .. i) end
local blob = table.concat(packed)
local pos, total = 1, 0
for i = 1, 3000 do
  local a, b, c, d
  a, b, c, d, pos = string.unpack("<i4 d s2 z", blob, pos)
  assert(a == i and b == i / 3 and c == "str" .. i and d == "z" .. i)
  total = total + a
end
assert(pos == #blob + 1 and total == 3000 * 3001 // 2)

-- utf8
local cps = {}
for cp = 0x41, 0x41 + 500 do cps[#cps + 1] = cp end
for cp = 0x3b1, 0x3c9 do cps[#cps + 1] = cp end
for cp = 0x1f600, 0x1f64f do cps[#cps + 1] = cp end
local u = utf8.char(table.unpack(cps))
assert(utf8.len(u) == #cps)
local i = 0
for _, cp in utf8.codes(u) do i = i + 1; assert(cp == cps[i]) end

-- strings as table keys with many collisions of length and prefix
local keys = {}
for j = 1, 30000 do keys[string.rep("a", j % 50) .. j] = j end
local ksum = 0
for k, v in pairs(keys) do ksum = ksum + v; assert(k:sub(-#tostring(v)) == tostring(v)) end
assert(ksum == 30000 * 30001 // 2)

print(string.format("strings: ok big %d fnv %08x %08x", #big, h1, h2))
