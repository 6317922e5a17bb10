-- A mixed workload: a JSON encoder and decoder over generated documents,
-- word counting over generated text, an LRU cache, and a priority queue.
local function encode(v, out)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = string.format("%q:", k)
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  elseif t == "number" then
    out[#out + 1] = math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  else
    out[#out + 1] = tostring(v)
  end
  return out
end

local decode
local function skip(s, i) return s:find("[^ \n\t\r]", i) or #s + 1 end
local function dstring(s, i)
  local j, buf = i + 1, {}
  while true do
    local c = s:sub(j, j)
    if c == '"' then return table.concat(buf), j + 1 end
    if c == "\\" then
      local hex = s:sub(j + 2, j + 5)
      buf[#buf + 1] = string.char(tonumber(hex, 16))
      j = j + 6
    else
      local k = s:find('["\\]', j)
      buf[#buf + 1] = s:sub(j, k - 1)
      j = k
    end
  end
end
function decode(s, i)
  i = skip(s, i or 1)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      local k
      k, i = dstring(s, skip(s, i))
      i = skip(s, i) + 1 -- ':'
      obj[k], i = decode(s, i)
      i = skip(s, i)
      local d = s:sub(i, i)
      i = i + 1
      if d == "}" then return obj, i end
    end
  elseif c == "[" then
    local arr = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
      arr[#arr + 1], i = decode(s, i)
      i = skip(s, i)
      local d = s:sub(i, i)
      i = i + 1
      if d == "]" then return arr, i end
    end
  elseif c == '"' then
    return dstring(s, i)
  elseif s:find("^true", i) then return true, i + 4
  elseif s:find("^false", i) then return false, i + 5
  else
    local num = s:match("^-?[%d.eE+-]+", i)
    return math.tointeger(tonumber(num)) or tonumber(num), i + #num
  end
end

local seed = 7
local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n end
local function word() local w = {} for i = 1, 1 + rnd(8) do w[i] = string.char(97 + rnd(26)) end return table.concat(w) end
local function doc(depth)
  if depth == 0 then
    local r = rnd(4)
    if r == 0 then return rnd(100000) elseif r == 1 then return word() .. '"\n' elseif r == 2 then return rnd(1000) / 8 end
    return rnd(2) == 0
  end
  if rnd(2) == 0 then
    local a = {}
    for i = 1, 1 + rnd(6) do a[i] = doc(depth - 1) end
    return a
  end
  local o = {}
  for _ = 1, 1 + rnd(6) do o[word()] = doc(depth - 1) end
  return o
end

local jsonBytes, docs = 0, 0
for _ = 1, 300 do
  local d = doc(5)
  local s = table.concat(encode(d, {}))
  local back = decode(s)
  local s2 = table.concat(encode(back, {}))
  assert(s == s2)
  jsonBytes = jsonBytes + #s
  docs = docs + 1
end

-- word counts
local counts, nwords = {}, 0
for _ = 1, 60000 do
  local w = word()
  counts[w] = (counts[w] or 0) + 1
  nwords = nwords + 1
end
local list = {}
for w, n in pairs(counts) do list[#list + 1] = {w, n} end
table.sort(list, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
local top = {}
for i = 1, 5 do top[i] = list[i][1] .. "=" .. list[i][2] end

-- an LRU cache as a hash plus a doubly linked list
local LRU = {}
LRU.__index = LRU
function LRU.new(cap)
  local head = {}
  head.prev, head.next = head, head
  return setmetatable({cap = cap, size = 0, map = {}, head = head}, LRU)
end
function LRU:get(k)
  local n = self.map[k]
  if not n then return nil end
  n.prev.next, n.next.prev = n.next, n.prev
  n.next, n.prev = self.head.next, self.head
  self.head.next.prev = n
  self.head.next = n
  return n.v
end
function LRU:put(k, v)
  if self:get(k) ~= nil then self.map[k].v = v return end
  local n = {k = k, v = v, prev = self.head, next = self.head.next}
  self.head.next.prev = n
  self.head.next = n
  self.map[k] = n
  self.size = self.size + 1
  if self.size > self.cap then
    local last = self.head.prev
    last.prev.next, self.head.prev = self.head, last.prev
    self.map[last.k] = nil
    self.size = self.size - 1
  end
end
local cache, hits = LRU.new(1000), 0
for i = 1, 300000 do
  local k = rnd(3000)
  if cache:get(k) then hits = hits + 1 else cache:put(k, {k, tostring(k)}) end
end

-- a binary heap
local heap = {}
local function push(x)
  heap[#heap + 1] = x
  local i = #heap
  while i > 1 and heap[i // 2] > heap[i] do heap[i], heap[i // 2] = heap[i // 2], heap[i]; i = i // 2 end
end
local function pop()
  local top, last = heap[1], table.remove(heap)
  if #heap > 0 then
    heap[1] = last
    local i = 1
    while true do
      local l, r, m = 2 * i, 2 * i + 1, i
      if l <= #heap and heap[l] < heap[m] then m = l end
      if r <= #heap and heap[r] < heap[m] then m = r end
      if m == i then break end
      heap[i], heap[m] = heap[m], heap[i]
      i = m
    end
  end
  return top
end
for _ = 1, 50000 do push(rnd(1000000)) end
local prev, popped = -1, 0
while #heap > 0 do local x = pop(); assert(x >= prev); prev = x; popped = popped + 1 end

print(string.format("workload: ok docs %d json %d words %d top %s hits %d popped %d",
  docs, jsonBytes, nwords, table.concat(top, ","), hits, popped))
