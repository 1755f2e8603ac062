-- Durable jobs. `owner` is a user id; it is not a foreign key so the queue can be
-- exercised on its own, and users are never deleted.
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY NOT NULL,
    owner             TEXT NOT NULL,
    workflow          TEXT NOT NULL,
    payload           TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled')),
    priority          INTEGER NOT NULL,
    attempts          INTEGER NOT NULL,
    max_attempts      INTEGER NOT NULL,
    timeout_s         INTEGER NOT NULL,
    run_at            BIGINT NOT NULL,
    callback_url      TEXT,
    result            TEXT,
    error             TEXT,
    lease_token       TEXT,
    lease_expires_at  BIGINT,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    updated_at        BIGINT NOT NULL
);

-- The claim query: due jobs by priority, then run_at, then age.
CREATE INDEX jobs_claimable ON jobs (priority DESC, run_at, created_at) WHERE state IN ('queued', 'failed');
-- Expired leases, and running jobs per owner.
CREATE INDEX jobs_running ON jobs (owner, lease_expires_at) WHERE state = 'running';
-- A user's listing, newest first.
CREATE INDEX jobs_owner ON jobs (owner, id);

-- Idempotency-Key records: one per caller and key, replayed for 24 h.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER,
    body         TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
