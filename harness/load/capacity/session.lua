-- tomcat-bench capacity mode: wrk drives session.jsp, each session used by one request at
-- a time, its counter checked on every reply that names it.
--
--   wrk -t2 -c32 -d20s -s session.lua http://127.0.1.10:8080/session.jsp -- OUT [RATE [TIMEOUT]]
--
-- OUT      prefix of the per-thread record files (OUT<thread>.csv), one row per reply:
--          end_us,slot,session,node,counter,outcome,latency_us,corrected_us,status,intended_us
-- RATE     requests per second for EACH thread to pace at (0 or absent: closed loop)
-- TIMEOUT  wrk's --timeout in seconds (default 5): a request older than that got no reply
--
-- Sessions are known by their base id (up to the first "." or "-"), as the Locust path
-- knows them: Tomcat appends ".jvmRoute" and memcached-session-manager "-memcachedNode",
-- and both rewrite it on failover without the session being lost.
--
-- Why a pool of sessions and not one per connection: wrk's Lua API never says which
-- connection a request() or response() belongs to. Each wrk connection has exactly one
-- request in flight, so a per-thread pool of idle sessions, taken by request() and given
-- back by response() (the reply names its session), holds as many sessions as the thread
-- has connections, and no session ever has two requests in flight: exactly the per-user
-- order a counter check needs.
--
-- Latency is measured here with a microsecond wall clock (LuaJIT FFI): uncorrected from the
-- moment request() built the request; corrected (paced runs) from the moment the schedule
-- meant to send it when no connection was free by then (wrk2's correction for coordinated
-- omission: the wait for a slow predecessor counts). A request sent on time, waiting only
-- for its timer, has corrected == uncorrected; corrected is never below uncorrected.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } tb_timespec;
  int clock_gettime(int clk_id, tb_timespec *tp);
]]
local CLOCK_REALTIME = 0
local ts = ffi.new("tb_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_REALTIME, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
local thread_ids = 0

function setup(thread)
  thread_ids = thread_ids + 1
  thread:set("thread_id", thread_ids)
  table.insert(threads, thread)
end

local out
local idle = {}          -- sessions waiting for a request: a stack
local idle_n = 0
local by_id = {}         -- session id -> session
local fresh = {}         -- send and intended times of requests sent without a cookie (FIFO)
local fresh_head, fresh_tail = 1, 0
local inflight = {}      -- sessions with a request in flight
local timeout_us = 5000000
local intended = {}      -- pacing: scheduled send times claimed by delay(), FIFO
local late = {}          -- ...and whether the connection came free only after that time
local int_head, int_tail = 1, 0
local next_us, interval_us
local slots = 0
local path, host_header

function init(args)
  out = assert(io.open(args[1] .. thread_id .. ".csv", "w"))
  out:setvbuf("full", 1048576)
  local rate = tonumber(args[2] or "0") or 0
  timeout_us = (tonumber(args[3] or "5") or 5) * 1000000
  if rate > 0 then
    interval_us = 1000000 / rate  -- per thread: the harness passes the rate per thread
    delay = function()
      local now = now_us()
      if next_us == nil then next_us = now end
      local slot = next_us
      next_us = next_us + interval_us
      int_tail = int_tail + 1
      intended[int_tail] = slot
      -- Late: the connection came free (its previous reply arrived) only after the slot,
      -- so the wait since the slot is the server's doing and the correction counts it.
      late[int_tail] = slot < now
      local wait_ms = (slot - now) / 1000
      -- wrk's timers count whole milliseconds: round down, never send late for it.
      if wait_ms < 1 then return 0 end
      return math.floor(wait_ms)
    end
  end
  path = wrk.path
  host_header = wrk.headers["Host"] or wrk.host
end

local function build(cookie)
  local headers = "GET " .. path .. " HTTP/1.1\r\nHost: " .. host_header .. "\r\n"
  if cookie then headers = headers .. "Cookie: JSESSIONID=" .. cookie .. "\r\n" end
  return headers .. "\r\n"
end
local no_cookie

-- wrk calls request() once on its first thread before any load, only to check that the
-- request parses; that call must not take a schedule slot or a fresh-session entry.
local verified = false

function request()
  if not verified then
    verified = true
    if thread_id == 1 then
      if not no_cookie then no_cookie = build(nil) end
      return no_cookie
    end
  end
  local now = now_us()
  local slot, held = now, 0
  if interval_us then
    slot = intended[int_head] or now
    if late[int_head] then held = now - slot end
    intended[int_head], late[int_head] = nil, nil
    int_head = int_head + 1
  end
  if idle_n == 0 then
    fresh_tail = fresh_tail + 3
    fresh[fresh_tail - 2], fresh[fresh_tail - 1], fresh[fresh_tail] = now, slot, held
    if not no_cookie then no_cookie = build(nil) end
    return no_cookie
  end
  local s = idle[idle_n]
  idle[idle_n] = nil
  idle_n = idle_n - 1
  s.sent, s.slot_us, s.held = now, slot, held
  inflight[s] = true
  return s.req
end

-- wrk calls response() for no request that timed out or failed on its socket: drop what
-- such requests left behind, or a later reply would take their send time. Walking the
-- in-flight set costs a loop over the thread's connections, so it runs every 100 ms, not
-- on every reply: an entry is at most that much older than the timeout when it goes.
local next_expire_us = 0
local function expire(now)
  if now < next_expire_us then return end
  next_expire_us = now + 100000
  while fresh[fresh_head] ~= nil and fresh[fresh_head] < now - timeout_us do
    fresh[fresh_head], fresh[fresh_head + 1], fresh[fresh_head + 2] = nil, nil, nil
    fresh_head = fresh_head + 3
  end
  for s in pairs(inflight) do
    if s.sent < now - timeout_us then inflight[s] = nil end
  end
end

-- An error reply names no session: it answers the oldest request in flight, a cookie-less
-- one (its queue entry goes) or a session's (that session leaves the pool; a new one
-- replaces it).
local function oldest_inflight()
  local oldest, oldest_sent = nil, math.huge
  for s in pairs(inflight) do
    if s.sent < oldest_sent then oldest, oldest_sent = s, s.sent end
  end
  return oldest, oldest_sent
