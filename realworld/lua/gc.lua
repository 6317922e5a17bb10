-- The garbage collector: incremental and generational modes, weak tables,
-- ephemerons, finalizers (order, resurrection), memory given back.
local function kb() return collectgarbage("count") end

collectgarbage("collect")
local base = kb()

-- churn: short-lived tables and strings
local keep = {}
for i = 1, 300000 do
  local t = {i, tostring(i), {i}}
  if i % 1000 == 0 then keep[#keep + 1] = t end
end
assert(#keep == 300)

-- a large structure, then dropped: the count must fall back
local big = {}
for i = 1, 200000 do big[i] = {x = i, s = "s" .. i} end
local peak = kb()
assert(peak > base + 10000)
big = nil
collectgarbage("collect")
assert(kb() < peak / 2)

-- weak values, weak keys, ephemerons (garbage made in functions of their
-- own, so that no dead register of this chunk still holds an object)
local wv = setmetatable({}, {__mode = "v"})
local wk = setmetatable({}, {__mode = "k"})
local strong = {}
local function fill()
  for i = 1, 10000 do
    local o = {i}
    wv[i] = o
    wk[o] = i
    if i % 10 == 0 then strong[#strong + 1] = o end
  end
end
fill()
collectgarbage("collect")
local nv, nk = 0, 0
for _ in pairs(wv) do nv = nv + 1 end
for _ in pairs(wk) do nk = nk + 1 end
assert(nv == 1000 and nk == 1000, nv .. " " .. nk)
-- an ephemeron: the value refers to its own key, so only the key keeps it
local eph = setmetatable({}, {__mode = "k"})
local function ephemerons() for i = 1, 5000 do local k = {}; eph[k] = {ref = k, n = i} end end
ephemerons()
collectgarbage("collect")
assert(next(eph) == nil)

-- finalizers: each runs once; a resurrected object stays usable until its
-- last reference goes
local order, saved = {}, nil
local function mortals()
  for i = 1, 5 do setmetatable({}, {__gc = function() order[#order + 1] = i end}) end
  setmetatable({name = "phoenix"}, {__gc = function(o) saved = o end})
end
mortals()
collectgarbage("collect")
table.sort(order)
assert(table.concat(order, ",") == "1,2,3,4,5")
assert(saved and saved.name == "phoenix")
saved = nil
collectgarbage("collect")
local fin = 0
local function many() for i = 1, 20000 do setmetatable({}, {__gc = function() fin = fin + 1 end}) end end
many()
collectgarbage("collect")
collectgarbage("collect")
assert(fin == 20000)

-- incremental mode, generational, then incremental again, with steps
-- (the stand-alone interpreter starts in generational mode)
local first = collectgarbage("incremental")
assert(first == "generational" or first == "incremental")
assert(collectgarbage("generational") == "incremental")
local live = {}
for round = 1, 20 do
  for i = 1, 10000 do live[i] = {round, i, "r" .. round} end
  collectgarbage("step", 0)
end
assert(collectgarbage("incremental") == "generational")
for i = 1, 50 do collectgarbage("step", 100) end
assert(live[10000][1] == 20)
live = nil

-- strings: long ones are not interned; a rope of them is freed
local rope = {}
for i = 1, 2000 do rope[i] = string.rep(string.char(65 + i % 26), 1000 + i) end
local len = #table.concat(rope)
rope = nil
collectgarbage("collect")

-- binary trees: the classic allocation benchmark
local function bottomUp(d)
  if d == 0 then return {} end
  d = d - 1
  return {bottomUp(d), bottomUp(d)}
end
local function check(t)
  if t[1] then return 1 + check(t[1]) + check(t[2]) end
  return 1
end
local maxd = 14
local longlived = bottomUp(maxd)
local checks = 0
for d = 4, maxd, 2 do
  local iters = 1 << (maxd - d + 4)
  for _ = 1, iters do checks = checks + check(bottomUp(d)) end
end
checks = checks + check(longlived)

collectgarbage("collect")
assert(kb() < peak)
print(string.format("gc: ok len %d checks %d", len, checks))
