-- The claim query orders by (priority DESC, run_at, created_at, id): with `id` in
-- the index the rows come out in claim order, with no sort step per claim; with
-- `owner` too, choosing whose jobs to claim reads the index alone.
DROP INDEX jobs_claimable;
CREATE INDEX jobs_claimable ON jobs (priority DESC, run_at, created_at, id, owner) WHERE state IN ('queued', 'failed');
-- Counting jobs per state (`/ops/queue_health`) reads this index, not the rows
-- with their payloads.
CREATE INDEX jobs_state ON jobs (state);
