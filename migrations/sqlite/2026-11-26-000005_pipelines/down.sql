DROP TABLE schedule_ticks;
DROP TABLE pipeline_runs;
DROP TABLE pipeline_versions;
DROP TABLE pipelines;
