//! What each kind of job does. `run` is the one place a job's `kind` turns
//! into code; `reconcile` undoes the side effects of a job that failed for
//! good (half-written directories, containers found by label), and must be safe
//! to run more than once.

use serde_json::Value;

use crate::Services;
use crate::jobs::{JobContext, JobFailure, JobRecord};

/// Runs a claimed job. The answer becomes the job's `result`, or its `error`.
pub(crate) async fn run(context: JobContext) -> Result<Value, JobFailure> {
    match context.job().kind.as_str() {
        crate::import::KIND => crate::import::run(context).await,
        crate::deploy::KIND => crate::deploy::job::run(context).await,
        crate::agents::KIND => crate::agents::runner::run(context).await,
        #[cfg(test)]
        kind if kind.starts_with("test.") => test_kinds::run(context).await,
        other => {
            Err(JobFailure::new("job_kind_unknown", format!("this Dockyard does not know jobs of kind {other:?}")))
        }
    }
}

/// Cleans up after a job that failed for good: it returned an error, panicked,
/// or its worker went away with no attempt left.
pub(crate) async fn reconcile(services: &Services, job: &JobRecord) {
    match job.kind.as_str() {
        crate::import::KIND => crate::import::reconcile(services, job).await,
        crate::deploy::KIND => crate::deploy::job::reconcile(services, job).await,
        crate::agents::KIND => crate::agents::runner::reconcile(services, job).await,
        #[cfg(test)]
        kind if kind.starts_with("test.") => test_kinds::reconcile(services, job).await,
        kind => tracing::debug!(job = %job.id, kind, "nothing to reconcile for this kind of job"),
    }
}

/// Kinds that exist only in the tests, to drive the workers.
#[cfg(test)]
mod test_kinds {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    pub(super) async fn run(context: JobContext) -> Result<Value, JobFailure> {
        let payload = context.job().payload.clone();
        match context.job().kind.as_str() {
            // Reports `steps` progress values and log lines as fast as it can.
            "test.echo" => {
                let steps = payload["steps"].as_u64().unwrap_or(0);
                for n in 1..=steps {
                    context.progress(json!({ "done": n, "total": steps }));
                    context.event("log", json!({ "line": n }));
                }
                Ok(json!({ "echo": payload }))
            }
            // The same from a blocking thread.
            "test.blocking" => {
                let reporter = context.clone();
                tokio::task::spawn_blocking(move || {
                    for n in 1..=50 {
                        reporter.progress(json!({ "done": n }));
                        reporter.event("log", json!({ "line": n }));
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
                .await
                .map_err(|_| JobFailure::new("test_blocking", "the blocking part failed"))?;
                Ok(json!({ "lines": 50 }))
            }
            "test.fail" => Err(JobFailure::new("test_failed", "the test job failed as asked")),
            "test.panic" => panic!("a test job panics"),
            // Works until `ms` pass or the lease is lost.
            "test.wait" => {
                let until = tokio::time::Instant::now() + Duration::from_millis(payload["ms"].as_u64().unwrap_or(0));
                while !context.lease_lost() && tokio::time::Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                context.event("log", json!({ "line": "after the wait" }));
                Ok(json!({ "lease_lost": context.lease_lost() }))
            }
            other => Err(JobFailure::new("job_kind_unknown", format!("unknown test kind {other}"))),
        }
    }

    /// Leaves a trace in the job's log, so tests see that reconciling happened.
    pub(super) async fn reconcile(services: &Services, job: &JobRecord) {
        let _ = services.record_job_event(&job.id, "reconciled", json!({ "kind": job.kind })).await;
    }
}
