//! Runtime logs and stats of instances.
//!
//! Logs: one engine log stream per matching container (`timestamps: true`),
//! demultiplexed into stdout and stderr, split into lines per container and
//! stream, with the engine's timestamp parsed off each entry, merged as they
//! come. Nothing is spawned: dropping the returned stream closes every engine
//! connection. A followed stream also watches the engine's `start` events for
//! the selector's labels (from a second before the containers were listed, so
//! none starts unseen in between) and joins each container that starts while
//! it is open: a redeploy's new replicas, a restarted one. A container already
//! being followed is not joined twice: a `start` from before its stream opened
//! (the events replay that second) is the start the stream already shows; a
//! later one is a restart, joined again from its new start once the old stream
//! has ended. Should a `start` go unseen anyway (the event stream failed or
//! ended: it is subscribed to again), a rescan every few seconds lists the
//! running containers and joins any not followed, from when it started.
//! An engine error for one container is passed on once: a container whose log
//! the engine cannot read fails again at every rescan's join.
//!
//! Stats: one reading per running container (`stream: false`, not one-shot, so
//! the engine samples twice about a second apart and fills `precpu_stats`).
//! CPU cores = Δ container CPU time / Δ system CPU time × online CPUs, as
//! `docker stats` computes it. If the engine leaves `precpu_stats` empty (some
//! old engines, or a container that just started), a second reading is taken
//! 250 ms later and the cores are the CPU time used between the two readings
//! divided by the wall time between them. Memory is the usage minus the
//! inactive page cache (as `docker stats` shows it); the limit is reported only
//! when the container has one (otherwise the engine answers the host's memory).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::models::{ContainerInspectResponse, ContainerStatsResponse, EventMessage};
use bollard::query_parameters::{
    EventsOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder, StatsOptionsBuilder,
};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream as FuturesBoxStream};
use futures_util::{StreamExt, TryStreamExt};

use super::build::LineSplitter;
use super::{DockerRuntime, engine_error, status_of};
use crate::{BoxStream, InstanceStats, LogLine, LogOptions, LogStream, RuntimeError, Selector};

