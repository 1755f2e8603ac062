// graphile-worker for the Levqor jobs benchmark (scripts/bench/jobs.py).
//
//   node run.js migrate CONNECTION_STRING
//     installs graphile-worker's schema and exits.
//   node run.js drain CONNECTION_STRING JOBS CONCURRENCY TIMEOUT_S RESULT_FILE
//     runs one worker process until JOBS jobs have completed, then stops and
//     writes one JSON object to RESULT_FILE (stdout carries graphile-worker's own
//     log): first job start to last job completion, and from the runner's start.
//     Exits non-zero after TIMEOUT_S seconds.
//
// The jobs are added beforehand, the graphile way (graphile_worker.add_jobs in
// one SQL call), by jobs.py.
const { EventEmitter } = require("events");
const fs = require("fs");
const { run, runMigrations } = require("graphile-worker");
const taskList = require("./tasks");

async function main() {
  const [mode, connectionString, jobsArg, concurrencyArg, timeoutArg, resultFile] = process.argv.slice(2);
  if (mode === "migrate" && connectionString) {
    await runMigrations({ connectionString });
    return;
  }
  const jobs = Number(jobsArg);
  const concurrency = Number(concurrencyArg);
  const timeoutS = Number(timeoutArg);
  if (mode !== "drain" || !connectionString || !(jobs > 0) || !(concurrency > 0) || !(timeoutS > 0) || !resultFile) {
    throw new Error("usage: run.js migrate URL | run.js drain URL JOBS CONCURRENCY TIMEOUT_S RESULT_FILE");
  }
  let firstStart = null;
  let lastComplete = null;
  let completed = 0;
  let failed = 0;
  // Listening before the runner starts: the backlog is there, so jobs start at once.
  const events = new EventEmitter();
  const done = new Promise((resolve) => {
    events.on("job:start", () => {
      if (firstStart === null) firstStart = process.hrtime.bigint();
    });
    events.on("job:error", () => {
      failed += 1;
    });
    events.on("job:complete", ({ error }) => {
      // A failed job is retried later: only successes count towards the drain.
      if (error) return;
      completed += 1;
      lastComplete = process.hrtime.bigint();
      if (completed >= jobs) resolve();
    });
  });
  const timer = setTimeout(() => {
    console.error(`graphile drain: only ${completed} of ${jobs} jobs completed after ${timeoutS} s`);
    process.exit(2);
  }, timeoutS * 1000);
  const t0 = process.hrtime.bigint();
  // A pool a little larger than the concurrency, so no worker waits for a connection.
  const runner = await run({ connectionString, concurrency, maxPoolSize: concurrency + 2, taskList, events });
  await done;
  clearTimeout(timer);
  await runner.stop();
  const ms = (a, b) => Number(b - a) / 1e6;
  const drainMs = ms(firstStart, lastComplete);
  fs.writeFileSync(
    resultFile,
    JSON.stringify({
      jobs: completed,
      failed,
      drain_s: drainMs / 1000,
      since_start_s: ms(t0, lastComplete) / 1000,
      jobs_per_s: completed / (drainMs / 1000),
    }) + "\n",
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
