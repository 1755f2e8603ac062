#!/usr/bin/env python3
"""Levqor jobs benchmark: intake throughput and latency against a bare actix-web
ceiling, end-to-end echo jobs/s, enqueue->start latency at idle, and peak RSS.

Run from the repository root with `just bench` (or `python3 scripts/bench/jobs.py`).
Needs a release build (`cargo build --release -p levqor --bins --example bare_echo`) and
`wrk`. Every server runs on loopback with a throw-away data directory; everything it
starts is stopped before it exits. Writes docs/BENCHMARKS.md unless --no-write.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "levqor")
BARE = os.path.join(ROOT, "target", "release", "examples", "bare_echo")
LUA = os.path.join(ROOT, "scripts", "bench", "intake.lua")
ADMIN = "lq_bench_admin_key_0123456789abcdef"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(method, url, body=None, key=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("X-Api-Key", key)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def wait_up(url, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


class Levqor:
    def __init__(self, data, workers, db=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": db or f"sqlite://{data}/levqor.db",
            "LEVQOR_DATA_DIR": data,
            "LEVQOR_ADDR": f"127.0.0.1:{self.port}",
            "API_KEYS": ADMIN,
            "RATE_BURST": "100000000",
            "RATE_GLOBAL": "100000000",
            "RATE_READ": "100000000",
            "LEVQOR_WORKERS": str(workers),
            "LEVQOR_OWNER_CONCURRENCY": str(max(workers, 1)),
            "LEVQOR_LOG": "warn",
        }
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(self.base + "/health", self.proc)

    def rss_peak_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wrk(url, seconds, connections, key=None):
    env = dict(os.environ)
    if key:
        env["LEVQOR_KEY"] = key
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", LUA, url],
                         env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non2xx": int(non2xx.group(1)) if non2xx else 0}


def user_key(base):
    u = call("POST", base + "/api/v1/users/upsert", {"email": "bench@example.com"}, ADMIN)["user"]["id"]
    return call("POST", f"{base}/api/v1/users/{u}/keys", {}, ADMIN)["key"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=256)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    for path in (BIN, BARE):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run `cargo build --release -p levqor --bins --example bare_echo` first")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")

    results = {}
    # 1. The ceiling: bare actix-web answering the same JSON POST.
    port = free_port()
    bare = subprocess.Popen([BARE, f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        results["bare"] = wrk(f"http://127.0.0.1:{port}/api/v1/intake", a.seconds, a.connections)
    finally:
        bare.terminate()
        bare.wait()

    data = tempfile.mkdtemp(prefix="levqor-bench-")
    try:
        # 2. Intake alone (API only: every 202 after its durable commit).
        srv = Levqor(data, workers=0)
        try:
            key = user_key(srv.base)
            results["intake"] = wrk(srv.base + "/api/v1/intake", a.seconds, a.connections, key)
            results["intake_rss_mb"] = srv.rss_peak_mb()
            backlog = call("GET", srv.base + "/ops/queue_health")["queued"]
        finally:
            srv.stop()

        # 3. End to end: workers drain the backlog of echo jobs just taken in.
        srv = Levqor(data, workers=a.workers)
        try:
            t0 = time.time()
            while True:
                h = call("GET", srv.base + "/ops/queue_health")
                if h["queued"] == 0 and h["running"] == 0:
                    break
                # Counting a large queue is not free: look 4 times a second (±0.25 s).
                time.sleep(0.25)
            elapsed = time.time() - t0
            results["drain"] = {"jobs": backlog, "seconds": elapsed, "jobs_per_s": backlog / elapsed}
            results["drain_rss_mb"] = srv.rss_peak_mb()

            # 4. Enqueue -> start latency at idle: one job at a time.
            lat = []
            for n in range(200):
                job = call("POST", srv.base + "/api/v1/intake", {"workflow": "echo", "payload": {"n": n}}, key)["job_id"]
                for _ in range(200):
                    doc = call("GET", f"{srv.base}/api/v1/status/{job}", key=key)
                    if doc["started_at"]:
                        break
                    time.sleep(0.002)
                c = datetime.fromisoformat(doc["created_at"].replace("Z", "+00:00"))
                s = datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00"))
                lat.append((s - c).total_seconds() * 1000)
                time.sleep(0.01)
            lat.sort()
            results["start_latency_ms"] = {"p50": statistics.median(lat), "p99": lat[int(len(lat) * 0.99) - 1]}
        finally:
            srv.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)

    results["intake_vs_bare"] = results["intake"]["rps"] / results["bare"]["rps"]
    print(json.dumps(results, indent=2))
    if not a.no_write:
        write_report(results, a)


def write_report(r, a):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        pass
    cmd = f"python3 scripts/bench/jobs.py --seconds {a.seconds} --connections {a.connections} --workers {a.workers}"
    lines = [
        "# Benchmarks",
        "",
        "Produced by `just bench`, which builds release binaries and runs",
        f"`{cmd}`.",
        f"Last run: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} on {os.cpu_count()} cores ({cpu}),",
        "SQLite in WAL mode with `synchronous = FULL`; load from `wrk` on the same machine",
        f"(2 threads, {a.connections} connections, {a.seconds} s), so the load generator shares the cores.",
        "",
        "## Jobs (issue: durable job orchestration)",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| bare actix-web JSON POST (ceiling) | {r['bare']['rps']:,.0f} req/s, p50 {r['bare']['p50_ms']:.2f} ms, p99 {r['bare']['p99_ms']:.2f} ms | — |",
        f"| `POST /api/v1/intake` (auth, validation, durable commit) | {r['intake']['rps']:,.0f} req/s, p50 {r['intake']['p50_ms']:.2f} ms, p99 {r['intake']['p99_ms']:.2f} ms, non-2xx {r['intake']['non2xx']} | ≥ 50 % of the ceiling: **{r['intake_vs_bare']:.0%}** |",
        f"| end-to-end echo jobs (workers draining {r['drain']['jobs']:,} queued jobs, {a.workers} workers) | {r['drain']['jobs_per_s']:,.0f} jobs/s | ≥ 10,000 jobs/s |",
        f"| enqueue → start latency at idle (200 jobs, one at a time) | p50 {r['start_latency_ms']['p50']:.2f} ms, p99 {r['start_latency_ms']['p99']:.2f} ms | p50 < 5 ms |",
        f"| peak RSS | {r['intake_rss_mb']:.0f} MB under intake load, {r['drain_rss_mb']:.0f} MB while draining | < 100 MB |",
        "",
    ]
    path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    existing = open(path).read() if os.path.exists(path) else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else "\n"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "<!-- notes -->" + notes)


if __name__ == "__main__":
    main()