impl DockerRuntime {
    pub(super) fn logs_impl(
        &self,
        selector: Selector,
        options: LogOptions,
    ) -> BoxStream<'static, Result<LogLine, RuntimeError>> {
        self.follow_logs(selector, options, true)
    }

    /// For tests of the rescan: a log stream like [`crate::Runtime::logs`]
    /// whose event stream fails at once (when following), so only the rescan
    /// ([`super::DockerConfig::log_rescan`]) joins containers that start
    /// later, and subscribes to the events again.
    #[doc(hidden)]
    pub fn logs_with_failed_events(
        &self,
        selector: Selector,
        options: LogOptions,
    ) -> BoxStream<'static, Result<LogLine, RuntimeError>> {
        self.follow_logs(selector, options, false)
    }

    fn follow_logs(
        &self,
        selector: Selector,
        options: LogOptions,
        subscribe: bool,
    ) -> BoxStream<'static, Result<LogLine, RuntimeError>> {
        let docker = self.inner.docker.clone();
        let filters = self.filters(&selector);
        let rescan_every = self.inner.config.log_rescan.max(Duration::from_millis(100));
        let containers = async move {
            // Events from a second before the list (the engine counts in seconds):
            // a container starting in between shows in both and is joined once.
            let events = options.follow.then(|| {
                if subscribe {
                    start_events(&docker, &filters, Utc::now().timestamp() - 1)
                } else {
                    stream::once(async { Err(bollard::errors::Error::RequestTimeoutError) }).boxed()
                }
            });
            let list = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
            let summaries = docker.list_containers(Some(list)).await.map_err(engine_error)?;
            let (since, tail) = (options.since, options.tail);
            let rescan = options.follow.then(|| {
                let mut every = tokio::time::interval_at(tokio::time::Instant::now() + rescan_every, rescan_every);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                every
            });
            let mut follow = Follow {
                docker,
                filters,
                options,
                merged: stream::SelectAll::new(),
                events,
                events_lost_at: None,
                rescan,
                open: HashMap::new(),
                restarted: HashMap::new(),
                ended_at: HashMap::new(),
                reported: HashSet::new(),
            };
            for summary in summaries {
                let Some(id) = summary.id else { continue };
                let name = summary
                    .names
                    .and_then(|names| names.into_iter().next())
                    .map(|name| name.trim_start_matches('/').to_owned())
                    .unwrap_or_else(|| id.clone());
                follow.join(id, name, since, tail);
            }
            Ok::<_, RuntimeError>(follow.into_stream())
        };
        stream::once(containers)
            .map(|result| match result {
                Ok(merged) => merged.boxed(),
                Err(error) => stream::once(async move { Err(error) }).boxed(),
            })
            .flatten()
            .boxed()
    }

    pub(super) async fn stats_impl(&self, selector: &Selector) -> Result<Vec<InstanceStats>, RuntimeError> {
        let docker = &self.inner.docker;
        let options = ListContainersOptionsBuilder::new().all(false).filters(&self.filters(selector)).build();
        let summaries = docker.list_containers(Some(options)).await.map_err(engine_error)?;
        let readings = futures_util::future::join_all(
            summaries.iter().filter_map(|summary| summary.id.as_deref()).map(|id| self.stats_of(id)),
        )
        .await;
        let mut stats = Vec::new();
        for reading in readings {
            match reading {
                Ok(Some(reading)) => stats.push(reading),
                Ok(None) => {}
                Err(error) => return Err(error),
            }
        }
        stats.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(stats)
    }

    /// One container's reading; `None` when it went away meanwhile.
    async fn stats_of(&self, id: &str) -> Result<Option<InstanceStats>, RuntimeError> {
        let docker = &self.inner.docker;
        let inspected: ContainerInspectResponse = match docker.inspect_container(id, None).await {
            Ok(inspected) => inspected,
            Err(error) if status_of(&error) == Some(404) => return Ok(None),
            Err(error) => return Err(engine_error(error)),
        };
        let Some(first) = self.read_stats(id).await? else { return Ok(None) };
        let cpu_cores = match cores_from_precpu(&first) {
            Some(cores) => cores,
            None => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                match self.read_stats(id).await? {
                    Some(second) => cores_between(&first, &second).unwrap_or(0.0),
                    None => return Ok(None),
                }
            }
        };
        let memory = first.memory_stats.as_ref();
        let usage = memory.and_then(|memory| memory.usage).unwrap_or(0);
        let inactive = memory
            .and_then(|memory| memory.stats.as_ref())
            .and_then(|stats| stats.get("total_inactive_file").or_else(|| stats.get("inactive_file")).copied())
            .filter(|inactive| *inactive < usage)
            .unwrap_or(0);
        let has_limit = inspected.host_config.as_ref().and_then(|config| config.memory).is_some_and(|limit| limit > 0);
        let (rx, tx) = first.networks.as_ref().map_or((0, 0), |networks| {
            networks.values().fold((0u64, 0u64), |(rx, tx), network| {
                (rx + network.rx_bytes.unwrap_or(0), tx + network.tx_bytes.unwrap_or(0))
            })
        });
        Ok(Some(InstanceStats {
            instance: id.to_owned(),
            cpu_cores,
            memory_bytes: usage - inactive,
            memory_limit_bytes: if has_limit { memory.and_then(|memory| memory.limit) } else { None },
            network_rx_bytes: rx,
            network_tx_bytes: tx,
        }))
    }

    async fn read_stats(&self, id: &str) -> Result<Option<ContainerStatsResponse>, RuntimeError> {
        let options = StatsOptionsBuilder::new().stream(false).one_shot(false).build();
        match self.inner.docker.stats(id, Some(options)).try_next().await {
            Ok(reading) => Ok(reading),
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(engine_error(error)),
        }
    }
}

