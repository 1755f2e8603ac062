# Levqor maintainers' recipes. `just --list` shows them.

pg_url := env_var_or_default("LEVQOR_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")

# Serve the API on the embedded default (SQLite in ./data).
run *args:
    cargo run --release -p levqor -- serve {{args}}

# Every test; PostgreSQL tests print that they were skipped.
test:
    cargo test --workspace

# The store and HTTP suites against PostgreSQL (LEVQOR_TEST_DATABASE_URL, default local postgres).
test-pg:
    LEVQOR_TEST_DATABASE_URL="{{pg_url}}" cargo test -p levqor-store -p levqor

# Clippy with warnings as errors, and the formatting check.
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --all --check

fmt:
    cargo fmt --all

# Apply migrations to DATABASE_URL (default: the SQLite file in ./data).
migrate:
    cargo run -p levqor -- migrate

# Regenerate docs/API.md from the OpenAPI document.
api-docs:
    cargo run -q -p levqor -- openapi --markdown > docs/API.md

# The contract checks of ../shared/conformance against a release build. The
# harness starts the binary from a temporary directory, so it gets an absolute
# checkout path (with the default "." it would look for ./target there).
conformance *args:
    python3 ../shared/conformance/conformance.py --checkout "$(pwd)" {{args}}

# One run: the bare actix echo, intake as shipped, SQLite, PostgreSQL at
# 127.0.0.1:5432 with one and three processes, graphile-worker as the peer.
# Arguments go to scripts/bench/jobs.py; a smoke run (its figures mean nothing):
# `just bench --seconds 2 --latency-jobs 20 --jobs 2000 --pg-workers 32 --no-write`.
# Jobs benchmark (release build, wrk on loopback); writes docs/BENCHMARKS.md.
bench *args:
    command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
    test -d scripts/bench/graphile/node_modules/graphile-worker || (cd scripts/bench/graphile && npm ci --no-audit --no-fund)
    cargo build --release -p levqor --bins --example bare_echo
    python3 scripts/bench/jobs.py {{args}}

# The rule planner scored on ../shared/planner/dev_set.jsonl through POST /api/v1/plan:
# a release build serving a throw-away SQLite data dir on a free loopback port, a
# user and its key made with the CLI, then eval.py. Extra args go to eval.py.
planner-eval *args:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release -q -p levqor
    bin="${CARGO_TARGET_DIR:-target}/release/levqor"
    dir=$(mktemp -d)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Sixty plans in a row from one address: lift the per-user plan rate and the write limits.
    export DATABASE_URL="sqlite://$dir/levqor.db" LEVQOR_DATA_DIR="$dir" PLAN_RATE=1000 RATE_BURST=1000 RATE_GLOBAL=1000
    unset OPENAI_API_KEY
    admin=$("$bin" keys create --admin --label planner-eval)
    LEVQOR_ADDR="127.0.0.1:$port" "$bin" serve >"$dir/serve.log" 2>&1 &
    pid=$!
    trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
    curl -sf -X POST "http://127.0.0.1:$port/api/v1/users/upsert" -H "X-Api-Key: $admin" \
      -H 'Content-Type: application/json' -d '{"email": "planner-eval@example.com", "name": "Planner eval"}' >/dev/null
    key=$("$bin" keys create --user planner-eval@example.com --label planner-eval)
    python3 ../shared/planner/eval.py --url "http://127.0.0.1:$port" --key "$key" {{args}}
