DROP INDEX jobs_waiting_owner;
