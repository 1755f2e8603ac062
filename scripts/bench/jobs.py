#!/usr/bin/env python3
"""Levqor jobs benchmark, all in one run:

- the ceiling: a bare actix-web JSON echo (examples/bare_echo);
- intake as users run Levqor (default info-level JSON access logs, written to a
  file), API only and with the default workers, on SQLite;
- SQLite: end-to-end echo drain, enqueue->start latency at idle, peak RSS;
- PostgreSQL (a fresh database per stage, dropped at the end): intake with group
  commit, end-to-end echo drain with one and with three `levqor serve` processes
  sharing one queue, enqueue->start latency across processes (intake in one,
  `levqor worker` in another: the LISTEN/NOTIFY wake-up);
- the peer: graphile-worker draining the same number of no-op jobs from the same
  PostgreSQL server (scripts/bench/graphile).

Run from the repository root with `just bench` (or `python3 scripts/bench/jobs.py`).
Needs a release build (`cargo build --release -p levqor --bins --example bare_echo`;
CARGO_TARGET_DIR is honoured), `wrk`, `psql`, PostgreSQL on loopback (user postgres,
trust auth) and `npm ci` in scripts/bench/graphile. Traffic goes to loopback only;
every loop is bounded in count and time; every server, worker and database it
starts is stopped or dropped before it exits, also on error or SIGINT/SIGTERM.
Writes docs/BENCHMARKS.md unless --no-write (or to --out).
"""
import argparse
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR", "target"))
BIN = os.path.join(TARGET, "release", "levqor")
BARE = os.path.join(TARGET, "release", "examples", "bare_echo")
LUA = os.path.join(ROOT, "scripts", "bench", "intake.lua")
GRAPHILE = os.path.join(ROOT, "scripts", "bench", "graphile")
ADMIN = "lq_bench_admin_key_0123456789abcdef"
# One secret for every process on a shared database, as a deployment would have.
SECRET = "levqor-bench-secret-0123456789abcdef"
# Benchmark traffic is one client and one user: lift the per-IP, global and
# per-user limits that would otherwise answer 429.
UNLIMITED = "1000000000"


class Cleanup:
    """What the run started, stopped in reverse order however it ends."""

    def __init__(self):
        self.actions = []

    def push(self, name, action):
        self.actions.append((name, action))

    def run(self):
        while self.actions:
            name, action = self.actions.pop()
            try:
                action()
            except Exception as e:  # keep cleaning up the rest
                print(f"cleanup: {name}: {e}", file=sys.stderr)


CLEANUP = Cleanup()


def on_signal(signum, _frame):
    # SystemExit unwinds through the finally blocks, which stop everything.
    raise SystemExit(f"stopped by signal {signum}")


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


def tail(path, lines=8):
    """The end of a log, for an error message (the run's directory is removed on exit)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(os.path.getsize(path) - 4096, 0))
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_process(proc, grace=20):
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def start_process(argv, name, log_path=None, **kwargs):
    """Starts a process that Cleanup stops; its stdout and stderr go to log_path."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(argv, stdout=out, stderr=out, **kwargs)
    finally:
        if log_path:
            out.close()
    CLEANUP.push(f"stop {name} (pid {proc.pid})", lambda: stop_process(proc))
    return proc


