-- Coroutines: generators, pipelines, many live coroutines with their own
-- stacks, yields across pcall and metamethods, close, errors.
local function gen(n)
  return coroutine.wrap(function() for i = 1, n do coroutine.yield(i) end end)
end
local s = 0
for v in gen(100000) do s = s + v end
assert(s == 100000 * 100001 // 2)

-- permutations of 8 elements (40320) by a recursive generator
local function permgen(a, n)
  n = n or #a
  if n <= 1 then coroutine.yield(a)
  else
    for i = 1, n do
      a[n], a[i] = a[i], a[n]
      permgen(a, n - 1)
      a[n], a[i] = a[i], a[n]
    end
  end
end
local count, check = 0, 0
for p in coroutine.wrap(function() permgen({1, 2, 3, 4, 5, 6, 7, 8}) end) do
  count = count + 1
  check = (check + p[1] * 10 + p[8]) % 1000003
end
assert(count == 40320)

-- producer -> filter -> consumer
local function producer()
  return coroutine.create(function()
    for i = 1, 50000 do coroutine.yield(string.format("line %d", i)) end
  end)
end
local function filter(src)
  return coroutine.create(function()
    while true do
      local ok, line = coroutine.resume(src)
      if not line then return end
      if line:find("7") then coroutine.yield(line:upper()) end
    end
  end)
end
local f = filter(producer())
local kept = 0
while true do
  local ok, line = coroutine.resume(f)
  assert(ok)
  if not line then break end
  kept = kept + 1
  assert(line:sub(1, 4) == "LINE")
end

-- many live coroutines, each with a deep stack, resumed round robin
local function deep(n, k) if n == 0 then return coroutine.yield(k) end return deep(n - 1, k) + 1 end
local cos = {}
for i = 1, 3000 do
  cos[i] = coroutine.create(function(k) local r = deep(50 + i % 50, k); return r end)
end
local total = 0
for i = 1, #cos do local _, v = coroutine.resume(cos[i], i); total = total + v end
for i = 1, #cos do
  local ok, v = coroutine.resume(cos[i], i)
  assert(ok and v == i + 50 + i % 50)
  assert(coroutine.status(cos[i]) == "dead")
end
assert(total == 3000 * 3001 // 2)

-- yield across pcall and from inside a metamethod
local co = coroutine.create(function()
  local ok, v = pcall(function() return coroutine.yield("in pcall") + 1 end)
  assert(ok and v == 42)
  local mt = {__index = function(t, k) return coroutine.yield("in __index " .. k) end}
  local obj = setmetatable({}, mt)
  return obj.field
end)
local _, m1 = coroutine.resume(co)
assert(m1 == "in pcall")
local _, m2 = coroutine.resume(co, 41)
assert(m2 == "in __index field")
local ok3, v3 = coroutine.resume(co, "value")
assert(ok3 and v3 == "value" and coroutine.status(co) == "dead")

-- closing a suspended coroutine runs its to-be-closed variables
local closed = 0
local cc = coroutine.create(function()
  local r <close> = setmetatable({}, {__close = function() closed = closed + 1 end})
  coroutine.yield(1)
  error("not reached")
end)
coroutine.resume(cc)
assert(coroutine.close(cc) and closed == 1 and coroutine.status(cc) == "dead")

-- errors inside coroutines, with a table as error object
local bad = 0
for i = 1, 2000 do
  local c = coroutine.create(function(x) coroutine.yield(x); error({i = x}) end)
  coroutine.resume(c, i)
  local ok, e = coroutine.resume(c)
  if not ok and e.i == i then bad = bad + 1 end
end
assert(bad == 2000)
assert(not coroutine.isyieldable())
assert(coroutine.wrap(function() return coroutine.isyieldable() end)())

print(string.format("coroutines: ok perms %d check %d kept %d", count, check, kept))
