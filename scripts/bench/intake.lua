-- wrk script: POST an echo job to /api/v1/intake with the key from $LEVQOR_KEY.
-- With $LEVQOR_JOBS_PER_THREAD set, each wrk thread stops after that many
-- answers (a backlog of a given size; requests still in flight then may add a few).
wrk.method = "POST"
wrk.body = '{"workflow":"echo","payload":{"hello":"world","n":1}}'
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("LEVQOR_KEY")
if key then
  wrk.headers["X-Api-Key"] = key
end
local quota = tonumber(os.getenv("LEVQOR_JOBS_PER_THREAD") or "")
if quota then
  local answered = 0
  function response(status, headers, body)
    answered = answered + 1
    if answered >= quota then
      wrk.thread:stop()
    end
  end
end
