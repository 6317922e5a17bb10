-- Tables: the array and hash parts growing and shrinking, every kind of
-- key, traversal with deletion, the table library, nested records.
local N = 200000

local t = {}
for i = 1, N do t[i] = i * 3 end
assert(#t == N)
local sum = 0
for i = 1, N do sum = sum + t[i] end
assert(sum == 3 * N * (N + 1) // 2)
for i = N, N // 2 + 1, -1 do t[i] = nil end
assert(#t == N // 2)
for i = 1, N // 2 do t[i] = nil end
assert(next(t) == nil)

-- hash part: string, float, boolean and table keys
local h, tkeys = {}, {}
for i = 1, 50000 do
  h["k" .. i] = i
  h[i + 0.5] = -i
end
h[true], h[false] = "yes", "no"
for i = 1, 1000 do
  local k = {i}
  tkeys[i] = k
  h[k] = i * i
end
local count = 0
for _ in pairs(h) do count = count + 1 end
assert(count == 50000 * 2 + 2 + 1000)
-- assigning nil to existing fields during traversal is allowed
for k, v in pairs(h) do
  if type(v) == "number" and v % 2 == 0 then h[k] = nil end
end
count = 0
for _, v in pairs(h) do
  count = count + 1
  assert(type(v) ~= "number" or v % 2 ~= 0)
end
-- odd i: k..i (25000), odd -i (25000), odd i*i for odd i (500), two booleans
assert(count == 25000 + 25000 + 500 + 2, count)
for i = 1, 1000, 2 do assert(h[tkeys[i]] == i * i) end
assert(h[2.5] == nil and h[3.5] == -3 and h.k3 == 3 and h.k4 == nil)

-- a sparse table that turns into an array
local s = {}
for i = 10000, 1, -1 do s[i] = i end
assert(#s == 10000)
local asum = 0
for i, v in ipairs(s) do asum = asum + v end
assert(asum == 10000 * 10001 // 2)

-- the table library
local a = {}
for i = 1, 30000 do table.insert(a, (i * 7919) % 30011) end
table.insert(a, 1, -1)
table.insert(a, 15000, -2)
assert(table.remove(a, 1) == -1)
assert(table.remove(a, 14999) == -2)
table.sort(a)
for i = 2, #a do assert(a[i - 1] <= a[i]) end
table.sort(a, function(x, y) return x > y end)
for i = 2, #a do assert(a[i - 1] >= a[i]) end
local moved = table.move(a, 1, 100, 1, {})
assert(#moved == 100 and moved[1] == a[1] and moved[100] == a[100])
local packed = table.pack(table.unpack(a, 1, 200))
assert(packed.n == 200 and packed[200] == a[200])
local words = {}
for i = 1, 5000 do words[i] = "w" .. (i % 97) end
local joined = table.concat(words, ",")
assert(#joined == 5000 - 1 + (function()
  local n = 0
  for i = 1, 5000 do n = n + #words[i] end
  return n
end)())

-- records: build, index, group, sort by several fields
local people = {}
for i = 1, 40000 do
  people[i] = {id = i, name = "p" .. (i * 31 % 1000), age = 18 + i % 60,
               tags = {"t" .. i % 5, "t" .. i % 7}, score = (i * 2654435761) % 1000 / 10}
end
local byAge = {}
for _, p in ipairs(people) do
  local g = byAge[p.age]
  if not g then g = {}; byAge[p.age] = g end
  g[#g + 1] = p
end
local ages = {}
for age in pairs(byAge) do ages[#ages + 1] = age end
table.sort(ages)
assert(#ages == 60 and ages[1] == 18 and ages[60] == 77)
table.sort(people, function(x, y)
  if x.age ~= y.age then return x.age < y.age end
  if x.name ~= y.name then return x.name < y.name end
  return x.id < y.id
end)
for i = 2, #people do
  local x, y = people[i - 1], people[i]
  assert(x.age < y.age or (x.age == y.age and (x.name < y.name or (x.name == y.name and x.id < y.id))))
end
local digest = 0
for i, p in ipairs(people) do digest = (digest * 31 + p.id * i) % 1000000007 end

-- a matrix of rows, transposed and multiplied
local M = 60
local A, B = {}, {}
for i = 1, M do
  A[i], B[i] = {}, {}
  for j = 1, M do A[i][j] = (i + j) % 11; B[i][j] = (i * j) % 13 end
end
local C = {}
for i = 1, M do
  local row = {}
  for j = 1, M do
    local x = 0
    for k = 1, M do x = x + A[i][k] * B[k][j] end
    row[j] = x
  end
  C[i] = row
end
local trace = 0
for i = 1, M do trace = trace + C[i][i] end

print(string.format("tables: ok digest %d trace %d joined %d", digest, trace, #joined))