fn cores_from_precpu(stats: &ContainerStatsResponse) -> Option<f64> {
    let cpu = stats.cpu_stats.as_ref()?;
    let pre = stats.precpu_stats.as_ref()?;
    let total = cpu.cpu_usage.as_ref()?.total_usage?;
    let pre_total = pre.cpu_usage.as_ref()?.total_usage?;
    let system = cpu.system_cpu_usage?;
    let pre_system = pre.system_cpu_usage.filter(|value| *value > 0)?;
    let system_delta = system.checked_sub(pre_system).filter(|delta| *delta > 0)?;
    let cpu_delta = total.saturating_sub(pre_total);
    let online = cpu
        .online_cpus
        .filter(|online| *online > 0)
        .map(f64::from)
        .or_else(|| cpu.cpu_usage.as_ref()?.percpu_usage.as_ref().map(|per| per.len() as f64))
        .unwrap_or(1.0);
    Some(cpu_delta as f64 / system_delta as f64 * online)
}

fn cores_between(first: &ContainerStatsResponse, second: &ContainerStatsResponse) -> Option<f64> {
    let total = |stats: &ContainerStatsResponse| stats.cpu_stats.as_ref()?.cpu_usage.as_ref()?.total_usage;
    let read = |stats: &ContainerStatsResponse| {
        stats.read.as_ref().and_then(|at| DateTime::parse_from_rfc3339(&at.to_string()).ok())
    };
    let cpu_delta = total(second)?.saturating_sub(total(first)?);
    let wall = (read(second)? - read(first)?).num_nanoseconds().filter(|nanos| *nanos > 0)?;
    Some(cpu_delta as f64 / wall as f64)
}

type Events = FuturesBoxStream<'static, Result<EventMessage, bollard::errors::Error>>;

/// The engine's `start` events of the containers `filters` selects, from
/// `since` (Unix seconds) on.
fn start_events(docker: &bollard::Docker, filters: &HashMap<String, Vec<String>>, since: i64) -> Events {
    let mut event_filters = filters.clone();
    event_filters.insert("type".to_owned(), vec!["container".to_owned()]);
    event_filters.insert("event".to_owned(), vec!["start".to_owned()]);
    let options = EventsOptionsBuilder::new().since(&since.to_string()).filters(&event_filters).build();
    docker.events(Some(options)).boxed()
}

/// What a per-container stream yields: a line, the engine's error for that
/// container, or that the container's stream ended.
enum Piece {
    Line(LogLine),
    Failed(String, RuntimeError),
    Ended(String),
}

/// The merged log streams of the containers being followed, and the engine's
/// `start` events that add to them (`events` is `None` unless following).
///
/// When following, a rescan every [`super::DockerConfig::log_rescan`] also
/// lists the running containers and joins any not followed: one whose `start`
/// event never came, because the event stream failed or for any other
/// reason. A failed or ended event stream is subscribed to again at the next
/// rescan, from a second before it was lost.
struct Follow {
    docker: bollard::Docker,
    filters: HashMap<String, Vec<String>>,
    options: LogOptions,
    merged: stream::SelectAll<FuturesBoxStream<'static, Piece>>,
    events: Option<Events>,
    /// When the event stream failed or ended (Unix seconds), while following without one.
    events_lost_at: Option<i64>,
    rescan: Option<tokio::time::Interval>,
    /// Containers whose stream is open, with when it was opened (Unix nanoseconds).
    open: HashMap<String, i64>,
    /// Containers that started again while their old stream was still open (a
    /// restart whose `start` event came before the old stream's end): joined
    /// again, from the new start, once that stream ends.
    restarted: HashMap<String, (String, Option<DateTime<Utc>>)>,
    /// When each container's stream ended (while following): a rescan that
    /// finds one still running (its stream broke off) joins it from then, not
    /// from its start again.
    ended_at: HashMap<String, DateTime<Utc>>,
    /// The errors passed on so far, by container: the same error of the same
    /// container (one whose log the engine cannot read fails at every rescan's
    /// join) is passed on once.
    reported: HashSet<(String, String)>,
}

