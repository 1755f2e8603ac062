-- Stored pipelines. `owner` is a user id (not a foreign key, like jobs.owner).
-- A pipeline is an append-only list of immutable versions; `current_version`
-- is the latest. `schedule` repeats the latest version's cron when its trigger
-- is `schedule` (NULL otherwise) so the scheduler need not parse documents.
-- Deletion is soft (`deleted_at`): runs pinned to a version can still read it.
CREATE TABLE pipelines (
    id                  TEXT PRIMARY KEY NOT NULL,
    owner               TEXT NOT NULL,
    current_version     INTEGER NOT NULL CHECK (current_version >= 1),
    schedule            TEXT,
    webhook_token_hash  TEXT,
    deleted_at          BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
-- A user's listing, newest first.
CREATE INDEX pipelines_owner ON pipelines (owner, id) WHERE deleted_at IS NULL;
-- What the scheduler fires.
CREATE INDEX pipelines_scheduled ON pipelines (id) WHERE schedule IS NOT NULL AND deleted_at IS NULL;

-- Every version of every pipeline; `document` is the normalised pipeline as JSON.
CREATE TABLE pipeline_versions (
    pipeline_id  TEXT NOT NULL REFERENCES pipelines (id),
    version      INTEGER NOT NULL CHECK (version >= 1),
    document     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (pipeline_id, version)
);

-- Runs: one per job of workflow `pipeline:<id>`, pinned to a version. `state`
-- is the run's step-by-step record (JSON), saved after every step.
CREATE TABLE pipeline_runs (
    job_id          TEXT PRIMARY KEY NOT NULL,
    pipeline_id     TEXT NOT NULL,
    version         INTEGER NOT NULL,
    owner           TEXT NOT NULL,
    input           TEXT NOT NULL,
    state           TEXT NOT NULL,
    reservation_id  TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    FOREIGN KEY (pipeline_id, version) REFERENCES pipeline_versions (pipeline_id, version)
);
-- A user's runs, newest first, of all pipelines or of one.
CREATE INDEX pipeline_runs_owner ON pipeline_runs (owner, job_id);
CREATE INDEX pipeline_runs_pipeline ON pipeline_runs (owner, pipeline_id, job_id);

-- Scheduler claims: the first instance to insert (pipeline, tick) fires it.
CREATE TABLE schedule_ticks (
    pipeline_id  TEXT NOT NULL,
    tick         BIGINT NOT NULL,
    claimed_at   BIGINT NOT NULL,
    PRIMARY KEY (pipeline_id, tick)
);
CREATE INDEX schedule_ticks_tick ON schedule_ticks (tick);
