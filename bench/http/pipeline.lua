-- wrk script: pipelining, like TechEmpower's pipeline.lua.
-- Each write carries DEPTH copies of the request (default 16); wrk counts
-- every response, and records one latency sample per batch (the time from
-- the write to the last response of the batch).
--   wrk -s bench/http/pipeline.lua URL -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