class Levqor:
    """One `levqor serve` (or `levqor worker`) process with a data directory of its own.

    Logging is left at its default (info, JSON access logs on stderr); stderr goes
    to LEVQOR_DATA_DIR/stderr.log. The working directory is the data directory, so
    no `.env` of the checkout leaks in."""

    def __init__(self, data, db=None, workers=None, owner_concurrency=None, command="serve", wait=True):
        os.makedirs(data, exist_ok=True)
        self.data = data
        self.command = command
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(data, "stderr.log")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": db or f"sqlite://{data}/levqor.db",
            "LEVQOR_DATA_DIR": data,
            "LEVQOR_ADDR": f"127.0.0.1:{self.port}",
            "LEVQOR_SECRET": SECRET,
            "API_KEYS": ADMIN,
            "RATE_BURST": UNLIMITED,
            "RATE_GLOBAL": UNLIMITED,
            "RATE_READ": UNLIMITED,
            "LEVQOR_MAX_QUEUED_PER_USER": UNLIMITED,
        }
        # Unset means Levqor's default (workers: one per CPU; owner limit: half of them).
        if workers is not None:
            env["LEVQOR_WORKERS"] = str(workers)
        if owner_concurrency is not None:
            env["LEVQOR_OWNER_CONCURRENCY"] = str(owner_concurrency)
        self.proc = start_process([BIN, command], f"levqor {command}", self.log, env=env, cwd=data)
        if wait:
            self.wait_ready()

    def wait_ready(self, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"levqor {self.command} exited with {self.proc.returncode}:\n{tail(self.log)}")
            if self.command == "serve":
                try:
                    urllib.request.urlopen(self.base + "/health", timeout=1)
                    return
                except Exception:
                    pass
            elif os.path.exists(self.log) and b"levqor worker running" in open(self.log, "rb").read():
                return
            time.sleep(0.05)
        raise RuntimeError(f"levqor {self.command} not ready after {seconds} s:\n{tail(self.log)}")

    def rss_peak_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def queue_health(self):
        return call("GET", self.base + "/ops/queue_health")

    def stop(self):
        stop_process(self.proc)

    def log_stats(self):
        """Lines the process logged and lines it reported dropped (read after stop)."""
        lines = dropped = 0
        with open(self.log, "rb") as f:
            for line in f:
                lines += 1
                if b"log lines dropped" in line:
                    try:
                        dropped += int(json.loads(line).get("dropped", 0))
                    except ValueError:
                        pass
        return {"lines": lines, "dropped": dropped}


def wrk(url, seconds, connections, key=None):
    env = {k: v for k, v in os.environ.items() if k not in ("LEVQOR_KEY", "LEVQOR_JOBS_PER_THREAD")}
    if key:
        env["LEVQOR_KEY"] = key
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", LUA, url],
                         env=env, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0}


