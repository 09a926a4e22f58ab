//! Jobs: every long operation (import, build, deploy, agent run) is a row in
//! `jobs`, run by a pool of workers under a lease, with a resumable event log.
//!
//! A worker claims a job, renews its lease every third of the lease time and
//! hands the job to `job_kinds::run`. Progress and log events go through a
//! [`JobContext`], whose calls are plain and synchronous (usable from a
//! blocking thread): a drain task writes them to the database and publishes them
//! on the bus (`job:{id}`). If a renewal fails the lease is lost: the context
//! says so, and whatever the job produces afterwards is thrown away; the job is
//! retried elsewhere once the lease expires (while attempts are left) or failed
//! with `job_abandoned` and reconciled. A job that returns an error fails for
//! good; attempts are for workers that die, not for jobs that fail.
//!
//! Workers wake on `jobs` bus messages (every enqueue sends one) and poll every
//! `poll_interval` as well, for other replicas' jobs and expired leases. On
//! shutdown they stop claiming and let running jobs finish; what does not
//! finish keeps its lease and is retried when it expires.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dockyard_domain::{Action, Actor, JobId, OrgId, ProjectId, Resource, UserId, authorize};
use dockyard_store::{Job, JobOutcome, JobTransition, KindFilter, STATE_EVENT};
pub use dockyard_store::{JobEvent, JobState, NewJob};
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::bus::{self, BusMessage, Missed, Subscription};
use crate::{ServiceError, Services};

/// The topic every enqueue is announced on; idle workers listen to it.
pub const JOBS_TOPIC: &str = "jobs";

/// The topic of one job's events.
pub fn job_topic(id: &JobId) -> String {
    format!("job:{id}")
}

/// Progress is written (and published) at most this often; the last value always lands.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Events up to this size travel inline on the bus; larger ones as "look".
const INLINE_EVENT_BYTES: usize = 4000;
/// Events a job may have waiting to be written before further ones are dropped (and counted).
const MAX_QUEUED_EVENTS: usize = 10_000;
/// How often a follower re-checks the database even without bus messages.
const FOLLOW_CHECK_INTERVAL: Duration = Duration::from_secs(10);
const EVENT_PAGE: u32 = 500;

/// Tunables of the job workers.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// How long a claim lasts without renewal; workers renew every third of it.
    pub lease_ttl: Duration,
    /// How often idle workers look for work (and for abandoned jobs) without a wake-up.
    pub poll_interval: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { lease_ttl: Duration::from_secs(30), poll_interval: Duration::from_secs(5) }
    }
}

/// Why a job failed, for people: `message` is shown to users and never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub code: String,
    pub message: String,
}

impl JobFailure {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }
}

/// A job as the services hand it out.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: String,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub created_by: Option<UserId>,
    pub state: JobState,
    pub payload: Value,
    pub progress: Value,
    pub result: Option<Value>,
    pub error: Option<JobFailure>,
    pub attempt: u32,
    pub max_attempts: u32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobRecord {
    fn from(job: Job) -> Self {
        let error = match (job.error_code, job.error_message) {
            (Some(code), message) => Some(JobFailure { code, message: message.unwrap_or_default() }),
            (None, _) => None,
        };
        Self {
            id: job.id,
            kind: job.kind,
            org_id: job.org_id,
            project_id: job.project_id,
            created_by: job.created_by,
            state: job.state,
            payload: job.payload,
            progress: job.progress,
            result: job.result,
            error,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
        }
    }
}

/// What a running job reports to its drain task.
enum Report {
    Event(String, Value),
    /// Write what is pending, then stop.
    Close(oneshot::Sender<()>),
    /// Answer once everything reported before is written.
    Flush(oneshot::Sender<()>),
}

