-- Worker processes and when each was last heard from. A process that stops
-- heartbeating (SIGKILL, a crash) has its running jobs' leases expired within
-- seconds, instead of holding them (and its owners' concurrency slots) for a
-- whole lease.
CREATE TABLE worker_processes (
    id TEXT PRIMARY KEY NOT NULL,
    seen_at BIGINT NOT NULL
);