def enqueue_backlog(srv, key, jobs, timeout):
    """About `jobs` echo jobs through intake (wrk threads stop at their share of
    answers; requests in flight then may add up to the connection count). wrk waits
    out its duration even when its threads have stopped, so it is interrupted as
    soon as the queue holds the backlog. Returns the queued count."""
    env = dict(os.environ, LEVQOR_KEY=key, LEVQOR_JOBS_PER_THREAD=str(-(-jobs // 2)))
    proc = subprocess.Popen(["wrk", "-t2", "-c16", f"-d{timeout}s", "-s", LUA, srv.base + "/api/v1/intake"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout + 30
        while proc.poll() is None and time.time() < deadline:
            if srv.queue_health()["queued"] >= jobs:
                break
            time.sleep(0.1)
    finally:
        # SIGINT: wrk's own way to end a run early.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    queued = srv.queue_health()["queued"]
    if queued < jobs:
        raise RuntimeError(f"only {queued} of {jobs} jobs enqueued within {timeout} s")
    return queued


def user_key(base):
    u = call("POST", base + "/api/v1/users/upsert", {"email": "bench@example.com"}, ADMIN)["user"]["id"]
    return call("POST", f"{base}/api/v1/users/{u}/keys", {}, ADMIN)["key"]


def wait_drained(srv, timeout):
    """Seconds until `srv` sees no queued and no running job (bounded by timeout)."""
    t0 = time.time()
    while True:
        h = srv.queue_health()
        if h["queued"] == 0 and h["running"] == 0:
            return time.time() - t0, h
        if time.time() - t0 > timeout:
            raise RuntimeError(f"queue not drained after {timeout} s: {h}")
        # Counting a large queue is not free: look 4 times a second (±0.25 s).
        time.sleep(0.25)


def start_latency(intake, key, n, timeout):
    """Enqueue->start latency at idle: n jobs one at a time, into `intake`; the
    difference of the job's own created_at and started_at."""
    lat = []
    deadline = time.time() + timeout
    for i in range(n):
        job = call("POST", intake.base + "/api/v1/intake", {"workflow": "echo", "payload": {"n": i}}, key)["job_id"]
        for _ in range(2000):
            doc = call("GET", f"{intake.base}/api/v1/status/{job}", key=key)
            if doc["started_at"] or time.time() > deadline:
                break
            time.sleep(0.002)
        if not doc["started_at"]:
            raise RuntimeError(f"job {job} did not start (latency stage, {timeout} s bound)")
        c = datetime.fromisoformat(doc["created_at"].replace("Z", "+00:00"))
        s = datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00"))
        lat.append((s - c).total_seconds() * 1000)
        time.sleep(0.01)
    lat.sort()
    return {"jobs": n, "p50": statistics.median(lat), "p99": lat[max(int(len(lat) * 0.99) - 1, 0)]}


# --- PostgreSQL -------------------------------------------------------------

class Postgres:
    def __init__(self, host, port):
        if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
            sys.exit(f"--pg-host {host} is not a loopback address: the benchmark talks to loopback only")
        self.host, self.port = host, port
        self.run_id = secrets.token_hex(4)

    def psql(self, sql, db="postgres"):
        p = subprocess.run(["psql", "-h", self.host, "-p", str(self.port), "-U", "postgres", "-d", db,
                            "-v", "ON_ERROR_STOP=1", "-Atqc", sql], capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"psql ({db}): {sql[:80]}: {p.stderr.strip()}")
        return p.stdout.strip()

    def create(self, stage):
        name = f"levqor_bench_{self.run_id}_{stage}"
        self.psql(f"CREATE DATABASE {name}")
        CLEANUP.push(f"drop database {name}", lambda: self.drop(name))
        return name

    def drop(self, name):
        # FORCE: a process that did not exit cleanly must not keep the database alive.
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def url(self, db, levqor=True):
        base = f"postgres://postgres@{self.host}:{self.port}/{db}"
        return base + "?sslmode=disable" if levqor else base

    def describe(self):
        version = self.psql("SHOW server_version").split()[0]
        settings = ", ".join(f"{k} = {self.psql(f'SHOW {k}')}" for k in ("fsync", "synchronous_commit", "shared_buffers"))
        return f"PostgreSQL {version} ({settings})"


def pg_drain(pg, a, tmp, processes):
    """Backlog first (through an API-only process), then `processes` levqor serve
    processes with workers on one database; drained when the queue is empty."""
    db = pg.create(f"drain{processes}")
    url = pg.url(db)
    root = os.path.join(tmp, f"pg-drain{processes}")
    observer = Levqor(os.path.join(root, "api"), db=url, workers=0)
    key = user_key(observer.base)
    backlog = enqueue_backlog(observer, key, a.jobs, a.enqueue_timeout)
    # One owner: its limit counts across processes, so give it every worker.
    limit = a.pg_workers * processes
    t0 = time.time()
    servers = [Levqor(os.path.join(root, f"w{i}"), db=url, workers=a.pg_workers, owner_concurrency=limit, wait=False)
               for i in range(processes)]
    for s in servers:
        s.wait_ready()
    _, h = wait_drained(observer, a.drain_timeout)
    wall = time.time() - t0
    rss = [s.rss_peak_mb() for s in servers]
    for s in servers + [observer]:
        s.stop()
    # First start to last finish from the jobs themselves: excludes process start-up,
    # as the graphile-worker figure does.
    n, first, last = pg.psql("SELECT count(*), min(started_at), max(finished_at) FROM jobs WHERE state = 'succeeded'",
                             db).split("|")
    n = int(n)
    drain_s = (int(last) - int(first)) / 1e6
    pg.drop(db)
    if n != backlog:
        raise RuntimeError(f"{backlog} jobs queued but {n} succeeded ({h})")
    return {"processes": processes, "workers_per_process": a.pg_workers, "jobs": n, "drain_s": drain_s,
            "jobs_per_s": n / drain_s, "wall_s": wall, "rss_mb": rss}


def graphile_drain(pg, a, tmp, jobs):
    db = pg.create("graphile")
    url = pg.url(db, levqor=False)
    node = ["node", os.path.join(GRAPHILE, "run.js")]
    log = os.path.join(tmp, "graphile.log")
    m = subprocess.run(node + ["migrate", url], cwd=GRAPHILE, timeout=120, capture_output=True, text=True)
    if m.returncode != 0:
        raise RuntimeError(f"graphile-worker migrate: {m.stderr.strip()}")
    # The graphile way to add many jobs: one add_jobs call.
    added = int(pg.psql("SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(SELECT ROW('noop', '{}'::json, NULL, "
                        "NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec "
                        f"FROM generate_series(1, {int(jobs)})))", db))
    result = os.path.join(tmp, "graphile.json")
    proc = start_process(node + ["drain", url, str(jobs), str(a.graphile_concurrency), str(a.drain_timeout), result],
                         "graphile-worker", log, cwd=GRAPHILE)
    try:
        rc = proc.wait(timeout=a.drain_timeout + 60)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"graphile-worker still running after {a.drain_timeout + 60} s:\n{tail(log)}")
    if rc != 0:
        raise RuntimeError(f"graphile-worker exited with {rc}:\n{tail(log)}")
    with open(result) as f:
        r = json.load(f)
    left = int(pg.psql("SELECT count(*) FROM graphile_worker.jobs", db))
    pg.drop(db)
    if left or r["jobs"] != added:
        raise RuntimeError(f"graphile-worker: {added} added, {r['jobs']} completed, {left} left")
    with open(os.path.join(GRAPHILE, "node_modules", "graphile-worker", "package.json")) as f:
        r["version"] = json.load(f)["version"]
    r["concurrency"] = a.graphile_concurrency
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration of each intake measure")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections for intake")
    ap.add_argument("--workers", type=int, default=256, help="workers of the SQLite drain")
    ap.add_argument("--latency-jobs", type=int, default=200, help="jobs of each enqueue->start measure")
    ap.add_argument("--jobs", type=int, default=50_000, help="backlog of each PostgreSQL drain (Levqor and graphile)")
    ap.add_argument("--pg-workers", type=int, default=256, help="workers of each levqor process in the PostgreSQL drains")
    ap.add_argument("--graphile-concurrency", type=int, default=16)
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--enqueue-timeout", type=int, default=300, help="bound on enqueueing a backlog, seconds")
    ap.add_argument("--drain-timeout", type=int, default=900, help="bound on each drain, seconds")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    for name in ("seconds", "connections", "workers", "latency_jobs", "jobs", "pg_workers", "graphile_concurrency",
                 "enqueue_timeout", "drain_timeout"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    for path in (BIN, BARE):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run `cargo build --release -p levqor --bins --example bare_echo` first")
    for tool in ("wrk", "psql", "node"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (`just bench` installs wrk; psql and node come with the machine)")
    if not os.path.exists(os.path.join(GRAPHILE, "node_modules", "graphile-worker")):
        sys.exit("graphile-worker is not installed: run `npm ci` in scripts/bench/graphile")
    signal.signal(signal.SIGTERM, on_signal)
    pg = Postgres(a.pg_host, a.pg_port)
    try:
        pg.psql("SELECT 1")
    except Exception as e:
        sys.exit(f"PostgreSQL at {a.pg_host}:{a.pg_port} (user postgres) does not answer: {e}")

    tmp = tempfile.mkdtemp(prefix="levqor-bench-")
    CLEANUP.push(f"remove {tmp}", lambda: shutil.rmtree(tmp, ignore_errors=True))
    try:
        use_private_copies(tmp)
        results = run_all(a, pg, tmp)
    finally:
        CLEANUP.run()
    print(json.dumps(results, indent=2))
    print_targets(results)
    if not a.no_write:
        write_report(results, a, pg)
        print(f"wrote {a.out}")


def use_private_copies(tmp):
    """Runs copies of the binaries: the target directory may be shared, and a build
    finishing elsewhere during the run must not swap the binary between stages."""
    global BIN, BARE
    os.makedirs(os.path.join(tmp, "bin"))
    for name in ("BIN", "BARE"):
        copy = os.path.join(tmp, "bin", os.path.basename(globals()[name]))
        shutil.copy2(globals()[name], copy)
        globals()[name] = copy


def checkout_commit():
    p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                       timeout=30)
    return p.stdout.strip() if p.returncode == 0 else "unknown"


def run_all(a, pg, tmp):
    r = {}

    def stage(name):
        print(f"[{datetime.now().strftime('%H:%M:%S')}] {name}", file=sys.stderr, flush=True)

    # 1. The ceiling: bare actix-web answering the same JSON POST.
    stage("bare actix echo")
    port = free_port()
    bare = start_process([BARE, f"127.0.0.1:{port}"], "bare_echo")
    time.sleep(0.5)
    r["bare"] = wrk(f"http://127.0.0.1:{port}/api/v1/intake", a.seconds, a.connections)
    stop_process(bare)

    # 2. Intake as shipped, API only (every 202 after its durable commit).
    stage("SQLite intake, API only, default logging")
    data = os.path.join(tmp, "sqlite")
    srv = Levqor(data, workers=0)
    key = user_key(srv.base)
    # Which commit the binary was built from, beside the checkout's (a stale
    # build measures other code).
    r["build"] = call("GET", srv.base + "/ops/uptime")["build"]
    r["checkout"] = checkout_commit()
    if not r["build"].startswith(r["checkout"]):
        print(f"warning: levqor was built from {r['build']}, the checkout is at {r['checkout']}", file=sys.stderr)
    r["intake"] = wrk(srv.base + "/api/v1/intake", a.seconds, a.connections, key)
    r["intake_rss_mb"] = srv.rss_peak_mb()
    backlog = srv.queue_health()["queued"]
    srv.stop()
    r["intake"]["log"] = srv.log_stats()

    # 3. End to end: workers drain the backlog of echo jobs just taken in.
    stage(f"SQLite drain of {backlog} jobs")
    srv = Levqor(data, workers=a.workers, owner_concurrency=a.workers)
    elapsed, _ = wait_drained(srv, a.drain_timeout)
    r["drain"] = {"jobs": backlog, "seconds": elapsed, "jobs_per_s": backlog / elapsed}
    r["drain_rss_mb"] = srv.rss_peak_mb()

    # 4. Enqueue -> start latency at idle: one job at a time.
    stage("SQLite enqueue->start")
    r["start_latency_ms"] = start_latency(srv, key, a.latency_jobs, a.drain_timeout)
    srv.stop()

    # 5. Intake as shipped with the default workers on (they drain as it takes in).
    stage("SQLite intake, default workers, default logging")
    srv = Levqor(os.path.join(tmp, "sqlite-workers"))
    key = user_key(srv.base)
    r["intake_workers"] = wrk(srv.base + "/api/v1/intake", a.seconds, a.connections, key)
    r["intake_workers"]["workers"] = srv.queue_health()["workers"]
    srv.stop()
    r["intake_workers"]["log"] = srv.log_stats()

    # 6. PostgreSQL intake (group commit), API only, default logging.
    stage("PostgreSQL intake, API only, default logging")
    db = pg.create("intake")
    srv = Levqor(os.path.join(tmp, "pg-intake"), db=pg.url(db), workers=0)
    key = user_key(srv.base)
    r["pg_intake"] = wrk(srv.base + "/api/v1/intake", a.seconds, a.connections, key)
    r["pg_intake_rss_mb"] = srv.rss_peak_mb()
    srv.stop()
    r["pg_intake"]["log"] = srv.log_stats()
    pg.drop(db)

    # 7. PostgreSQL end to end with one, then three processes on one queue.
    stage(f"PostgreSQL drain of about {a.jobs} jobs, one process")
    r["pg_drain1"] = pg_drain(pg, a, tmp, 1)
    stage(f"PostgreSQL drain of about {a.jobs} jobs, three processes")
    r["pg_drain3"] = pg_drain(pg, a, tmp, 3)

    # 8. Enqueue -> start across processes: intake in an API-only process, the
    # workers in a `levqor worker` process (woken by LISTEN/NOTIFY).
    stage("PostgreSQL enqueue->start across processes")
    db = pg.create("latency")
    api = Levqor(os.path.join(tmp, "pg-latency-api"), db=pg.url(db), workers=0)
    key = user_key(api.base)
    worker = Levqor(os.path.join(tmp, "pg-latency-worker"), db=pg.url(db), command="worker")
    time.sleep(0.5)  # its listener connects after the log line
    r["pg_start_latency_ms"] = start_latency(api, key, a.latency_jobs, a.drain_timeout)
    worker.stop()
    api.stop()
    pg.drop(db)

    # 9. The peer: graphile-worker, one process, the same number of no-op jobs.
    stage(f"graphile-worker drain of {r['pg_drain1']['jobs']} jobs")
    r["graphile"] = graphile_drain(pg, a, tmp, r["pg_drain1"]["jobs"])

    r["intake_vs_bare"] = r["intake"]["rps"] / r["bare"]["rps"]
    r["intake_workers_vs_bare"] = r["intake_workers"]["rps"] / r["bare"]["rps"]
    r["pg_vs_graphile"] = r["pg_drain1"]["jobs_per_s"] / r["graphile"]["jobs_per_s"]
    r["pg3_vs_pg1"] = r["pg_drain3"]["jobs_per_s"] / r["pg_drain1"]["jobs_per_s"]
    return r


def targets(r):
    return [
        ("intake ≥ 50 % of the bare echo (default logging, API only)", r["intake_vs_bare"] >= 0.5,
         f"{r['intake_vs_bare']:.0%}"),
        ("PostgreSQL end-to-end echo ≥ 1.5× graphile-worker", r["pg_vs_graphile"] >= 1.5, f"{r['pg_vs_graphile']:.2f}×"),
        ("three processes ≥ one process", r["pg3_vs_pg1"] >= 1.0, f"{r['pg3_vs_pg1']:.2f}×"),
        ("enqueue→start p50 < 5 ms across processes", r["pg_start_latency_ms"]["p50"] < 5,
         f"{r['pg_start_latency_ms']['p50']:.2f} ms"),
    ]


def print_targets(r):
    for name, met, value in targets(r):
        print(f"{'met   ' if met else 'MISSED'} {name}: {value}")


def logged(i):
    drops = f", {i['log']['dropped']:,} dropped" if i["log"]["dropped"] else ", none dropped"
    return f"{i['log']['lines']:,} log lines{drops}"


def write_report(r, a, pg):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    cmd = (f"python3 scripts/bench/jobs.py --seconds {a.seconds} --connections {a.connections} --workers {a.workers} "
           f"--latency-jobs {a.latency_jobs} --jobs {a.jobs} --pg-workers {a.pg_workers} "
           f"--graphile-concurrency {a.graphile_concurrency}")
    met = {name: (ok, value) for name, ok, value in targets(r)}

    def t(name):
        ok, value = met[name]
        return f"**{value}** ({'met' if ok else 'missed'})"

    g, d1, d3 = r["graphile"], r["pg_drain1"], r["pg_drain3"]
    lines = [
        "# Benchmarks",
        "",
        "Produced by `just bench`, which builds release binaries, installs graphile-worker",
        "(`npm ci` in scripts/bench/graphile) and runs",
        f"`{cmd}`.",
        f"Last run: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, levqor build `{r['build']}`, on {os.cpu_count()} cores ({cpu}),",
        "SQLite in WAL mode with `synchronous = FULL`; " + pg.describe() + " on the same machine;",
        f"load from `wrk` on the same machine (2 threads, {a.connections} connections, {a.seconds} s),",
        "so the load generator shares the cores. Levqor runs with its default logging (info-level",
        "JSON access logs, stderr written to a file).",
        "",
        "## Jobs (issue: durable job orchestration)",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| bare actix-web JSON POST (ceiling) | {r['bare']['rps']:,.0f} req/s, p50 {r['bare']['p50_ms']:.2f} ms, p99 {r['bare']['p99_ms']:.2f} ms | — |",
        f"| `POST /api/v1/intake` (auth, validation, durable commit; API only, default logging) | {r['intake']['rps']:,.0f} req/s, p50 {r['intake']['p50_ms']:.2f} ms, p99 {r['intake']['p99_ms']:.2f} ms, non-2xx {r['intake']['non2xx']}; {logged(r['intake'])} | ≥ 50 % of the ceiling: {t('intake ≥ 50 % of the bare echo (default logging, API only)')} |",
        f"| end-to-end echo jobs (workers draining {r['drain']['jobs']:,} queued jobs, {a.workers} workers) | {r['drain']['jobs_per_s']:,.0f} jobs/s | ≥ 10,000 jobs/s |",
        f"| enqueue → start latency at idle ({r['start_latency_ms']['jobs']} jobs, one at a time) | p50 {r['start_latency_ms']['p50']:.2f} ms, p99 {r['start_latency_ms']['p99']:.2f} ms | p50 < 5 ms |",
        f"| peak RSS | {r['intake_rss_mb']:.0f} MB under intake load, {r['drain_rss_mb']:.0f} MB while draining | < 100 MB |",
        "",
        "## As shipped, and PostgreSQL across processes (issue 15)",
        "",
        "Same run as above. PostgreSQL stages each use a fresh database (`levqor_bench_<run>_<stage>`,",
        "dropped afterwards). A drain enqueues its backlog through an API-only process first, then starts",
        f"the `levqor serve` processes ({a.pg_workers} workers each, one user whose limit",
        "`LEVQOR_OWNER_CONCURRENCY` is every worker of the run) and times the first job start to the last",
        f"finish from the jobs' own timestamps. graphile-worker {g['version']} (Node {node}) runs one",
        f"process with concurrency {g['concurrency']}, its default logger to a file, on jobs added with one",
        "`graphile_worker.add_jobs` call, timed from its first `job:start` to its last `job:complete`.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| intake with the default workers on (SQLite, {r['intake_workers']['workers']} workers, default logging) | {r['intake_workers']['rps']:,.0f} req/s, p50 {r['intake_workers']['p50_ms']:.2f} ms, p99 {r['intake_workers']['p99_ms']:.2f} ms, non-2xx {r['intake_workers']['non2xx']}; {logged(r['intake_workers'])} | reported: {r['intake_workers_vs_bare']:.0%} of the ceiling |",
        f"| PostgreSQL intake (group commit; API only, default logging) | {r['pg_intake']['rps']:,.0f} req/s, p50 {r['pg_intake']['p50_ms']:.2f} ms, p99 {r['pg_intake']['p99_ms']:.2f} ms, non-2xx {r['pg_intake']['non2xx']}; {logged(r['pg_intake'])}; RSS {r['pg_intake_rss_mb']:.0f} MB | — |",
        f"| graphile-worker (the peer): {g['jobs']:,} no-op jobs, one process | {g['jobs_per_s']:,.0f} jobs/s ({g['drain_s']:.2f} s; {g['since_start_s']:.2f} s from its start) | — |",
        f"| PostgreSQL end-to-end echo, one process: {d1['jobs']:,} jobs | {d1['jobs_per_s']:,.0f} jobs/s ({d1['drain_s']:.2f} s; {d1['wall_s']:.2f} s from the process start); RSS {max(d1['rss_mb']):.0f} MB | ≥ 1.5× graphile-worker: {t('PostgreSQL end-to-end echo ≥ 1.5× graphile-worker')} |",
        f"| PostgreSQL end-to-end echo, three processes on one queue: {d3['jobs']:,} jobs | {d3['jobs_per_s']:,.0f} jobs/s ({d3['drain_s']:.2f} s; {d3['wall_s']:.2f} s from the processes' start); RSS {' / '.join(f'{m:.0f}' for m in d3['rss_mb'])} MB | ≥ one process: {t('three processes ≥ one process')} |",
        f"| PostgreSQL enqueue → start across processes ({r['pg_start_latency_ms']['jobs']} jobs one at a time, intake in an API-only process, `levqor worker` in another) | p50 {r['pg_start_latency_ms']['p50']:.2f} ms, p99 {r['pg_start_latency_ms']['p99']:.2f} ms | p50 < 5 ms: {t('enqueue→start p50 < 5 ms across processes')} |",
        "",
    ]
    existing = open(a.out).read() if os.path.exists(a.out) else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else "\n"
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "<!-- notes -->" + notes)


if __name__ == "__main__":
    main()
