-- Site analytics: one row per event. `hour` and `day` are the UTC bucket numbers
-- (seconds since the epoch / 3600, / 86400), so both backends aggregate with the
-- same GROUP BY. `visitor` and `email_hash` are keyed digests (HMAC-SHA256 under
-- LEVQOR_SECRET); no plain address is ever stored.
CREATE TABLE analytics_events (
    id          TEXT PRIMARY KEY NOT NULL,
    event_type  TEXT NOT NULL,
    visitor     TEXT NOT NULL,
    email_hash  TEXT,
    ref_code    TEXT,
    props       TEXT NOT NULL,
    hour        BIGINT NOT NULL,
    day         BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX analytics_events_hour ON analytics_events (hour, event_type);
CREATE INDEX analytics_events_day ON analytics_events (day, event_type);

-- Tracked visits keep a keyed digest of the address instead of the address. The
-- rows stored before this migration still hold plain addresses under the new
-- name: `Store::hash_plain_emails` (run by every start-up and `levqor migrate`
-- right after the migrations, since SQL cannot compute an HMAC with the secret)
-- replaces them and scrubs the old bytes from the file.
DROP INDEX referral_visits_email;
ALTER TABLE referral_visits RENAME COLUMN email TO email_hash;
CREATE INDEX referral_visits_email_hash ON referral_visits (email_hash, created_at);

-- What each scheduled task did: one row per run.
CREATE TABLE activity_log (
    id           TEXT PRIMARY KEY NOT NULL,
    task         TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    detail       TEXT NOT NULL
);
CREATE INDEX activity_log_task ON activity_log (task, started_at);

-- Once-per-period tasks (the daily backup): the first instance to insert the
-- (task, period) row runs it.
CREATE TABLE task_claims (
    task        TEXT NOT NULL,
    period      TEXT NOT NULL,
    claimed_at  BIGINT NOT NULL,
    PRIMARY KEY (task, period)
);