/// What a running job sees: its record, the services, and the way to report
/// progress and events. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    services: Services,
    job: JobRecord,
    /// The lease token of this claim.
    owner: String,
    lease_lost: AtomicBool,
    closed: AtomicBool,
    reports: mpsc::UnboundedSender<Report>,
    queued_events: AtomicUsize,
    dropped_events: AtomicUsize,
    latest_progress: Mutex<Option<Value>>,
    progress_signal: Notify,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job", &self.inner.job.id)
            .field("kind", &self.inner.job.kind)
            .field("lease_lost", &self.lease_lost())
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// A context and its drain task, which writes reports until closed.
    fn start(services: Services, job: JobRecord, owner: String) -> (Self, JoinHandle<()>) {
        let (reports, receiver) = mpsc::unbounded_channel();
        let inner = Arc::new(ContextInner {
            services,
            job,
            owner,
            lease_lost: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            reports,
            queued_events: AtomicUsize::new(0),
            dropped_events: AtomicUsize::new(0),
            latest_progress: Mutex::new(None),
            progress_signal: Notify::new(),
        });
        let drain = tokio::spawn(drain(inner.clone(), receiver));
        (Self { inner }, drain)
    }

    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    pub fn job(&self) -> &JobRecord {
        &self.inner.job
    }

    /// Reports progress (any JSON, e.g. `{"phase": "cloning", "done": 10, "total": 200}`).
    /// Written and published at most four times a second; the last value always
    /// lands before the job finishes. Each written value is also a `progress` event.
    pub fn progress(&self, value: Value) {
        if self.inner.closed.load(Ordering::Acquire) {
            return;
        }
        *self.inner.latest_progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(value);
        self.inner.progress_signal.notify_one();
    }

    /// Appends an event (a log line, a step) to the job's log, in order.
    pub fn event(&self, kind: &str, data: Value) {
        if self.inner.closed.load(Ordering::Acquire) || self.lease_lost() {
            return;
        }
        if self.inner.queued_events.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUED_EVENTS {
            self.inner.queued_events.fetch_sub(1, Ordering::AcqRel);
            self.inner.dropped_events.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.inner.reports.send(Report::Event(kind.to_owned(), data)).is_err() {
            self.inner.queued_events.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Waits until every event reported so far is written (and published), so
    /// that a state change made afterwards is never seen before them.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.inner.reports.send(Report::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }

    /// True once this worker lost the job's lease: stop working, nothing more is kept.
    pub fn lease_lost(&self) -> bool {
        self.inner.lease_lost.load(Ordering::Acquire)
    }

    fn mark_lease_lost(&self) {
        self.inner.mark_lease_lost();
    }

    /// Writes everything reported so far and stops taking reports.
    async fn close(&self, drain: JoinHandle<()>) {
        let (done, written) = oneshot::channel();
        if self.inner.reports.send(Report::Close(done)).is_ok() {
            let _ = written.await;
        }
        self.inner.closed.store(true, Ordering::Release);
        let _ = drain.await;
    }
}

impl ContextInner {
    fn mark_lease_lost(&self) {
        if !self.lease_lost.swap(true, Ordering::AcqRel) {
            tracing::warn!(job = %self.job.id, "lost the job's lease; its result will be thrown away");
        }
    }

    async fn write_event(&self, kind: &str, data: Value) {
        if self.lease_lost.load(Ordering::Acquire) {
            return;
        }
        if let Err(error) = self.services.record_job_event(&self.job.id, kind, data).await {
            tracing::warn!(job = %self.job.id, %error, "could not record a job event");
        }
    }

    /// Writes the latest progress, if there is any, and answers when it did.
    async fn write_progress(&self) -> bool {
        let Some(value) = self.latest_progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() else {
            return false;
        };
        if self.lease_lost.load(Ordering::Acquire) {
            return false;
        }
        match self.services.store().set_job_progress(&self.job.id, &self.owner, &value).await {
            Ok(true) => {
                self.write_event("progress", value).await;
                true
            }
            Ok(false) => {
                self.mark_lease_lost();
                false
            }
            Err(error) => {
                tracing::warn!(job = %self.job.id, %error, "could not record job progress");
                false
            }
        }
    }
}

/// Writes a job's reports in order: events as they come, progress at most every
/// [`PROGRESS_INTERVAL`] (the latest value wins), everything pending on close.
async fn drain(inner: Arc<ContextInner>, mut reports: mpsc::UnboundedReceiver<Report>) {
    let mut last_progress: Option<Instant> = None;
    let mut progress_due: Option<Instant> = None;
    loop {
        let due = progress_due;
        tokio::select! {
            biased;
            report = reports.recv() => match report {
                Some(Report::Event(kind, data)) => {
                    inner.queued_events.fetch_sub(1, Ordering::AcqRel);
                    inner.write_event(&kind, data).await;
                }
                Some(Report::Flush(done)) => {
                    let _ = done.send(());
                }
                Some(Report::Close(done)) => {
                    inner.write_progress().await;
                    let dropped = inner.dropped_events.swap(0, Ordering::AcqRel);
                    if dropped > 0 {
                        inner.write_event("events_dropped", json!({ "count": dropped })).await;
                    }
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                progress_due = None;
                if inner.write_progress().await {
                    last_progress = Some(Instant::now());
                }
            }
            () = inner.progress_signal.notified(), if due.is_none() => {
                let now = Instant::now();
                match last_progress.map(|at| at + PROGRESS_INTERVAL).filter(|at| *at > now) {
                    Some(at) => progress_due = Some(at),
                    None => {
                        if inner.write_progress().await {
                            last_progress = Some(now);
                        }
                    }
                }
            }
        }
    }
}

/// Renews the lease every third of its time; marks it lost when a renewal is
/// refused, or when renewals kept failing for a whole lease time.
async fn renew_lease(context: JobContext, lease_ttl: Duration) {
    let store = context.services().store().clone();
    let job = context.job().id.clone();
    let mut renewed_at = Instant::now();
    loop {
        tokio::time::sleep(lease_ttl / 3).await;
        match store.renew_job_lease(&job, &context.inner.owner, lease_ttl, Utc::now()).await {
            Ok(true) => renewed_at = Instant::now(),
            Ok(false) => {
                context.mark_lease_lost();
                return;
            }
            Err(error) => {
                tracing::warn!(%job, %error, "could not renew a job's lease");
                if renewed_at.elapsed() >= lease_ttl {
                    context.mark_lease_lost();
                    return;
                }
            }
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Runs one claimed job to its end (or until its lease is lost).
async fn run_claimed(
    services: Services,
    claimed: JobTransition,
    owner: String,
    lease_ttl: Duration,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    services.announce(&claimed);
    let job = JobRecord::from(claimed.job);
    let (id, kind) = (job.id.clone(), job.kind.clone());
    tracing::info!(job = %id, kind, attempt = job.attempt, "job started");
    let (context, drain) = JobContext::start(services.clone(), job, owner.clone());
    let renewer = tokio::spawn(renew_lease(context.clone(), lease_ttl));
    // Its own task, so that a panic in the job ends only the job.
    let joined = tokio::spawn(crate::job_kinds::run(context.clone())).await;
    renewer.abort();
    context.close(drain).await;
    let outcome = match joined {
        Ok(Ok(result)) => JobOutcome::Succeeded(result),
        Ok(Err(failure)) => JobOutcome::Failed { code: failure.code, message: failure.message },
        Err(error) => {
            if error.is_panic() {
                let payload = error.into_panic();
                tracing::error!(job = %id, kind, panic = panic_message(payload.as_ref()), "a job panicked");
            } else {
                tracing::error!(job = %id, kind, "a job's task was cancelled");
            }
            JobOutcome::Failed {
                code: "job_panicked".into(),
                message: "the job stopped because of an internal error; it has been logged".into(),
            }
        }
    };
    if context.lease_lost() {
        tracing::warn!(job = %id, kind, "the job's lease was lost; its outcome is thrown away");
        return;
    }
    match services.store().finish_job(&id, &owner, &outcome, Utc::now()).await {
        Ok(Some(finished)) => {
            tracing::info!(job = %id, kind, state = %finished.job.state, "job finished");
            services.after_transition(&finished).await;
        }
        Ok(None) => tracing::warn!(job = %id, kind, "the job's lease was lost before it finished; outcome thrown away"),
        // The lease runs out and the job is retried or abandoned then.
        Err(error) => tracing::error!(job = %id, kind, %error, "could not record a job's outcome"),
    }
}

impl Services {
    /// Queues a job and wakes the workers.
    pub async fn enqueue_job(&self, new: NewJob) -> Result<JobRecord, ServiceError> {
        let new = NewJob { max_attempts: new.max_attempts.max(1), ..new };
        let job = self.store().insert_job(&new).await?;
        self.bus().publish(JOBS_TOPIC, json!({ "job": job.id, "kind": job.kind }));
        Ok(job.into())
    }

    /// A job, for anyone who may read projects in the job's org (the org of its
    /// project, which stays when the project is gone). Strangers get `NotFound`,
    /// as for a job that does not exist.
    pub async fn job(&self, actor: &Actor, id: &JobId) -> Result<JobRecord, ServiceError> {
        let (job, role) = self.store().get_job_for(id, &actor.user_id).await?;
        let _grant = authorize(actor, Action::ReadProject, Resource::InOrg { role })?;
        Ok(job.into())
    }

    /// Appends an event to a job's log and publishes it on `job:{id}`.
    pub async fn record_job_event(&self, id: &JobId, kind: &str, data: Value) -> Result<JobEvent, ServiceError> {
        let event = self.store().append_job_event(id, kind, &data).await?;
        self.publish_job_event(id, &event);
        Ok(event)
    }

    /// Follows a job's event log from after `after`: the backlog, then live
    /// events, then the end once the job is terminal. Authorized like [`Services::job`].
    pub async fn follow_job(&self, actor: &Actor, id: &JobId, after: i64) -> Result<JobFollower, ServiceError> {
        let job = self.job(actor, id).await?;
        // Subscribe before the backlog is read, so nothing falls in between.
        let subscription = self.bus().subscribe(&job_topic(&job.id));
        Ok(JobFollower {
            services: self.clone(),
            job: job.id,
            last_seq: after.max(0),
            subscription,
            bus_closed: false,
            buffer: VecDeque::new(),
            reload: true,
            check_state: true,
            done: false,
        })
    }

    /// Starts `workers` job workers; they stop claiming when `shutdown` resolves,
    /// and the handle completes once the jobs they were running have ended.
    /// With no workers, this replica only fails abandoned jobs.
    pub fn start_workers<F>(&self, workers: usize, shutdown: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let services = self.clone();
        let kinds = KindFilter::Except(vec![crate::agents::KIND]);
        tokio::spawn(async move { services.work(workers, kinds, shutdown).await })
    }

    /// Starts the pool that runs agent sessions (at most `workers` at once on
    /// this replica); they are long-lived, so they never take the places of
    /// imports and deploys.
    pub fn start_agent_workers<F>(&self, workers: usize, shutdown: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let services = self.clone();
        let kinds = KindFilter::Only(vec![crate::agents::KIND]);
        tokio::spawn(async move { services.work(workers, kinds, shutdown).await })
    }

    /// Fails the jobs whose lease expired with no attempt left (`job_abandoned`)
    /// and reconciles them. Answers how many it failed.
    pub async fn reap_abandoned_jobs(&self) -> Result<u64, ServiceError> {
        let now = Utc::now();
        let mut failed = 0;
        for job in self.store().exhausted_jobs(now, 100).await? {
            let message = "the job stopped because its worker went away, and no attempt is left";
            if let Some(transition) = self.store().fail_exhausted_job(&job.id, "job_abandoned", message, now).await? {
                tracing::warn!(job = %job.id, kind = job.kind, attempts = job.attempt, "failed an abandoned job");
                self.after_transition(&transition).await;
                failed += 1;
            }
        }
        Ok(failed)
    }

    async fn work<F>(self, workers: usize, kinds: KindFilter, shutdown: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let config = self.inner.config.jobs.clone();
        let pool = format!("{}-{}", std::process::id(), crate::crypto::random_token(6).unwrap_or_default());
        let mut wake = self.bus().subscribe(JOBS_TOPIC);
        let permits = Arc::new(Semaphore::new(workers));
        let mut running: JoinSet<()> = JoinSet::new();
        let mut claims: u64 = 0;
        let mut next_reap = Instant::now();
        tokio::pin!(shutdown);
        tracing::info!(workers, pool, ?kinds, "job workers started");
        'work: loop {
            // A free worker, while failing abandoned jobs every poll interval.
            let permit = loop {
                if Instant::now() >= next_reap {
                    if let Err(error) = self.reap_abandoned_jobs().await {
                        tracing::warn!(%error, "could not look for abandoned jobs");
                    }
                    next_reap = Instant::now() + config.poll_interval;
                }
                tokio::select! {
                    () = &mut shutdown => break 'work,
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => break permit,
                        Err(_) => break 'work,
                    },
                    () = tokio::time::sleep_until(next_reap) => {}
                    Some(ended) = running.join_next() => log_runner_end(ended),
                }
            };
            claims += 1;
            let owner = format!("{pool}/{claims}");
            match self.store().claim_job(&owner, config.lease_ttl, Utc::now(), &kinds).await {
                Ok(Some(claimed)) => {
                    running.spawn(run_claimed(self.clone(), claimed, owner, config.lease_ttl, permit));
                    continue;
                }
                Ok(None) => drop(permit),
                Err(error) => {
                    drop(permit);
                    tracing::warn!(%error, "could not claim a job");
                }
            }
            // Nothing to do: wait for an enqueue, the next poll, or the end.
            tokio::select! {
                () = &mut shutdown => break,
                message = wake.recv() => {
                    if message.is_err_and(|missed| missed == Missed::Closed) {
                        tokio::time::sleep(config.poll_interval).await;
                    }
                }
                () = tokio::time::sleep(config.poll_interval) => {}
            }
        }
        tracing::info!(running = running.len(), "job workers stopped claiming; letting running jobs finish");
        while let Some(ended) = running.join_next().await {
            log_runner_end(ended);
        }
        tracing::info!("job workers stopped");
    }

    /// Publishes a job event on `job:{id}`: inline when small, else as "look".
    fn publish_job_event(&self, id: &JobId, event: &JobEvent) {
        let inline =
            json!({ "seq": event.seq, "kind": event.kind, "at": event.at.timestamp_millis(), "data": event.data });
        let size = serde_json::to_vec(&inline).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
        let payload = if size <= INLINE_EVENT_BYTES { inline } else { json!({ "seq": event.seq, "look": true }) };
        self.bus().publish(&job_topic(id), payload);
    }

    /// Publishes a state change: the `state` event on `job:{id}`, and a short
    /// note on `project:{id}` for views listing a project's jobs.
    fn announce(&self, transition: &JobTransition) {
        let job = &transition.job;
        self.publish_job_event(&job.id, &transition.event);
        if let Some(project) = &job.project_id {
            self.bus().publish(
                &format!("project:{project}"),
                json!({ "job": job.id, "kind": job.kind, "status": job.state.as_str() }),
            );
        }
    }

    /// After a state change a worker made: publish it, and reconcile a failed job.
    async fn after_transition(&self, transition: &JobTransition) {
        self.announce(transition);
        if transition.job.state == JobState::Failed {
            crate::job_kinds::reconcile(self, &JobRecord::from(transition.job.clone())).await;
        }
    }
}

fn log_runner_end(ended: Result<(), tokio::task::JoinError>) {
    if let Err(error) = ended
        && error.is_panic()
    {
        tracing::error!(panic = panic_message(error.into_panic().as_ref()), "a job runner panicked");
    }
}

/// One item of a followed job log.
#[derive(Debug, Clone)]
pub enum JobStreamItem {
    Event(JobEvent),
    /// The job is terminal and every event has been delivered.
    End(Box<JobRecord>),
}

/// Follows one job's event log: replays what is stored after the starting
/// point, then delivers live events as they are published, each exactly once
/// and in order (deduplicated by `seq`, gaps filled from the database), and
/// ends when the job is terminal.
pub struct JobFollower {
    services: Services,
    job: JobId,
    last_seq: i64,
    subscription: Subscription,
    bus_closed: bool,
    buffer: VecDeque<JobEvent>,
    /// Read the database after `last_seq`.
    reload: bool,
    /// Check whether the job is terminal (once the backlog is delivered).
    check_state: bool,
    done: bool,
}

impl std::fmt::Debug for JobFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobFollower").field("job", &self.job).field("last_seq", &self.last_seq).finish_non_exhaustive()
    }
}

fn inline_event(seq: i64, payload: &Value) -> Option<JobEvent> {
    Some(JobEvent {
        seq,
        at: DateTime::from_timestamp_millis(payload["at"].as_i64()?)?,
        kind: payload["kind"].as_str()?.to_owned(),
        data: payload.get("data")?.clone(),
    })
}

fn is_terminal_state_event(event: &JobEvent) -> bool {
    event.kind == STATE_EVENT
        && event.data["status"].as_str().and_then(JobState::parse).is_some_and(JobState::is_terminal)
}

impl JobFollower {
    /// The next item; `None` after the end.
    pub async fn next(&mut self) -> Result<Option<JobStreamItem>, ServiceError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                if event.seq <= self.last_seq {
                    continue;
                }
                self.last_seq = event.seq;
                if is_terminal_state_event(&event) {
                    self.check_state = true;
                }
                return Ok(Some(JobStreamItem::Event(event)));
            }
            if self.done {
                return Ok(None);
            }
            if self.reload {
                let page = self.services.store().job_events_after(&self.job, self.last_seq, EVENT_PAGE).await?;
                self.reload = page.len() == EVENT_PAGE as usize;
                if !page.is_empty() {
                    self.buffer.extend(page);
                    continue;
                }
            }
            if self.check_state {
                self.check_state = false;
                let job = self.services.store().get_job(&self.job).await?;
                if job.state.is_terminal() {
                    // The terminal state event commits with the state: read what is still unseen first.
                    let page = self.services.store().job_events_after(&self.job, self.last_seq, EVENT_PAGE).await?;
                    if !page.is_empty() {
                        self.reload = page.len() == EVENT_PAGE as usize;
                        self.check_state = true;
                        self.buffer.extend(page);
                        continue;
                    }
                    self.done = true;
                    return Ok(Some(JobStreamItem::End(Box::new(job.into()))));
                }
            }
            let bus_open = !self.bus_closed;
            tokio::select! {
                message = self.subscription.recv(), if bus_open => self.on_message(message),
                () = tokio::time::sleep(FOLLOW_CHECK_INTERVAL) => {
                    self.reload = true;
                    self.check_state = true;
                }
            }
        }
    }

    fn on_message(&mut self, message: Result<BusMessage, Missed>) {
        let payload = match message {
            Ok(message) => message.payload,
            Err(missed) => {
                self.bus_closed = missed == Missed::Closed;
                self.reload = true;
                self.check_state = true;
                return;
            }
        };
        match payload["seq"].as_i64() {
            Some(seq) if seq <= self.last_seq => {}
            Some(seq) if seq == self.last_seq + 1 && !bus::is_look(&payload) => match inline_event(seq, &payload) {
                Some(event) => self.buffer.push_back(event),
                None => self.reload = true,
            },
            // A gap (missed messages), a large event, or "look": read the database.
            _ => {
                self.reload = true;
                self.check_state = true;
            }
        }
    }

    /// The follower as a stream; it ends after [`JobStreamItem::End`] or an error.
    pub fn into_stream(self) -> impl Stream<Item = Result<JobStreamItem, ServiceError>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut follower = state?;
            match follower.next().await {
                Ok(Some(item)) => Some((Ok(item), Some(follower))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use dockyard_domain::{Actor, OrgId, UserId};
    use tokio::sync::oneshot;

    use super::*;
    use crate::ServiceConfig;
    use crate::testing::{Fixture, fixture_with};

    fn config(lease_ttl: Duration) -> ServiceConfig {
        ServiceConfig {
            jobs: JobsConfig { lease_ttl, poll_interval: Duration::from_millis(100) },
            ..ServiceConfig::default()
        }
    }

    async fn org(fixture: &Fixture) -> (OrgId, UserId) {
        let store = fixture.services.store();
        let user = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
        let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
        (org.id, user.id)
    }

    fn new_job(org: &OrgId, kind: &str, payload: Value, max_attempts: u32) -> NewJob {
        NewJob { kind: kind.into(), org_id: org.clone(), project_id: None, created_by: None, payload, max_attempts }
    }

    /// Workers that stop when the answered sender is used (or dropped).
    fn workers(services: &Services, n: usize) -> (oneshot::Sender<()>, JoinHandle<()>) {
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = services.start_workers(n, async move {
            let _ = stopped.await;
        });
        (stop, handle)
    }

    async fn wait_until(services: &Services, id: &JobId, what: &str, done: impl Fn(&Job) -> bool) -> Job {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let job = services.store().get_job(id).await.expect("job");
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {job:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn terminal(services: &Services, id: &JobId) -> Job {
        wait_until(services, id, "the end", |job| job.state.is_terminal()).await
    }

    async fn events(services: &Services, id: &JobId) -> Vec<JobEvent> {
        services.store().job_events_after(id, 0, 1000).await.expect("events")
    }

    fn kinds(events: &[JobEvent]) -> Vec<String> {
        events
            .iter()
            .filter(|event| event.kind != "log" && event.kind != "progress")
            .map(|event| match event.data["status"].as_str() {
                Some(status) => format!("{}:{status}", event.kind),
                None => event.kind.clone(),
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_of_an_unknown_kind_fails_with_job_kind_unknown() {
        let fixture = fixture_with(config(Duration::from_secs(30))).await;
        let services = &fixture.services;
        let (org, _) = org(&fixture).await;
        let (_stop, _handle) = workers(services, 2);
        let job = services.enqueue_job(new_job(&org, "nope", json!({}), 1)).await.expect("enqueue");
        assert_eq!(job.state, JobState::Queued);
        let job = JobRecord::from(terminal(services, &job.id).await);
        assert_eq!(job.state, JobState::Failed);
        let error = job.error.expect("an error");
        assert_eq!(error.code, "job_kind_unknown");
        assert!(error.message.contains("nope"), "{}", error.message);
        assert_eq!((job.attempt, job.result), (1, None));
        assert!(job.started_at.is_some() && job.finished_at.is_some());
        assert_eq!(kinds(&events(services, &job.id).await), ["state:running", "state:failed"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn progress_is_throttled_but_its_last_value_lands_and_events_keep_their_order() {
        let fixture = fixture_with(config(Duration::from_secs(30))).await;
        let services = &fixture.services;
        let (org, _) = org(&fixture).await;
        let (_stop, _handle) = workers(services, 1);
        let started = Instant::now();
        let job = services.enqueue_job(new_job(&org, "test.echo", json!({ "steps": 300 }), 1)).await.expect("enqueue");
        let done = terminal(services, &job.id).await;
        let elapsed = started.elapsed();
        assert_eq!(done.state, JobState::Succeeded, "{done:?}");
        assert_eq!(done.result, Some(json!({ "echo": { "steps": 300 } })));
        assert_eq!(done.progress, json!({ "done": 300, "total": 300 }), "the last progress always lands");
        let log = events(services, &job.id).await;
        assert_eq!(log.iter().map(|event| event.seq).collect::<Vec<_>>(), (1..=log.len() as i64).collect::<Vec<_>>());
        let lines: Vec<u64> =
            log.iter().filter(|event| event.kind == "log").filter_map(|event| event.data["line"].as_u64()).collect();
        assert_eq!(lines, (1..=300).collect::<Vec<_>>(), "every log line, in order");
        let progress: Vec<&JobEvent> = log.iter().filter(|event| event.kind == "progress").collect();
        let allowed = 2 + (elapsed.as_millis() / 250) as usize;
        assert!(!progress.is_empty() && progress.len() <= allowed, "{} progress events in {elapsed:?}", progress.len());
        assert_eq!(progress.last().map(|event| event.data.clone()), Some(json!({ "done": 300, "total": 300 })));
        assert_eq!(kinds(&log), ["state:running", "state:succeeded"]);
        assert_eq!(log.last().map(|event| event.kind.as_str()), Some(STATE_EVENT), "the terminal state comes last");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reports_from_a_blocking_thread_land() {
        let fixture = fixture_with(config(Duration::from_secs(30))).await;
        let services = &fixture.services;
        let (org, _) = org(&fixture).await;
        let (_stop, _handle) = workers(services, 1);
        let job = services.enqueue_job(new_job(&org, "test.blocking", json!({}), 1)).await.expect("enqueue");
        let done = terminal(services, &job.id).await;
        assert_eq!((done.state, done.progress), (JobState::Succeeded, json!({ "done": 50 })));
        let log = events(services, &job.id).await;
        assert_eq!(log.iter().filter(|event| event.kind == "log").count(), 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_fails_with_job_panicked_and_the_pool_keeps_working() {
        let fixture = fixture_with(config(Duration::from_secs(30))).await;
        let services = &fixture.services;
        let (org, _) = org(&fixture).await;
        let (_stop, _handle) = workers(services, 1);
        let panicking = services.enqueue_job(new_job(&org, "test.panic", json!({}), 3)).await.expect("enqueue");
        let failing = services.enqueue_job(new_job(&org, "test.fail", json!({}), 3)).await.expect("enqueue");
        let fine = services.enqueue_job(new_job(&org, "test.echo", json!({ "steps": 1 }), 1)).await.expect("enqueue");
        let panicked = terminal(services, &panicking.id).await;
        assert_eq!((panicked.state, panicked.error_code.as_deref()), (JobState::Failed, Some("job_panicked")));
        assert_eq!(panicked.attempt, 1, "a panic is a failure, not a reason to retry");
        assert!(
            !panicked.error_message.unwrap_or_default().contains("a test job panics"),
            "the panic stays in the log"
        );
        let failed = terminal(services, &failing.id).await;
        assert_eq!((failed.state, failed.error_code.as_deref()), (JobState::Failed, Some("test_failed")));
        assert_eq!(terminal(services, &fine.id).await.state, JobState::Succeeded, "the single worker survived");
        for id in [&panicking.id, &failing.id] {
            let reconciled = wait_until(services, id, "reconciling", |_| true).await;
            assert_eq!(reconciled.state, JobState::Failed);
            let deadline = Instant::now() + Duration::from_secs(5);
            while !kinds(&events(services, id).await).contains(&"reconciled".to_owned()) {
                assert!(Instant::now() < deadline, "a failed job is reconciled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_that_loses_its_lease_throws_its_outcome_away() {
        let fixture = fixture_with(config(Duration::from_millis(600))).await;
        let services = &fixture.services;
        let (org, _) = org(&fixture).await;
        let (_stop, _handle) = workers(services, 1);
        let job = services.enqueue_job(new_job(&org, "test.wait", json!({ "ms": 10_000 }), 1)).await.expect("enqueue");
        wait_until(services, &job.id, "the start", |job| job.state == JobState::Running).await;
        // Another worker took the job over: the next renewal is refused.
        let until = (Utc::now() + chrono::Duration::hours(1)).timestamp_millis();
        fixture
            .execute(&format!(
                "UPDATE jobs SET lease_owner = 'thief', lease_expires_at = {until} WHERE id = '{}'",
                job.id
            ))
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = services.store().get_job(&job.id).await.expect("job");
        assert_eq!((after.state, after.lease_owner.as_deref()), (JobState::Running, Some("thief")));
        assert!(after.result.is_none(), "the stale worker did not finish it");
        let log = events(services, &job.id).await;
        assert!(!log.iter().any(|event| event.kind == "log"), "nothing the stale worker reported is kept: {log:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_job_is_retried_while_attempts_last_and_then_abandoned_and_reconciled() {
        let fixture = fixture_with(config(Duration::from_secs(30))).await;
        let services = &fixture.services;
        let (org, _) = org(&fixture).await;
        let long_ago = Utc::now() - chrono::Duration::hours(1);
        // Both were claimed an hour ago by a worker that died.
        let retried =
            services.enqueue_job(new_job(&org, "test.echo", json!({ "steps": 1 }), 2)).await.expect("enqueue");
        services
            .store()
            .claim_job("dead-worker", Duration::from_secs(30), long_ago, &KindFilter::Any)
            .await
            .expect("claim");
        let abandoned = services.enqueue_job(new_job(&org, "test.echo", json!({}), 1)).await.expect("enqueue");
        services
            .store()
            .claim_job("dead-worker", Duration::from_secs(30), long_ago, &KindFilter::Any)
            .await
            .expect("claim");

        let (_stop, _handle) = workers(services, 1);
        let done = terminal(services, &retried.id).await;
        assert_eq!((done.state, done.attempt), (JobState::Succeeded, 2));
        let gone = terminal(services, &abandoned.id).await;
        assert_eq!(
            (gone.state, gone.error_code.as_deref(), gone.attempt),
            (JobState::Failed, Some("job_abandoned"), 1)
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while !kinds(&events(services, &abandoned.id).await).contains(&"reconciled".to_owned()) {
            assert!(Instant::now() < deadline, "an abandoned job is reconciled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(services.reap_abandoned_jobs().await.expect("reap"), 0, "failed once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_stops_claiming_and_lets_the_running_job_finish() {
        let fixture = fixture_with(config(Duration::from_secs(30))).await;
        let services = &fixture.services;
        let (org, _) = org(&fixture).await;
        let (stop, handle) = workers(services, 1);
        let running = services.enqueue_job(new_job(&org, "test.wait", json!({ "ms": 500 }), 1)).await.expect("enqueue");
        wait_until(services, &running.id, "the start", |job| job.state == JobState::Running).await;
        stop.send(()).expect("stop");
        let waiting = services.enqueue_job(new_job(&org, "test.echo", json!({}), 1)).await.expect("enqueue");
        tokio::time::timeout(Duration::from_secs(10), handle).await.expect("the pool ends").expect("no panic");
        let finished = services.store().get_job(&running.id).await.expect("job");
        assert_eq!(finished.state, JobState::Succeeded);
        assert_eq!(services.store().get_job(&waiting.id).await.expect("job").state, JobState::Queued);
    }

    #[tokio::test]
    async fn a_follower_replays_then_follows_each_event_once_and_ends_with_the_job() {
        let fixture = fixture_with(config(Duration::from_secs(30))).await;
        let services = &fixture.services;
        let (org, user) = org(&fixture).await;
        let actor = Actor { user_id: user, instance_admin: false, scope: None };
        let job = services.enqueue_job(new_job(&org, "followed", json!({}), 1)).await.expect("enqueue");
        for n in 1..=3 {
            services.record_job_event(&job.id, "log", json!({ "n": n })).await.expect("event");
        }
        let mut follower = services.follow_job(&actor, &job.id, 1).await.expect("follow");
        let mut seen = Vec::new();
        let next =
            async |follower: &mut JobFollower| match tokio::time::timeout(Duration::from_secs(5), follower.next())
                .await
                .expect("in time")
                .expect("ok")
            {
                Some(JobStreamItem::Event(event)) => event.seq,
                Some(JobStreamItem::End(job)) => -(job.attempt as i64) - 100,
                None => -1,
            };
        seen.push(next(&mut follower).await);
        seen.push(next(&mut follower).await);
        // Live: a duplicate, a "look" and a message from the future are absorbed.
        services.record_job_event(&job.id, "log", json!({ "n": 4 })).await.expect("event");
        let topic = job_topic(&job.id);
        services.bus().publish(&topic, json!({ "seq": 2, "kind": "log", "at": 0, "data": "stale" }));
        services.record_job_event(&job.id, "log", json!({ "n": 5 })).await.expect("event");
        services.bus().publish(&topic, bus::look());
        seen.push(next(&mut follower).await);
        seen.push(next(&mut follower).await);
        let claimed = services
            .store()
            .claim_job("w", Duration::from_secs(30), Utc::now(), &KindFilter::Any)
            .await
            .expect("claim");
        services.announce(&claimed.expect("claimed"));
        let finished = services
            .store()
            .finish_job(&job.id, "w", &JobOutcome::Succeeded(json!(1)), Utc::now())
            .await
            .expect("finish")
            .expect("owner");
        services.announce(&finished);
        seen.push(next(&mut follower).await);
        seen.push(next(&mut follower).await);
        seen.push(next(&mut follower).await);
        seen.push(next(&mut follower).await);
        assert_eq!(seen, [2, 3, 4, 5, 6, 7, -101, -1]);
    }
}