impl Follow {
    fn join(&mut self, id: String, name: String, since: Option<DateTime<Utc>>, tail: Option<u32>) {
        if self.open.contains_key(&id) {
            return;
        }
        self.ended_at.remove(&id);
        self.open.insert(id.clone(), Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX));
        let mut builder = LogsOptionsBuilder::new()
            .follow(self.options.follow)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail(&tail.map_or_else(|| "all".to_owned(), |tail| tail.to_string()));
        if let Some(since) = since {
            builder = builder.since(i32::try_from(since.timestamp()).unwrap_or(i32::MAX));
        }
        let raw = self.docker.logs(&id, Some(builder.build()));
        let container = id.clone();
        let lines = container_lines(raw, name, since)
            .map(move |line| match line {
                Ok(line) => Piece::Line(line),
                Err(error) => Piece::Failed(container.clone(), error),
            })
            .chain(stream::once(async move { Piece::Ended(id) }));
        self.merged.push(lines.boxed());
    }

    /// A container that started while following: all of its output since it
    /// started (the caller's `since`, if later), whatever `tail` said.
    fn joined(&mut self, message: EventMessage) {
        let Some(actor) = message.actor else { return };
        let Some(id) = actor.id else { return };
        let name = actor
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get("name").cloned())
            .unwrap_or_else(|| id.clone());
        let started = message.time.and_then(|seconds| DateTime::from_timestamp(seconds, 0));
        let since = match (started, self.options.since) {
            (Some(started), Some(since)) => Some(started.max(since)),
            (started, since) => started.or(since),
        };
        if let Some(&opened) = self.open.get(&id) {
            // A start from before the stream opened is the run it shows (the
            // events replay the second before the list); only a later one is a
            // restart. With no time, a restart, so as not to miss one.
            let at = message.time_nano.or_else(|| message.time.map(|seconds| seconds.saturating_mul(1_000_000_000)));
            if at.is_none_or(|at| at > opened) {
                self.restarted.insert(id, (name, since));
            }
            return;
        }
        self.join(id, name, since, None);
    }

    /// A container's stream ended: it stopped, or it is gone. One that has
    /// started again meanwhile is joined again.
    fn ended(&mut self, id: String) {
        self.open.remove(&id);
        if let Some((name, since)) = self.restarted.remove(&id) {
            self.join(id, name, since, None);
        } else if self.rescan.is_some() {
            self.ended_at.insert(id, Utc::now());
        }
    }

    /// The event stream failed or ended: logged, and subscribed to again at
    /// the next rescan.
    fn events_lost(&mut self, error: Option<&bollard::errors::Error>) {
        match error {
            Some(error) => {
                tracing::warn!(%error, "log follow: the engine's event stream failed; subscribing again at the next rescan");
            }
            None => tracing::warn!("log follow: the engine's event stream ended; subscribing again at the next rescan"),
        }
        self.events = None;
        self.events_lost_at.get_or_insert(Utc::now().timestamp());
    }

    /// Subscribes to the events again if they were lost, then joins the
    /// running containers not followed, each from when it started.
    async fn rescan(&mut self) {
        if let Some(lost_at) = self.events_lost_at.take() {
            self.events = Some(start_events(&self.docker, &self.filters, lost_at - 1));
        }
        let mut filters = self.filters.clone();
        filters.insert("status".to_owned(), vec!["running".to_owned()]);
        let list = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let summaries = match self.docker.list_containers(Some(list)).await {
            Ok(summaries) => summaries,
            Err(error) => {
                tracing::debug!(%error, "log follow: the rescan could not list the containers");
                return;
            }
        };
        let running: Vec<String> = summaries.into_iter().filter_map(|summary| summary.id).collect();
        // A stream's end matters only while its container runs on in the same run.
        self.ended_at.retain(|id, _| running.contains(id));
        for id in running {
            if self.open.contains_key(&id) {
                continue;
            }
            let Ok(inspected) = self.docker.inspect_container(&id, None).await else { continue };
            let name =
                inspected.name.as_deref().map_or_else(|| id.clone(), |name| name.trim_start_matches('/').to_owned());
            let started_at = inspected
                .state
                .and_then(|state| state.started_at)
                .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
                .map(|at| at.with_timezone(&Utc));
            // From the second it started, as for a `start` event: the engine
            // notes the start after the process began, and its first line can
            // be stamped a little earlier. But if its stream broke off during
            // this run, from then on, not from the start again.
            let from_start = started_at.and_then(|at| DateTime::from_timestamp(at.timestamp(), 0));
            let started = match (started_at, self.ended_at.remove(&id)) {
                (Some(started_at), Some(ended)) if started_at < ended => Some(ended),
                (None, Some(ended)) => Some(ended),
                _ => from_start,
            };
            tracing::debug!(container = %name, "log follow: the rescan joins a container whose start was not seen");
            let since = match (started, self.options.since) {
                (Some(started), Some(since)) => Some(started.max(since)),
                (started, since) => started.or(since),
            };
            self.join(id, name, since, None);
        }
    }

    fn into_stream(self) -> impl futures_util::Stream<Item = Result<LogLine, RuntimeError>> + Send + 'static {
        stream::unfold(self, |mut follow| async move {
            loop {
                let events_open = follow.events.is_some();
                let rescanning = follow.rescan.is_some();
                tokio::select! {
                    piece = follow.merged.next(), if !follow.merged.is_empty() => match piece {
                        Some(Piece::Line(line)) => return Some((Ok(line), follow)),
                        Some(Piece::Failed(id, error)) if follow.reported.insert((id.clone(), error.to_string())) => {
                            return Some((Err(error), follow));
                        }
                        Some(Piece::Failed(..)) => {}
                        Some(Piece::Ended(id)) => follow.ended(id),
                        None => {}
                    },
                    event = async { follow.events.as_mut().expect("guarded").next().await }, if events_open => match event {
                        Some(Ok(message)) => follow.joined(message),
                        Some(Err(error)) => follow.events_lost(Some(&error)),
                        None => follow.events_lost(None),
                    },
                    _ = async { follow.rescan.as_mut().expect("guarded").tick().await }, if rescanning => {
                        follow.rescan().await;
                    },
                    else => return None,
                }
            }
        })
    }
}

