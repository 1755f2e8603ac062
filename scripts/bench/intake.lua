-- wrk script: POST an echo job to /api/v1/intake with the key from $LEVQOR_KEY.
wrk.method = "POST"
wrk.body = '{"workflow":"echo","payload":{"hello":"world","n":1}}'
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("LEVQOR_KEY")
if key then
  wrk.headers["X-Api-Key"] = key
end
