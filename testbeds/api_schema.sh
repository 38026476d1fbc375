#!/usr/bin/env bash
# Issue 10: schemathesis drives every operation of the admin API from its
# own OpenAPI document (generated and mutated inputs, fixed seed): no 5xx,
# every status code, content type, header and body as documented, invalid
# input rejected, and the token required. (/v1/events is a WebSocket: the
# events testbeds cover it.)
source "$(dirname "$0")/lib.sh"

start_switch apischema --set directory.first_run_extensions=
run_schemathesis() {
  (cd "$OUT" && "$ROOT/testbeds/.venv/bin/st" run "http://127.0.0.1:$HTTP_PORT/v1/openapi.json" \
     -H "Authorization: Bearer $TOKEN" --checks all --experimental=openapi-3.1 \
     --hypothesis-max-examples 40 --hypothesis-seed 1 --hypothesis-derandomize \
     --hypothesis-suppress-health-check all --exclude-path /v1/events \
     --workers 1 --request-timeout 5000 --no-color)
}
check "schemathesis: the API conforms to its OpenAPI document" run_schemathesis
check "switch process still running"                         alive
summary "api_schema"
