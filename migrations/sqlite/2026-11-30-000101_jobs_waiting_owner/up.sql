-- The per-user cap on waiting jobs (LEVQOR_MAX_QUEUED_PER_USER) counts one
-- owner's queued and failed jobs; this index holds just those rows.
CREATE INDEX jobs_waiting_owner ON jobs (owner) WHERE state IN ('queued', 'failed');
