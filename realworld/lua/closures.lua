-- Closures and functions: upvalues shared and fresh per iteration,
-- recursion, varargs, metatables and classes, to-be-closed variables,
-- load and string.dump, errors as values.
local function counter(start)
  local n = start
  return function(d) n = n + (d or 1); return n end, function() return n end
end
local incs, gets = {}, {}
for i = 1, 10000 do incs[i], gets[i] = counter(i) end
for i = 1, 10000 do incs[i](i) end
for i = 1, 10000 do assert(gets[i]() == 2 * i) end

-- each iteration of a loop has its own local
local fs = {}
for i = 1, 1000 do fs[i] = function() return i end end
local s = 0
for i = 1, 1000 do s = s + fs[i]() end
assert(s == 1000 * 1001 // 2)

-- shared upvalue between closures created together
local function pair()
  local v = 0
  return function() v = v + 1 end, function() return v end
end
local bump, read = pair()
for _ = 1, 500 do bump() end
assert(read() == 500)

-- recursion through an upvalue, memoization in a closure
local function memo(f)
  local cache = {}
  return function(n)
    local v = cache[n]
    if v == nil then v = f(n); cache[n] = v end
    return v
  end
end
local fib
fib = memo(function(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end)
assert(fib(80) == 23416728348467685)
local function ack(m, n)
  if m == 0 then return n + 1 end
  if n == 0 then return ack(m - 1, 1) end
  return ack(m - 1, ack(m, n - 1))
end
assert(ack(2, 300) == 603)

-- varargs
local function va(...)
  local t = table.pack(...)
  return select("#", ...), t.n, (select(-1, ...))
end
local a, b, c = va(1, nil, 3, nil)
assert(a == 4 and b == 4 and c == nil)
local function sumall(...)
  local acc = 0
  for _, v in ipairs({...}) do acc = acc + v end
  return acc
end
local args = {}
for i = 1, 200 do args[i] = i end
assert(sumall(table.unpack(args)) == 20100)

-- classes with inheritance through __index chains
local Animal = {}
Animal.__index = Animal
function Animal.new(name, legs) return setmetatable({name = name, legs = legs}, Animal) end
function Animal:describe() return self.name .. " has " .. self.legs .. " legs" end
local Bird = setmetatable({}, {__index = Animal})
Bird.__index = Bird
function Bird.new(name) local o = Animal.new(name, 2); return setmetatable(o, Bird) end
function Bird:describe() return Animal.describe(self) .. " and wings" end
local zoo = {}
for i = 1, 20000 do zoo[i] = (i % 3 == 0) and Bird.new("b" .. i) or Animal.new("a" .. i, 4) end
local desc = 0
for _, z in ipairs(zoo) do desc = desc + #z:describe() end

-- operators on a vector type
local V = {}
V.__index = V
local function vec(x, y) return setmetatable({x = x, y = y}, V) end
V.__add = function(p, q) return vec(p.x + q.x, p.y + q.y) end
V.__mul = function(p, k) return vec(p.x * k, p.y * k) end
V.__eq = function(p, q) return p.x == q.x and p.y == q.y end
V.__lt = function(p, q) return p.x * p.x + p.y * p.y < q.x * q.x + q.y * q.y end
V.__le = function(p, q) return not (q < p) end
V.__len = function(p) return 2 end
V.__tostring = function(p) return "(" .. p.x .. "," .. p.y .. ")" end
V.__concat = function(p, q) return tostring(p) .. tostring(q) end
V.__call = function(p, k) return p.x * k + p.y end
local acc = vec(0, 0)
for i = 1, 50000 do acc = acc + vec(i % 10, i % 7) * 2 end
assert(acc == vec(450000, acc.y) and #acc == 2)
assert(vec(1, 1) < vec(2, 2) and vec(2, 2) <= vec(2, 2) and vec(3, 4)(10) == 34)
assert(vec(1, 2) .. vec(3, 4) == "(1,2)(3,4)")

-- to-be-closed variables, also on error
local closed = {}
local function res(name)
  return setmetatable({}, {__close = function(_, err) closed[#closed + 1] = name .. (err and "!" or "") end})
end
do
  local r1 <close> = res("r1")
  local r2 <close> = res("r2")
end
local ok = pcall(function()
  local r3 <close> = res("r3")
  error("boom")
end)
assert(not ok and table.concat(closed, " ") == "r2 r1 r3!")

-- generated code through load, and a binary chunk round trip
local src = {"local x = 0"}
for i = 1, 500 do src[#src + 1] = string.format("x = x + %d * (...)", i) end
src[#src + 1] = "return x"
local chunk = assert(load(table.concat(src, "\n")))
assert(chunk(2) == 2 * 500 * 501 // 2)
local dumped = string.dump(chunk)
local again = assert(load(dumped, "dumped", "b"))
assert(again(3) == 3 * 500 * 501 // 2)
local env = {print = print, n = 5}
local g = assert(load("n = n * 2; return n", "env", "t", env))
assert(g() == 10 and env.n == 10)

-- errors as tables, nested pcall, xpcall with a traceback handler
local E = {}
local errs = 0
for i = 1, 2000 do
  local ok2, e = pcall(function()
    local ok3, e3 = pcall(error, setmetatable({code = i}, E))
    assert(not ok3)
    error(e3)
  end)
  if not ok2 and getmetatable(e) == E and e.code == i then errs = errs + 1 end
end
assert(errs == 2000)
local ok4, tb = xpcall(function() local t = nil; return t.x end, debug.traceback)
assert(not ok4 and tb:find("stack traceback", 1, true))

print(string.format("closures: ok fib %d desc %d vec %d,%d", fib(80) % 1000003, desc, acc.x, acc.y))
