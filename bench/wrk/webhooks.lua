-- wrk script for bench.wrk: POST pre-signed Shopify orders, each request with a webhook
-- id of its own. Arguments (after --): <pool file> <run tag> <path> <shop domain>.
-- Pool lines are "<base64 HMAC>\t<JSON body>", written by bench/wrk/pool.py.
-- Globals, not locals, where the main state reads them back through thread:get.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  pool = {}
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local signature, body = line:match("^([^\t]+)\t(.*)$")
    pool[#pool + 1] = { signature, body }
  end
  file:close()
  tag, path, shop = args[2], args[3], args[4]
  sent = 0
  answered = {}
end

function request()
  sent = sent + 1
  local order = pool[(sent % #pool) + 1]
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Hmac-Sha256"] = order[1],
    ["X-Shopify-Shop-Domain"] = shop,
    ["X-Shopify-API-Version"] = "2026-07",
    ["X-Shopify-Webhook-Id"] = string.format("%s-%d-%d", tag, thread_id, sent),
  }
  return wrk.format("POST", path, headers, order[2])
end

function response(status, headers, body)
  local key = tostring(status)
  answered[key] = (answered[key] or 0) + 1
end

function done(summary, latency, requests)
  local totals, statuses = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("answered")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  for status, n in pairs(totals) do
    statuses[#statuses + 1] = string.format('"%s": %d', status, n)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect + errors.read + errors.write + errors.timeout,
    table.concat(statuses, ", ")))
end
