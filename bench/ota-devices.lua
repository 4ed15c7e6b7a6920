-- wrk script for scripts/bench-ota.sh: every request is another device, in turn,
-- with its own token, so the server under test looks up a different device each time
-- (10,000 of them by default), as a fleet of terminals would.
--
--   DEVICES   a file of "id token" lines
--   TEMPLATE  the request path, "%s" the device id (e.g. /DEFAULT/controller/v1/%s)
--   RANGE     if set, sent as the Range header (e.g. bytes=33554432-)
local threads = 0

function setup(thread)
   thread:set("tid", threads)
   threads = threads + 1
end

function init(args)
   devices = {}
   for line in io.lines(os.getenv("DEVICES")) do
      local id, token = line:match("^(%S+)%s+(%S+)")
      if id then
         devices[#devices + 1] = { id, token }
      end
   end
   template = os.getenv("TEMPLATE")
   range = os.getenv("RANGE")
   -- Threads start far apart, so two never ask for the same device together.
   next_device = (tid * math.floor(#devices / 2 + 1)) % #devices
end

function request()
   next_device = next_device % #devices + 1
   local d = devices[next_device]
   local headers = { Authorization = "TargetToken " .. d[2] }
   if range and range ~= "" then
      headers["Range"] = range
   end
   return wrk.format("GET", string.format(template, d[1]), headers)
end
