//! Replicas that share a database know each other through the bus, so that a
//! redeploy drains the old instances on every replica's proxy, not just on the
//! one that ran the job.
//!
//! - Presence: every replica says `hello` on the `replicas` topic when its
//!   route sync starts, `here` every [`HEARTBEAT`], and `gone` at shutdown. A
//!   replica not heard from for [`EXPIRY`] is taken for dead. A `hello`
//!   is answered with `here`, so a newcomer learns the others at once.
//! - Drain: after the switch the deploying replica publishes a drain request
//!   (an id, the old instances' addresses and the deadline) on `drain`. Every
//!   other replica rebuilds its routes (the database already says which
//!   deployment is live, so the old addresses leave its table), waits until
//!   its own proxy has no request in flight on them (up to the deadline), and
//!   answers on `drain-ack`. The deploying replica drains its own proxy
//!   meanwhile, and removes the old instances once every replica it knows has
//!   answered, has gone, or the deadline (plus a second for the answers to
//!   travel) has passed.
//! - Cordon: a rolling restart drains one instance that stays in the database's
//!   view of the routes, so its drain request also names the instances to take
//!   off every proxy (`cordon`, for at most `cordon_ms`). Once the instance is
//!   back and healthy, `uncordon` puts it back everywhere; a lost `uncordon`
//!   costs the cordon's period, after which it lifts by itself.
//!
//! The bus may lose messages: a lost request or answer costs at most the
//! deadline, never a request (the answer only ever shortens the wait).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::DeployEngine;
use crate::Services;
use crate::bus::{Missed, is_look};

/// Presence messages: `{replica, state: hello|here|gone}`.
pub const REPLICAS_TOPIC: &str = "replicas";
/// Drain requests: [`DrainRequest`].
pub const DRAIN_TOPIC: &str = "drain";
/// Drain answers: [`DrainAck`].
pub const DRAIN_ACK_TOPIC: &str = "drain-ack";
/// Cordons lifted: [`Uncordon`].
pub const UNCORDON_TOPIC: &str = "uncordon";

/// Gauge: the other replicas this one hears from.
const REPLICAS_SEEN: &str = "deploy_replicas_seen";
/// Counter: other replicas' answers to this one's drains, by `result`
/// (`drained`, `busy`: requests still in flight at the deadline, `silent`: no answer).
const REMOTE_DRAINS: &str = "deploy_remote_drains_total";

/// How often a replica says it is alive.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a replica may be silent before the others stop waiting for it.
pub(crate) const EXPIRY: Duration = Duration::from_secs(6);
/// The longest drain a request may ask for (an hour).
const MAX_DEADLINE_MS: u64 = 3_600_000;
/// How long past the deadline the deploying replica waits for answers.
const ACK_GRACE: Duration = Duration::from_secs(1);

/// This replica's id and the other replicas it has heard from.
pub(crate) struct Peers {
    me: String,
    seen: Mutex<HashMap<String, Instant>>,
}