end

local function forget_oldest()
  local oldest, oldest_sent = oldest_inflight()
  local fresh_sent = fresh[fresh_head]
  if fresh_sent ~= nil and fresh_sent <= oldest_sent then
    fresh[fresh_head], fresh[fresh_head + 1], fresh[fresh_head + 2] = nil, nil, nil
    fresh_head = fresh_head + 3
  elseif oldest ~= nil then
    inflight[oldest] = nil
  end
end

local format = string.format
local match = string.match

function response(status, headers, body)
  local now = now_us()
  expire(now)
  local id, node, counter = match(body, '"session":"([^"]*)","node":"([^"]*)","counter":(%d+)')
  if status ~= 200 or id == nil then
    forget_oldest()
    out:write(format("%d,0,,,,error,,,%d,\n", now, status))
    return
  end
  counter = tonumber(counter)
  local base = match(id, "^([^.%-]+)") or id
  local s = by_id[base]
  local outcome, sent, slot, held
  if s == nil then
    -- A session we never saw: the reply to a request sent without a cookie, or, when none
    -- is in flight, a session the server lost and replaced. That reply names no request:
    -- it is charged to the oldest session in flight, which leaves the pool, so its latency
    -- is at least the real one (it read 0 ms, and such replies pulled p50 down to 0).
    sent, slot, held = fresh[fresh_head], fresh[fresh_head + 1], fresh[fresh_head + 2]
    local replaced = sent == nil
    if not replaced then
      fresh[fresh_head], fresh[fresh_head + 1], fresh[fresh_head + 2] = nil, nil, nil
      fresh_head = fresh_head + 3
    else
      local oldest = oldest_inflight()
      if oldest ~= nil then
        inflight[oldest] = nil
        sent, slot, held = oldest.sent, oldest.slot_us, oldest.held
      else
        sent, slot, held = now, now, 0  -- nothing in flight: no send time to charge
      end
    end
    slots = slots + 1
    s = { id = id, slot = thread_id * 1000000 + slots, counter = 0, req = build(id) }
    by_id[base] = s
    outcome = (counter == 1 and not replaced) and "new" or "session_lost"
  else
    inflight[s] = nil
    sent, slot, held = s.sent, s.slot_us, s.held
    if id ~= s.id then s.id, s.req = id, build(id) end  -- a node or msm rewrote it
    if counter == s.counter + 1 then
      outcome = "kept"
    elseif counter > s.counter + 1 then
      outcome = "replayed"
    else
      outcome = "data_lost"
    end
  end
  s.counter = counter
  idle_n = idle_n + 1
  idle[idle_n] = s
  local latency = now - sent
  out:write(format("%d,%d,%s,%s,%d,%s,%d,%d,%d,%d\n",
    now, s.slot, id, node, counter, outcome, latency, latency + held, status, slot))
end

function done(summary, latency, requests)
  -- Each thread's record file is flushed when wrk exits (stdio flushes open files).
  io.write(format("tomcat-bench: %d requests, %d connect, %d read, %d write, %d timeout, %d status errors\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status))
end
