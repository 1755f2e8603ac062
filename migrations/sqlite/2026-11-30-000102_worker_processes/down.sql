DROP TABLE worker_processes;