/// One container's log stream as lines (see the module docs).
fn container_lines(
    raw: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send + 'static,
    instance: String,
    since: Option<DateTime<Utc>>,
) -> impl futures_util::Stream<Item = Result<LogLine, RuntimeError>> + Send + 'static {
    struct State<S> {
        raw: S,
        instance: String,
        since: Option<DateTime<Utc>>,
        stdout: Partial,
        stderr: Partial,
        ready: VecDeque<Result<LogLine, RuntimeError>>,
        done: bool,
    }
    let state = State {
        raw: Box::pin(raw),
        instance,
        since,
        stdout: Partial::default(),
        stderr: Partial::default(),
        ready: VecDeque::new(),
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        loop {
            if let Some(line) = state.ready.pop_front() {
                return Some((line, state));
            }
            if state.done {
                return None;
            }
            match state.raw.next().await {
                Some(Ok(output)) => {
                    let (stream, message, partial) = match output {
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            (LogStream::Stdout, message, &mut state.stdout)
                        }
                        LogOutput::StdErr { message } => (LogStream::Stderr, message, &mut state.stderr),
                        LogOutput::StdIn { .. } => continue,
                    };
                    for (at, text) in partial.push(&String::from_utf8_lossy(&message)) {
                        if state.since.is_some_and(|since| at < since) {
                            continue;
                        }
                        state.ready.push_back(Ok(LogLine { stream, text, at, instance: Some(state.instance.clone()) }));
                    }
                }
                Some(Err(error)) => {
                    state.done = true;
                    if status_of(&error) != Some(404) {
                        state.ready.push_back(Err(engine_error(error)));
                    }
                }
                None => {
                    state.done = true;
                    for (stream, partial) in
                        [(LogStream::Stdout, &mut state.stdout), (LogStream::Stderr, &mut state.stderr)]
                    {
                        if let Some((at, text)) = partial.finish() {
                            state.ready.push_back(Ok(LogLine {
                                stream,
                                text,
                                at,
                                instance: Some(state.instance.clone()),
                            }));
                        }
                    }
                }
            }
        }
    })
}

/// The unfinished line of one stream, and when it began.
#[derive(Default)]
struct Partial {
    splitter: LineSplitter,
    started: Option<DateTime<Utc>>,
}

