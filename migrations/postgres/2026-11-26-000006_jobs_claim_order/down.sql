DROP INDEX jobs_state;
DROP INDEX jobs_claimable;
CREATE INDEX jobs_claimable ON jobs (priority DESC, run_at, created_at) WHERE state IN ('queued', 'failed');
