//! Prometheus metrics: one process-wide recorder (the `metrics` facade and
//! `metrics-exporter-prometheus` without its HTTP listener); `GET /metrics`
//! renders its text. Figures that live in the database (queue depth, credits) are
//! read at scrape time, so every instance reports the same totals.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use levqor_jobs::{FinishedHook, Job};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "levqor_http_requests_total";
pub const HTTP_DURATION: &str = "levqor_http_request_duration_seconds";
pub const QUEUE_JOBS: &str = "levqor_queue_jobs";
pub const QUEUE_OLDEST_AGE: &str = "levqor_queue_oldest_queued_age_seconds";
pub const JOBS_FINISHED: &str = "levqor_jobs_finished_total";
pub const CREDITS_GRANTED: &str = "levqor_credits_granted_total";
pub const CREDITS_SPENT: &str = "levqor_credits_spent_total";
/// Incremented by the mail sender with `outcome` = `sent` or `failed`.
pub const EMAILS: &str = "levqor_emails_total";
/// Incremented by the logger when its queue overflows and a line is dropped.
pub const LOG_LINES_DROPPED: &str = "levqor_log_lines_dropped_total";
pub const ANALYTICS_EVENTS: &str = "levqor_analytics_events_total";
pub const BACKUPS: &str = "levqor_backups_total";

const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use. `None` only if another
/// recorder was installed first (then `/metrics` answers 503).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route template and status");
    describe_histogram!(HTTP_DURATION, metrics::Unit::Seconds, "HTTP request latency by method and route template");
    describe_gauge!(QUEUE_JOBS, "Jobs in the queue by state (read from the database at scrape time)");
    describe_gauge!(QUEUE_OLDEST_AGE, metrics::Unit::Seconds, "Age of the oldest due queued job");
    describe_counter!(JOBS_FINISHED, "Jobs finished by this process, by workflow and final state");
    describe_counter!(CREDITS_GRANTED, "Credits ever granted (free tier, purchases, referrals, positive adjustments)");
    describe_counter!(CREDITS_SPENT, "Credits ever spent on runs, net of settlements and releases");
    describe_counter!(EMAILS, "Emails handed to the mail transport, by outcome (sent, failed)");
    describe_counter!(LOG_LINES_DROPPED, "Log lines dropped because the log queue was full");
    describe_counter!(ANALYTICS_EVENTS, "Analytics events stored");
    describe_counter!(BACKUPS, "Scheduled and manual backups by outcome");
    // Present from the start, so a scraper sees zeros rather than nothing.
    for outcome in ["sent", "failed"] {
        counter!(EMAILS, "outcome" => outcome).increment(0);
    }
    counter!(LOG_LINES_DROPPED).increment(0);
}

/// Counts and times every request, labelled by the matched route template
/// (`/api/v1/status/{job_id}`, never the raw path, so ids do not explode the
/// label set).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?.map_into_boxed_body();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    if handle().is_some() {
        counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
        histogram!(HTTP_DURATION, "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// `pipeline:<id>` becomes `pipeline`: one series per kind of workflow, not per
/// pipeline.
pub fn workflow_label(workflow: &str) -> String {
    match workflow.split_once(':') {
        Some((prefix, _)) => prefix.to_owned(),
        None => workflow.to_owned(),
    }
}

/// Counts each finished job by workflow kind and final state.
pub fn job_finished_hook() -> FinishedHook {
    std::sync::Arc::new(|job: &Job| {
        if handle().is_some() {
            counter!(JOBS_FINISHED, "workflow" => workflow_label(&job.workflow), "outcome" => job.state.as_str())
                .increment(1);
        }
    })
}

/// What this process counted elsewhere, read at scrape time: mails handed to
/// the transport (sent, failed) and log lines dropped.
pub struct ProcessCounts {
    pub emails_sent: u64,
    pub emails_failed: u64,
    pub log_lines_dropped: u64,
}

/// Sets the database-backed figures and this process's counts, then renders
/// the text format.
pub fn render(
    queue: &levqor_jobs::QueueCounts,
    oldest_age_s: f64,
    credits: (i64, i64),
    process: &ProcessCounts,
) -> Option<String> {
    let handle = handle()?;
    counter!(EMAILS, "outcome" => "sent").absolute(process.emails_sent);
    counter!(EMAILS, "outcome" => "failed").absolute(process.emails_failed);
    counter!(LOG_LINES_DROPPED).absolute(process.log_lines_dropped);
    for (state, n) in [
        ("queued", queue.queued),
        ("running", queue.running),
        ("succeeded", queue.succeeded),
        ("failed", queue.failed),
        ("dead", queue.dead),
        ("cancelled", queue.cancelled),
    ] {
        gauge!(QUEUE_JOBS, "state" => state).set(n as f64);
    }
    gauge!(QUEUE_OLDEST_AGE).set(oldest_age_s);
    counter!(CREDITS_GRANTED).absolute(u64::try_from(credits.0).unwrap_or(0));
    counter!(CREDITS_SPENT).absolute(u64::try_from(credits.1).unwrap_or(0));
    Some(handle.render())
}

#[cfg(test)]
mod tests {
    #[test]
    fn workflow_labels_stay_few() {
        assert_eq!(super::workflow_label("pipeline:0193-abc"), "pipeline");
        assert_eq!(super::workflow_label("echo"), "echo");
    }
}