impl Partial {
    /// Takes one engine frame ("<RFC 3339 timestamp> <text>") and answers the
    /// lines it completes, each with the time its first part was written.
    fn push(&mut self, frame: &str) -> Vec<(DateTime<Utc>, String)> {
        let (at, text) = split_timestamp(frame);
        let started = *self.started.get_or_insert(at);
        let lines = self.splitter.push(text);
        let mut out = Vec::with_capacity(lines.len());
        let mut first_at = started;
        for line in lines {
            out.push((first_at, line));
            first_at = at;
        }
        if !out.is_empty() {
            self.started = self.splitter.has_partial().then_some(at);
        }
        out
    }

    fn finish(&mut self) -> Option<(DateTime<Utc>, String)> {
        let text = self.splitter.finish()?;
        Some((self.started.take().unwrap_or_else(Utc::now), text))
    }
}

/// Splits the engine's timestamp prefix off a frame; a frame without one is
/// stamped now.
fn split_timestamp(frame: &str) -> (DateTime<Utc>, &str) {
    if let Some((prefix, rest)) = frame.split_once(' ')
        && let Ok(at) = DateTime::parse_from_rfc3339(prefix)
    {
        return (at.with_timezone(&Utc), rest);
    }
    (Utc::now(), frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_parsed_off_and_lines_keep_the_time_they_began() {
        let mut partial = Partial::default();
        let lines = partial.push("2026-01-02T03:04:05.123456789Z hello\n");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].1, "hello");
        assert_eq!(lines[0].0.to_rfc3339(), "2026-01-02T03:04:05.123456789+00:00");
        assert!(partial.push("2026-01-02T03:04:06Z par").is_empty());
        let lines = partial.push("2026-01-02T03:04:07Z t\nnext\n");
        assert_eq!(lines.iter().map(|line| line.1.as_str()).collect::<Vec<_>>(), vec!["part", "next"]);
        assert_eq!(lines[0].0.to_rfc3339(), "2026-01-02T03:04:06+00:00");
        assert_eq!(lines[1].0.to_rfc3339(), "2026-01-02T03:04:07+00:00");
        assert!(partial.finish().is_none());
    }

    fn start_event(id: &str, at: i64) -> EventMessage {
        EventMessage {
            actor: Some(bollard::models::EventActor {
                id: Some(id.to_owned()),
                attributes: Some([("name".to_owned(), format!("{id}-name"))].into_iter().collect()),
            }),
            time: Some(at),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_container_restarted_before_its_old_stream_ended_is_joined_again_after_the_end() {
        // Streams are lazy: nothing connects to this socket unless polled.
        let docker = bollard::Docker::connect_with_host("tcp://127.0.0.1:9").expect("client");
        let options = LogOptions { follow: true, since: None, tail: Some(10) };
        let mut follow = Follow {
            docker,
            filters: HashMap::new(),
            options,
            merged: stream::SelectAll::new(),
            events: None,
            events_lost_at: None,
            rescan: None,
            open: HashMap::new(),
            restarted: HashMap::new(),
            ended_at: HashMap::new(),
            reported: HashSet::new(),
        };
        follow.join("c1".to_owned(), "web-1".to_owned(), None, Some(10));
        assert_eq!(follow.merged.len(), 1);
        let now = Utc::now().timestamp();

        // The start of the run the stream already shows, replayed by the
        // events' second of overlap: nothing to join, now or at the end.
        follow.joined(start_event("c1", now - 1));
        assert!(follow.restarted.is_empty());

        // The restart's start event comes first: no second stream while the old one is open.
        follow.joined(start_event("c1", now + 1));
        assert_eq!(follow.merged.len(), 1);
        assert!(follow.restarted.contains_key("c1"));

        // The old stream ends: the container is followed again, from its new start.
        follow.ended("c1".to_owned());
        assert!(follow.open.contains_key("c1"));
        assert_eq!(follow.merged.len(), 2, "a new stream joined (the test did not drain the old one)");
        assert!(follow.restarted.is_empty());

        // A plain end (a container stopped for good) joins nothing.
        follow.ended("c1".to_owned());
        assert!(!follow.open.contains_key("c1"));
        assert_eq!(follow.merged.len(), 2);

        // A start after the end (the usual order) joins at once.
        follow.joined(start_event("c1", now + 100));
        assert!(follow.open.contains_key("c1"));
        assert_eq!(follow.merged.len(), 3);
    }
}