impl Peers {
    /// A new id: the host's name (a pod's name on Kubernetes), so that deploy
    /// logs say which replica did not drain, and a random part, so that a
    /// restarted replica is a new one.
    pub(crate) fn new() -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|name| replica_label(&name))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "replica".to_owned());
        let random = crate::crypto::random_token(6).unwrap_or_else(|_| format!("pid{}", std::process::id()));
        Self { me: format!("{host}-{random}"), seen: Mutex::new(HashMap::new()) }
    }

    /// This replica's id on the bus.
    pub(crate) fn me(&self) -> &str {
        &self.me
    }

    /// Records a sign of life; answers whether the replica was not known.
    fn saw(&self, replica: &str, now: Instant) -> bool {
        self.lock().insert(replica.to_owned(), now).is_none_or(|last| now.duration_since(last) >= EXPIRY)
    }

    fn gone(&self, replica: &str) {
        self.lock().remove(replica);
    }

    fn is_live(&self, replica: &str, now: Instant) -> bool {
        self.lock().get(replica).is_some_and(|last| now.duration_since(*last) < EXPIRY)
    }

    /// The other replicas heard from within [`EXPIRY`]; forgets the rest.
    pub(crate) fn live(&self, now: Instant) -> BTreeSet<String> {
        let mut seen = self.lock();
        seen.retain(|_, last| now.duration_since(*last) < EXPIRY);
        seen.keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A host name cut to what a log line wants: letters, digits, `-` and `.`, at most 40.
fn replica_label(name: &str) -> String {
    name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')).take(40).collect()
}

#[derive(Debug, Serialize, Deserialize)]
struct Presence {
    replica: String,
    state: PresenceState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PresenceState {
    Hello,
    Here,
    Gone,
}

/// "Stop sending to these addresses and tell me when your requests on them are done."
#[derive(Debug, Serialize, Deserialize)]
struct DrainRequest {
    id: String,
    from: String,
    addrs: Vec<SocketAddr>,
    deadline_ms: u64,
    /// Instances to take off the proxy before the drain (a rolling restart:
    /// the routes still list them), for at most `cordon_ms`.
    #[serde(default)]
    cordon: Vec<String>,
    #[serde(default)]
    cordon_ms: u64,
}

/// "These instances are back: route to them again."
#[derive(Debug, Serialize, Deserialize)]
struct Uncordon {
    from: String,
    instances: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DrainAck {
    id: String,
    replica: String,
    /// Whether no request was in flight on the addresses any more (false: the deadline passed).
    drained: bool,
}

/// How a drain went, on this replica and the others.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct DrainReport {
    /// This replica's proxy had nothing in flight on the old instances before the deadline.
    pub local: bool,
    /// Other replicas that answered drained.
    pub drained: Vec<String>,
    /// Other replicas that answered with requests still in flight at the deadline.
    pub busy: Vec<String>,
    /// Other replicas that did not answer in time (or went silent meanwhile).
    pub silent: Vec<String>,
}

impl Services {
    /// Says hello, keeps saying "here", answers other replicas' `hello`s and
    /// drain requests; says `gone` when `stopped` turns true.
    pub(crate) async fn peer_loop(&self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let Some(engine) = self.inner.deploy.get() else { return };
        let bus = self.bus();
        let mut presence = bus.subscribe(REPLICAS_TOPIC);
        let mut drains = bus.subscribe(DRAIN_TOPIC);
        let mut uncordons = bus.subscribe(UNCORDON_TOPIC);
        let announce = |state: PresenceState| {
            bus.publish(REPLICAS_TOPIC, json!(Presence { replica: engine.peers.me().to_owned(), state }));
        };
        announce(PresenceState::Hello);
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                _ = stopped.wait_for(|stopped| *stopped) => {
                    announce(PresenceState::Gone);
                    return;
                }
                _ = heartbeat.tick() => {
                    announce(PresenceState::Here);
                    metrics::gauge!(REPLICAS_SEEN).set(engine.peers.live(Instant::now()).len() as f64);
                }
                message = presence.recv() => match message {
                    // After a gap others may have missed us (and we them).
                    Ok(message) if is_look(&message.payload) => announce(PresenceState::Here),
                    Ok(message) => {
                        let Ok(peer) = serde_json::from_value::<Presence>(message.payload) else { continue };
                        if peer.replica == engine.peers.me() {
                            continue;
                        }
                        match peer.state {
                            PresenceState::Gone => engine.peers.gone(&peer.replica),
                            state => {
                                let new = engine.peers.saw(&peer.replica, Instant::now());
                                if new {
                                    tracing::info!(replica = %peer.replica, "deploy: another replica shares this database");
                                }
                                if state == PresenceState::Hello {
                                    announce(PresenceState::Here);
                                }
                            }
                        }
                    }
                    Err(Missed::Lagged(_)) => announce(PresenceState::Here),
                    Err(Missed::Closed) => return,
                },
                message = drains.recv() => match message {
                    Ok(message) => {
                        let Ok(request) = serde_json::from_value::<DrainRequest>(message.payload) else { continue };
                        if request.from == engine.peers.me() {
                            continue;
                        }
                        // The request is a sign of life too.
                        engine.peers.saw(&request.from, Instant::now());
                        let services = self.clone();
                        tokio::spawn(async move { services.answer_drain(request).await });
                    }
                    // A lost request costs the deploying replica its deadline, nothing more.
                    Err(Missed::Lagged(_)) => {}
                    Err(Missed::Closed) => return,
                },
                message = uncordons.recv() => match message {
                    Ok(message) => {
                        let Ok(uncordon) = serde_json::from_value::<Uncordon>(message.payload) else { continue };
                        if uncordon.from == engine.peers.me() {
                            continue;
                        }
                        engine.health.uncordon(&uncordon.instances);
                        let services = self.clone();
                        tokio::spawn(async move { services.rebuild_routes().await });
                    }
                    // A lost one costs the cordon's period, after which it lifts by itself.
                    Err(Missed::Lagged(_)) => {}
                    Err(Missed::Closed) => return,
                },
            }
        }
    }

    /// Another replica's drain: routes from the database (without the old
    /// instances), then wait for this proxy's requests on them, then answer.
    async fn answer_drain(&self, request: DrainRequest) {
        let Some(engine) = self.inner.deploy.get() else { return };
        if !request.cordon.is_empty() {
            engine.health.cordon(&request.cordon, Duration::from_millis(request.cordon_ms.min(MAX_DEADLINE_MS)));
        }
        self.rebuild_routes().await;
        let deadline = Duration::from_millis(request.deadline_ms.min(MAX_DEADLINE_MS));
        let drained = engine.routes.drain(&request.addrs, deadline).await;
        tracing::debug!(from = %request.from, drained, "deploy: answered a drain request");
        let ack = DrainAck { id: request.id, replica: engine.peers.me().to_owned(), drained };
        self.bus().publish(DRAIN_ACK_TOPIC, json!(ack));
    }

    /// Drains `addrs` on this replica's proxy and on every other replica
    /// this one knows, up to `deadline`.
    pub(crate) async fn drain_everywhere(
        &self,
        engine: &DeployEngine,
        addrs: &[SocketAddr],
        deadline: Duration,
    ) -> DrainReport {
        self.drain_on_every_proxy(engine, addrs, &[], Duration::ZERO, deadline).await
    }

    /// Takes `instances` off every replica's proxy (for at most `cordon_for`,
    /// or until [`Self::uncordon_everywhere`]), then drains `addrs`, their
    /// addresses, as [`Self::drain_everywhere`] does.
    pub(crate) async fn cordon_and_drain(
        &self,
        engine: &DeployEngine,
        instances: &[String],
        addrs: &[SocketAddr],
        cordon_for: Duration,
        deadline: Duration,
    ) -> DrainReport {
        engine.health.cordon(instances, cordon_for);
        self.rebuild_routes().await;
        self.drain_on_every_proxy(engine, addrs, instances, cordon_for, deadline).await
    }

    /// Puts cordoned `instances` back on every replica's proxy.
    pub(crate) async fn uncordon_everywhere(&self, engine: &DeployEngine, instances: &[String]) {
        engine.health.uncordon(instances);
        self.rebuild_routes().await;
        let uncordon = Uncordon { from: engine.peers.me().to_owned(), instances: instances.to_vec() };
        self.bus().publish(UNCORDON_TOPIC, json!(uncordon));
    }

    async fn drain_on_every_proxy(
        &self,
        engine: &DeployEngine,
        addrs: &[SocketAddr],
        cordon: &[String],
        cordon_for: Duration,
        deadline: Duration,
    ) -> DrainReport {
        let mut waiting = engine.peers.live(Instant::now());
        if waiting.is_empty() || addrs.is_empty() {
            let local = engine.routes.drain(addrs, deadline).await;
            return DrainReport { local, ..DrainReport::default() };
        }
        let bus = self.bus();
        // Subscribed before the request goes out, so no answer is missed.
        let mut acks = bus.subscribe(DRAIN_ACK_TOPIC);
        let id = crate::crypto::random_token(9).unwrap_or_else(|_| format!("{:?}", Instant::now()));
        let request = DrainRequest {
            id: id.clone(),
            from: engine.peers.me().to_owned(),
            addrs: addrs.to_vec(),
            deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            cordon: cordon.to_vec(),
            cordon_ms: u64::try_from(cordon_for.as_millis()).unwrap_or(u64::MAX),
        };
        bus.publish(DRAIN_TOPIC, json!(request));
        let remote = async {
            let mut report = DrainReport::default();
            let end = Instant::now() + deadline + ACK_GRACE;
            let mut recheck = tokio::time::interval(Duration::from_millis(500));
            while !waiting.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep_until(end) => break,
                    _ = recheck.tick() => {
                        // A replica that went silent (or said gone) is not waited for.
                        let now = Instant::now();
                        let (live, silent): (BTreeSet<String>, BTreeSet<String>) =
                            std::mem::take(&mut waiting).into_iter().partition(|peer| engine.peers.is_live(peer, now));
                        waiting = live;
                        report.silent.extend(silent);
                    }
                    message = acks.recv() => match message {
                        Ok(message) => {
                            let Ok(ack) = serde_json::from_value::<DrainAck>(message.payload) else { continue };
                            if ack.id != id || !waiting.remove(&ack.replica) {
                                continue;
                            }
                            if ack.drained { report.drained.push(ack.replica) } else { report.busy.push(ack.replica) }
                        }
                        Err(Missed::Lagged(_)) => {}
                        Err(Missed::Closed) => break,
                    },
                }
            }
            report.silent.extend(waiting);
            report
        };
        let (local, mut report) = tokio::join!(engine.routes.drain(addrs, deadline), remote);
        report.local = local;
        for (result, replicas) in [("drained", &report.drained), ("busy", &report.busy), ("silent", &report.silent)] {
            if !replicas.is_empty() {
                metrics::counter!(REMOTE_DRAINS, "result" => result).increment(replicas.len() as u64);
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_live_until_it_has_been_silent_for_the_expiry() {
        let peers = Peers::new();
        let start = Instant::now();
        assert!(peers.saw("b", start), "first sign of life");
        assert!(!peers.saw("b", start + HEARTBEAT), "known");
        assert!(peers.is_live("b", start + HEARTBEAT + EXPIRY - Duration::from_millis(1)));
        assert!(!peers.is_live("b", start + HEARTBEAT + EXPIRY));
        assert_eq!(peers.live(start + HEARTBEAT + EXPIRY), BTreeSet::new(), "expired replicas are forgotten");
        assert!(peers.saw("b", start + 3 * EXPIRY), "a replica back after silence is new again");
        peers.gone("b");
        assert!(!peers.is_live("b", start + 3 * EXPIRY), "gone is gone at once");
        assert!(!peers.me().is_empty());
        assert_ne!(Peers::new().me(), peers.me(), "every start is a new replica");
    }

    #[test]
    fn replica_ids_carry_a_clean_host_name() {
        assert_eq!(replica_label("dockyard-7d9f5c-x2x\n"), "dockyard-7d9f5c-x2x");
        assert_eq!(replica_label("we ird/$(host)"), "weirdhost");
        assert_eq!(replica_label(&"a".repeat(100)).len(), 40);
    }

    #[test]
    fn drain_messages_keep_their_wire_shape() {
        let request = DrainRequest {
            id: "d1".into(),
            from: "a".into(),
            addrs: vec!["172.18.0.5:8080".parse().expect("addr")],
            deadline_ms: 10_000,
            cordon: vec!["c1".into()],
            cordon_ms: 60_000,
        };
        let wire = json!(request);
        assert_eq!(
            wire,
            json!({ "id": "d1", "from": "a", "addrs": ["172.18.0.5:8080"], "deadline_ms": 10_000,
                "cordon": ["c1"], "cordon_ms": 60_000 })
        );
        let back: DrainRequest = serde_json::from_value(wire).expect("round trip");
        assert_eq!((back.addrs, back.cordon, back.cordon_ms), (request.addrs, request.cordon, 60_000));
        // From a replica that does not know cordons yet: a plain drain.
        let older: DrainRequest =
            serde_json::from_value(json!({ "id": "d2", "from": "b", "addrs": [], "deadline_ms": 5 }))
                .expect("older shape");
        assert!(older.cordon.is_empty() && older.cordon_ms == 0);
        let uncordon = json!(Uncordon { from: "a".into(), instances: vec!["c1".into()] });
        assert_eq!(uncordon, json!({ "from": "a", "instances": ["c1"] }));
        let presence = json!(Presence { replica: "a".into(), state: PresenceState::Hello });
        assert_eq!(presence, json!({ "replica": "a", "state": "hello" }));
    }
}
